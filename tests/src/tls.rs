//! A certificate authority made for one test: a CA and a leaf for `localhost` and
//! `127.0.0.1` signed by it, as PEM files, and the `[tls]` settings that serve them.

use std::path::PathBuf;

pub struct TestCa {
    dir: tempfile::TempDir,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
    pub ca_pem: String,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "AeThex test CA");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let ca = params.self_signed(&ca_key).expect("CA certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        let ca_pem = ca.pem();
        std::fs::write(dir.path().join("ca.pem"), &ca_pem).expect("write CA");
        let me = Self { dir, ca, ca_key, ca_pem };
        me.issue("cert.pem", "key.pem", &["localhost", "127.0.0.1"]);
        me
    }

    /// Writes a leaf for `names` (DNS names or IP addresses) signed by the CA.
    pub fn issue(&self, cert_file: &str, key_file: &str, names: &[&str]) {
        let params = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("leaf params");
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.ca, &self.ca_key).expect("leaf certificate");
        std::fs::write(self.path(key_file), key.serialize_pem()).expect("write key");
        std::fs::write(self.path(cert_file), cert.pem()).expect("write certificate");
    }

    /// Writes a self-signed certificate for `names` (no CA); returns its PEM.
    pub fn self_signed(&self, cert_file: &str, key_file: &str, names: &[&str]) -> String {
        let params = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("params");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed certificate");
        std::fs::write(self.path(key_file), key.serialize_pem()).expect("write key");
        std::fs::write(self.path(cert_file), cert.pem()).expect("write certificate");
        cert.pem()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `AETHEX_TLS__*`: serve the leaf, trust the CA for outbound calls.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AETHEX_TLS__CERT_FILE", self.path("cert.pem").display().to_string()),
            ("AETHEX_TLS__KEY_FILE", self.path("key.pem").display().to_string()),
            ("AETHEX_TLS__EXTRA_CA_FILE", self.path("ca.pem").display().to_string()),
        ]
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

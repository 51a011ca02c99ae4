//! TLS for every native server (rustls with ring): HTTPS and WSS on a server's listeners,
//! and the extra CA its outbound calls trust.
//!
//! - `[tls] cert_file` + `key_file` (PEM; the chain leaf first) turn a server's listeners
//!   to HTTPS/WSS. Without them a server speaks plain HTTP (the embedded default on
//!   127.0.0.1, or behind a proxy that terminates TLS).
//! - TLS 1.3 only, unless `min_version = "1.2"`.
//! - The files are checked every `reload_secs` (default 10; 0: never): a changed
//!   certificate is served to new connections without a restart. Files that do not load
//!   (half written, a key that does not match) leave the served certificate in place and
//!   log a warning.
//! - `extra_ca_file`: PEM CA certificates trusted, besides the web PKI's roots, by the
//!   server's outbound calls (edge → origin, relay → origin, origin → relays), all built
//!   from [`http_client`]. Verification is never switched off.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use axum::extract::ConnectInfo;
use axum::Router;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A TLS handshake not finished in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; connections past it are closed at once.
const MAX_HANDSHAKES: usize = 1024;

/// The `[tls]` section every native server has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain to serve, leaf first. With `key_file`: HTTPS/WSS only.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of the leaf certificate (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// `"1.3"` (default) or `"1.2"` (accept TLS 1.2 as well).
    pub min_version: String,
    /// Seconds between checks of the certificate files for a change (0: never).
    pub reload_secs: u64,
    /// PEM CA certificates this server's outbound calls trust besides the web PKI's roots.
    pub extra_ca_file: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self { cert_file: None, key_file: None, min_version: "1.3".into(), reload_secs: 10, extra_ca_file: None }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("tls: {0}")]
pub struct TlsError(String);

fn err(what: impl std::fmt::Display) -> TlsError {
    TlsError(what.to_string())
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The files' modification times and lengths: what a reload compares.
type Stamp = Option<(SystemTime, u64, SystemTime, u64)>;

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let c = std::fs::metadata(cert).ok()?;
    let k = std::fs::metadata(key).ok()?;
    Some((c.modified().ok()?, c.len(), k.modified().ok()?, k.len()))
}

/// Reads a certificate chain and its key, and checks that they belong together.
fn load_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let cert_pem = std::fs::read(cert).map_err(|e| err(format!("reading cert_file {}: {e}", cert.display())))?;
    let chain =
        CertificateDer::pem_slice_iter(&cert_pem).collect::<Result<Vec<_>, _>>().map_err(|e| err(format!("cert_file {}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(err(format!("cert_file {} holds no PEM certificate", cert.display())));
    }
    let key_pem = std::fs::read(key).map_err(|e| err(format!("reading key_file {}: {e}", key.display())))?;
    let der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| err(format!("key_file {}: {e}", key.display())))?;
    let signing = provider().key_provider.load_private_key(der).map_err(|e| err(format!("key_file {}: {e}", key.display())))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|e| err(format!("key_file {} does not match cert_file {}: {e}", key.display(), cert.display())))?;
    Ok(Arc::new(certified))
}

/// The served certificate, swapped when the files change.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

/// A server's TLS: its rustls configuration and the certificate files it watches.
pub struct ServerTls {
    acceptor: TlsAcceptor,
    current: Arc<Current>,
    cert_file: PathBuf,
    key_file: PathBuf,
    reload: Duration,
    stamp: Mutex<Stamp>,
}

impl ServerTls {
    /// `None` without `cert_file` and `key_file`; an error when only one is set, a file
    /// does not load, or `min_version` is not `1.2` or `1.3`.
    pub fn from_config(cfg: &TlsConfig) -> Result<Option<Arc<Self>>, TlsError> {
        let (cert_file, key_file) = match (&cfg.cert_file, &cfg.key_file) {
            (None, None) => return Ok(None),
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => return Err(err("cert_file and key_file go together")),
        };
        let versions: &[&'static rustls::SupportedProtocolVersion] = match cfg.min_version.as_str() {
            "1.3" => &[&rustls::version::TLS13],
            "1.2" => &[&rustls::version::TLS13, &rustls::version::TLS12],
            other => return Err(err(format!("min_version is \"1.3\" or \"1.2\", not {other:?}"))),
        };
        let stamp = stamp(&cert_file, &key_file);
        let current = Arc::new(Current(RwLock::new(load_key(&cert_file, &key_file)?)));
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(err)?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(Arc::new(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            current,
            cert_file,
            key_file,
            reload: Duration::from_secs(cfg.reload_secs),
            stamp: Mutex::new(stamp),
        })))
    }

    /// Loads the files again if they changed since the last load: `Ok(true)` when a new
    /// certificate is now served; an error (the old one stays) when they do not load.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = stamp(&self.cert_file, &self.key_file);
        let mut last = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
        if now == *last {
            return Ok(false);
        }
        // Tried once per change: a half-written pair is retried when it changes again.
        *last = now;
        let key = load_key(&self.cert_file, &self.key_file)?;
        *self.current.0.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(true)
    }

    /// Checks the files every `reload_secs` until the returned task is aborted.
    fn spawn_reloader(self: &Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        if self.reload.is_zero() {
            return None;
        }
        let tls = self.clone();
        Some(tokio::spawn(async move {
            let mut every = tokio::time::interval(tls.reload);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match tls.reload_if_changed() {
                    Ok(true) => tracing::info!(cert = %tls.cert_file.display(), "TLS certificate reloaded"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "TLS certificate files changed but do not load; still serving the previous certificate"),
                }
            }
        }))
    }
}

/// `https` with TLS, else `http` (for the URL a server prints).
pub fn scheme(tls: Option<&Arc<ServerTls>>) -> &'static str {
    if tls.is_some() {
        "https"
    } else {
        "http"
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits for open requests
/// (as `axum::serve` with graceful shutdown). Handlers see `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<ServerTls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let Some(tls) = tls else {
        return axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(shutdown).await;
    };
    let reloader = tls.spawn_reloader();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let (acceptor, router, builder, watcher) = (tls.acceptor.clone(), router.clone(), builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(peer = %addr, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            drop(permit);
            let service = tower::ServiceExt::map_request(router, move |mut req: axum::extract::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(addr));
                req
            });
            let conn =
                builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), hyper_util::service::TowerToHyperService::new(service));
            let _ = watcher.watch(conn.into_owned()).await;
        });
    }
    drop(listener);
    if let Some(r) = reloader {
        r.abort();
    }
    graceful.shutdown().await;
    Ok(())
}

/// The extra CA certificates of `cfg.extra_ca_file` (none without it).
pub fn extra_roots(cfg: &TlsConfig) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let Some(path) = &cfg.extra_ca_file else {
        return Ok(Vec::new());
    };
    let pem = std::fs::read(path).map_err(|e| err(format!("reading extra_ca_file {}: {e}", path.display())))?;
    let roots =
        CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| err(format!("extra_ca_file {}: {e}", path.display())))?;
    if roots.is_empty() {
        return Err(err(format!("extra_ca_file {} holds no PEM certificate", path.display())));
    }
    Ok(roots)
}

/// CA certificates every outbound call of this process trusts besides the web PKI's
/// roots: added by [`trust_extra_roots`] at start-up, read by [`http_client`].
static EXTRA_ROOTS: RwLock<Vec<CertificateDer<'static>>> = RwLock::new(Vec::new());

/// Adds `cfg.extra_ca_file`'s certificates to what this process's outbound calls trust
/// (a process runs origin, an edge and a relay with one `[tls]` section).
pub fn trust_extra_roots(cfg: &TlsConfig) -> Result<(), TlsError> {
    trust(extra_roots(cfg)?);
    Ok(())
}

/// Trusts the certificates `tls` serves now (its chain as given in `cert_file`), for a
/// process that calls its own listeners (`aethex serve` with its embedded edge and
/// relay): a self-signed certificate, or a chain that includes its CA, then verifies.
/// Call it before building clients with [`http_client`].
pub fn trust_own_certificate(tls: &ServerTls) {
    let chain = tls.current.0.read().unwrap_or_else(|e| e.into_inner()).cert.clone();
    trust(chain);
}

fn trust(roots: Vec<CertificateDer<'static>>) {
    let mut all = EXTRA_ROOTS.write().unwrap_or_else(|e| e.into_inner());
    for r in roots {
        if !all.contains(&r) {
            all.push(r);
        }
    }
}

/// An HTTP client builder that verifies certificates against the web PKI's roots and the
/// extra CAs this process trusts. Every outbound call of a server is built from it.
pub fn http_client() -> reqwest::ClientBuilder {
    let mut builder = reqwest::Client::builder();
    for der in EXTRA_ROOTS.read().unwrap_or_else(|e| e.into_inner()).iter() {
        // DER that parsed as a certificate at start-up.
        if let Ok(c) = reqwest::Certificate::from_der(der) {
            builder = builder.add_root_certificate(c);
        }
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ca {
        cert: rcgen::Certificate,
        key: rcgen::KeyPair,
    }

    fn ca() -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, "AeThex test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        Ca { cert: params.self_signed(&key).unwrap(), key }
    }

    /// A leaf for `names` signed by `ca`: (cert PEM, key PEM).
    fn leaf(ca: &Ca, names: &[&str], cn: &str) -> (String, String) {
        let mut params = rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca.cert, &ca.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p
    }

    /// A client trusting only `ca`, with the given protocol versions.
    fn client(ca: &Ca, versions: &[&'static rustls::SupportedProtocolVersion]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.cert.der().clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    async fn start(cfg: &TlsConfig) -> SocketAddr {
        let tls = ServerTls::from_config(cfg).unwrap().expect("TLS on");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router =
            Router::new().route("/who", axum::routing::get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }));
        tokio::spawn(serve(listener, router, Some(tls), std::future::pending()));
        addr
    }

    /// The common name of the certificate a handshake with `addr` as `name` presents.
    async fn served_cn(connector: &tokio_rustls::TlsConnector, addr: SocketAddr, name: &str) -> Result<String, std::io::Error> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let stream = connector.connect(rustls_pki_types::ServerName::try_from(name.to_string()).unwrap(), tcp).await?;
        let der = stream.get_ref().1.peer_certificates().unwrap()[0].clone();
        let text = String::from_utf8_lossy(&der).to_string();
        Ok(["first", "second"].iter().find(|cn| text.contains(*cn)).map(|s| s.to_string()).unwrap_or_default())
    }

    #[tokio::test]
    async fn https_with_a_private_ca_tls13_only_host_names_checked_and_reload() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca();
        let (cert, key) = leaf(&ca, &["localhost", "127.0.0.1"], "first");
        let cfg = TlsConfig {
            cert_file: Some(write(dir.path(), "cert.pem", &cert)),
            key_file: Some(write(dir.path(), "key.pem", &key)),
            reload_secs: 1,
            extra_ca_file: Some(write(dir.path(), "ca.pem", &ca.cert.pem())),
            ..TlsConfig::default()
        };
        let addr = start(&cfg).await;

        // reqwest trusting the extra CA: HTTPS works and the handler sees the peer.
        trust_extra_roots(&cfg).unwrap();
        let http = http_client().build().unwrap();
        let body = http.get(format!("https://localhost:{}/who", addr.port())).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "127.0.0.1");
        // Without it: refused (the web PKI does not know this CA).
        let plain = reqwest::Client::new().get(format!("https://localhost:{}/who", addr.port())).send().await;
        assert!(plain.is_err(), "an unknown CA is refused");
        // Plain HTTP on the TLS port gets nothing.
        assert!(reqwest::get(format!("http://127.0.0.1:{}/who", addr.port())).await.is_err());

        let tls13 = client(&ca, &[&rustls::version::TLS13]);
        let tls12 = client(&ca, &[&rustls::version::TLS12]);
        assert_eq!(served_cn(&tls13, addr, "localhost").await.unwrap(), "first");
        assert!(served_cn(&tls12, addr, "localhost").await.is_err(), "TLS 1.2 is refused by default");
        let wrong = served_cn(&tls13, addr, "other.example").await;
        assert!(wrong.is_err(), "a certificate for another host name is refused");

        // TLS 1.2 by the setting.
        let cfg12 = TlsConfig { min_version: "1.2".into(), reload_secs: 0, ..cfg.clone() };
        let addr12 = start(&cfg12).await;
        assert_eq!(served_cn(&tls12, addr12, "localhost").await.unwrap(), "first");

        // A new certificate is served without a restart; a broken pair is not.
        write(dir.path(), "cert.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(served_cn(&tls13, addr, "localhost").await.unwrap(), "first", "a broken file leaves the old certificate");
        let (cert2, key2) = leaf(&ca, &["localhost"], "second");
        write(dir.path(), "key.pem", &key2);
        write(dir.path(), "cert.pem", &cert2);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if served_cn(&tls13, addr, "localhost").await.unwrap() == "second" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the new certificate was never served");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let ca = ca();
        let (cert, key) = leaf(&ca, &["localhost"], "first");
        let (_, other_key) = leaf(&ca, &["localhost"], "first");
        let c = write(dir.path(), "c.pem", &cert);
        let k = write(dir.path(), "k.pem", &key);
        let o = write(dir.path(), "o.pem", &other_key);
        let e = write(dir.path(), "e.pem", "");
        let msg = |cfg: TlsConfig| ServerTls::from_config(&cfg).err().map(|e| e.to_string()).unwrap_or_default();
        let base = TlsConfig { cert_file: Some(c.clone()), key_file: Some(k.clone()), ..TlsConfig::default() };
        assert!(ServerTls::from_config(&base).unwrap().is_some());
        assert!(ServerTls::from_config(&TlsConfig::default()).unwrap().is_none());
        assert!(msg(TlsConfig { key_file: None, ..base.clone() }).contains("go together"));
        assert!(msg(TlsConfig { min_version: "1.1".into(), ..base.clone() }).contains("min_version"));
        assert!(msg(TlsConfig { key_file: Some(o), ..base.clone() }).contains("does not match"));
        assert!(msg(TlsConfig { cert_file: Some(e.clone()), ..base.clone() }).contains("no PEM certificate"));
        assert!(msg(TlsConfig { key_file: Some(dir.path().join("missing")), ..base.clone() }).contains("reading key_file"));
        assert!(extra_roots(&TlsConfig { extra_ca_file: Some(e), ..TlsConfig::default() }).is_err());
        assert!(extra_roots(&TlsConfig::default()).unwrap().is_empty());
    }
}

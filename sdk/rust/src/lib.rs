//! Rust client for AeThex Cloud, with the seed's API:
//!
//! ```no_run
//! # async fn demo() -> Result<(), aethex_sdk::SdkError> {
//! use aethex_sdk::AeThexCloud;
//! let cloud = AeThexCloud::new("http://127.0.0.1:8080").with_client_key("aethex_ck_…");
//! let result = cloud.auth().login_email("user@example.com", "password").await?;
//! println!("Logged in as: {}", result.user.username);
//! cloud.saves().save("slot1", serde_json::json!({"level": 5, "health": 100})).await?;
//! let loaded = cloud.saves().load("slot1").await?;
//! for save in cloud.saves().list().await? {
//!     println!("{} {} {}", save.name, save.timestamp(), save.size);
//! }
//! # Ok(()) }
//! ```
//!
//! The client remembers the session, refreshes the access token before it expires, and
//! remembers the version of every slot it saved or loaded, sending it as `base_version`
//! so a save never silently overwrites a newer one from another device.

pub mod analytics;
pub mod auth;
pub mod cdn;
pub mod friends;
pub mod leaderboards;
pub mod logic;
pub mod multiplayer;
pub mod saves;
pub mod social;
pub mod voice;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use aethex_protocol::auth::{LoginResponse, Profile};
use aethex_protocol::rpc::{ErrorCode, RpcError, RpcRequest, RpcResponse};

pub use aethex_protocol as protocol;
pub use auth::Auth;
pub use cdn::Cdn;
pub use leaderboards::Leaderboards;
pub use logic::Logic;
pub use multiplayer::{Matchmaking, Multiplayer, RoomSession};
pub use saves::Saves;

#[derive(Debug, thiserror::Error)]
pub enum SdkError {
    /// The server answered with the seed's error object.
    #[error("HTTP {status}: {error}")]
    Api { status: u16, error: RpcError },
    #[error("transport: {0}")]
    Http(#[from] reqwest::Error),
    #[error("not logged in")]
    NotLoggedIn,
    #[error("unexpected answer: {0}")]
    Decode(String),
    /// A DLC download failed (verification, disk, network after retries).
    #[error("DLC: {0}")]
    Cdn(#[from] aethex_cdn::Error),
}

impl SdkError {
    /// The server's error object, if the server answered with one.
    pub fn api(&self) -> Option<&RpcError> {
        match self {
            SdkError::Api { error, .. } => Some(error),
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            SdkError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn code(&self) -> Option<ErrorCode> {
        self.api().map(|e| e.code)
    }
}

pub type SdkResult<T> = Result<T, SdkError>;

#[derive(Debug, Clone)]
struct Session {
    user_id: String,
    token: String,
    refresh_token: String,
    refresh_at: Instant,
    user: Profile,
}

#[derive(Default)]
struct State {
    session: Option<Session>,
    /// Last version seen per slot, sent as `base_version`.
    slot_versions: HashMap<String, i64>,
    /// Newest replication position of this client's writes, sent with every request so
    /// an edge answers from its replica only once the replica has those writes.
    position: i64,
    /// Analytics events not yet sent.
    analytics_queue: std::collections::VecDeque<aethex_protocol::analytics::Event>,
}

/// The client. Cheap to clone; clones share the session.
#[derive(Clone)]
pub struct AeThexCloud {
    http: reqwest::Client,
    /// Extra CA certificates trusted besides the web PKI's (`with_extra_ca_pem`).
    extra_ca: Arc<Vec<rustls_pki_types::CertificateDer<'static>>>,
    /// TLS for relay WebSockets (`wss://`) when extra CAs are trusted.
    ws_tls: Option<Arc<rustls::ClientConfig>>,
    base: String,
    client_key: Option<String>,
    state: Arc<Mutex<State>>,
}

impl AeThexCloud {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            http: Self::http_client(&[]).expect("reqwest client builds with static settings"),
            extra_ca: Arc::default(),
            ws_tls: None,
            base: base_url.into().trim_end_matches('/').to_string(),
            client_key: None,
            state: Default::default(),
        }
    }

    fn http_client(extra: &[rustls_pki_types::CertificateDer<'static>]) -> SdkResult<reqwest::Client> {
        let mut builder =
            reqwest::Client::builder().timeout(Duration::from_secs(60)).user_agent(concat!("aethex-sdk-rust/", env!("CARGO_PKG_VERSION")));
        for der in extra {
            builder = builder.add_root_certificate(reqwest::Certificate::from_der(der)?);
        }
        Ok(builder.build()?)
    }

    /// Trusts the CA certificates in `pem` besides the web PKI's roots, for every HTTPS
    /// call, DLC download and relay WebSocket (`wss://`) of this client: a studio's own CA
    /// in front of a self-hosted cluster. Certificates are always verified; there is no
    /// switch to stop it.
    pub fn with_extra_ca_pem(mut self, pem: &[u8]) -> SdkResult<Self> {
        use rustls_pki_types::pem::PemObject;
        let ders = rustls_pki_types::CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SdkError::Decode(format!("extra CA PEM: {e}")))?;
        if ders.is_empty() {
            return Err(SdkError::Decode("extra CA PEM holds no certificate".into()));
        }
        let mut extra = self.extra_ca.as_ref().clone();
        extra.extend(ders);
        let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        for d in &extra {
            roots.add(d.clone()).map_err(|e| SdkError::Decode(format!("extra CA certificate: {e}")))?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| SdkError::Decode(format!("TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        self.http = Self::http_client(&extra)?;
        self.extra_ca = Arc::new(extra);
        self.ws_tls = Some(Arc::new(config));
        Ok(self)
    }

    /// A client for DLC downloads (no overall timeout) trusting the same CAs.
    pub(crate) fn cdn_client(&self) -> SdkResult<reqwest::Client> {
        let extra = self.extra_ca.iter().map(|d| reqwest::Certificate::from_der(d)).collect::<Result<Vec<_>, _>>()?;
        Ok(aethex_cdn::trusting_client(&extra)?)
    }

    /// The relay WebSocket's TLS settings (`None`: tokio-tungstenite's, the web PKI).
    pub(crate) fn ws_connector(&self) -> Option<tokio_tungstenite::Connector> {
        self.ws_tls.clone().map(tokio_tungstenite::Connector::Rustls)
    }

    /// The game's public client key (from the console); logins are then for that game.
    pub fn with_client_key(mut self, key: impl Into<String>) -> Self {
        self.client_key = Some(key.into());
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn auth(&self) -> Auth<'_> {
        Auth { cloud: self }
    }

    pub fn saves(&self) -> Saves<'_> {
        Saves { cloud: self }
    }

    pub fn cdn(&self) -> Cdn<'_> {
        Cdn { cloud: self }
    }

    pub fn multiplayer(&self) -> Multiplayer<'_> {
        Multiplayer { cloud: self }
    }

    /// The seed's `analytics`: events queued here, sent in batches by `flush`.
    pub fn analytics(&self) -> analytics::Analytics<'_> {
        analytics::Analytics { cloud: self }
    }

    /// The seed's `social`: leaderboards, achievements, statistics.
    pub fn social(&self) -> social::Social<'_> {
        social::Social { cloud: self }
    }

    pub fn leaderboards(&self) -> Leaderboards<'_> {
        Leaderboards { cloud: self }
    }

    /// The game's own server code: custom RPCs, and deploying it.
    pub fn logic(&self) -> Logic<'_> {
        Logic { cloud: self }
    }

    /// Newest replication position seen in an answer (0 before any write).
    pub fn position(&self) -> i64 {
        self.lock().position
    }

    fn note_position(&self, headers: &reqwest::header::HeaderMap) {
        if let Some(p) = headers.get(aethex_protocol::headers::POSITION).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i64>().ok()) {
            let mut st = self.lock();
            st.position = st.position.max(p);
        }
    }

    fn with_position(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.position() {
            0 => req,
            p => req.header(aethex_protocol::headers::POSITION, p.to_string()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current access token, if logged in.
    pub fn token(&self) -> Option<String> {
        self.lock().session.as_ref().map(|s| s.token.clone())
    }

    pub fn refresh_token(&self) -> Option<String> {
        self.lock().session.as_ref().map(|s| s.refresh_token.clone())
    }

    pub fn user_id(&self) -> Option<String> {
        self.lock().session.as_ref().map(|s| s.user_id.clone())
    }

    fn set_session(&self, r: &LoginResponse) {
        // Refresh a minute early (or halfway, for very short tokens).
        let lead = (r.expires_in / 2).min(60);
        let mut st = self.lock();
        st.session = Some(Session {
            user_id: r.user_id.clone(),
            token: r.token.clone(),
            refresh_token: r.refresh_token.clone(),
            refresh_at: Instant::now() + Duration::from_secs(r.expires_in.saturating_sub(lead)),
            user: r.user.clone(),
        });
    }

    fn clear_session(&self) {
        let mut st = self.lock();
        st.session = None;
        st.slot_versions.clear();
    }

    fn set_user(&self, p: &Profile) {
        if let Some(s) = self.lock().session.as_mut() {
            s.user = p.clone();
        }
    }

    fn current_user(&self) -> Option<Profile> {
        self.lock().session.as_ref().map(|s| s.user.clone())
    }

    fn slot_version(&self, slot: &str) -> Option<i64> {
        self.lock().slot_versions.get(slot).copied()
    }

    fn remember_version(&self, slot: &str, version: i64) {
        self.lock().slot_versions.insert(slot.to_string(), version);
    }

    fn forget_slot(&self, slot: &str) {
        self.lock().slot_versions.remove(slot);
    }

    /// A bearer token, refreshed first if it is about to expire.
    async fn bearer(&self) -> SdkResult<String> {
        let (token, needs_refresh) = {
            let st = self.lock();
            let s = st.session.as_ref().ok_or(SdkError::NotLoggedIn)?;
            (s.token.clone(), Instant::now() >= s.refresh_at)
        };
        if needs_refresh {
            let r = Box::pin(self.auth().refresh()).await?;
            return Ok(r.token);
        }
        Ok(token)
    }

    /// Sends a request and decodes the JSON answer or the seed's error object.
    pub async fn request<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        authed: bool,
    ) -> SdkResult<T> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(k) = &self.client_key {
            req = req.header(aethex_protocol::headers::CLIENT_KEY, k);
        }
        if authed {
            req = req.bearer_auth(self.bearer().await?);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = self.with_position(req).send().await?;
        self.note_position(resp.headers());
        decode(resp).await
    }

    /// Sends raw bytes (signed in) and decodes the JSON answer or the seed's error object.
    pub async fn request_bytes<T: DeserializeOwned>(&self, method: Method, path: &str, body: Vec<u8>, content_type: &str) -> SdkResult<T> {
        let mut req = self.http.request(method, format!("{}{}", self.base, path)).bearer_auth(self.bearer().await?);
        req = req.header(reqwest::header::CONTENT_TYPE, content_type).body(body);
        let resp = self.with_position(req).send().await?;
        self.note_position(resp.headers());
        decode(resp).await
    }

    /// Calls a JSON-RPC method at `/api/v1/rpc`.
    pub async fn rpc<T: DeserializeOwned>(&self, method: &str, params: Value) -> SdkResult<T> {
        let call = RpcRequest::new(Value::String(format!("sdk-{}", method)), method, params);
        let mut req = self.http.post(format!("{}/api/v1/rpc", self.base)).json(&call);
        if let Some(k) = &self.client_key {
            req = req.header(aethex_protocol::headers::CLIENT_KEY, k);
        }
        if self.lock().session.is_some() {
            req = req.bearer_auth(self.bearer().await?);
        }
        let resp = self.with_position(req).send().await?;
        self.note_position(resp.headers());
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let envelope: RpcResponse<T> = serde_json::from_str(&text).map_err(|e| SdkError::Decode(format!("{e}: {}", truncate(&text))))?;
        envelope.into_result().map_err(|error| SdkError::Api { status, error })
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}

async fn decode<T: DeserializeOwned>(resp: reqwest::Response) -> SdkResult<T> {
    let status = resp.status();
    let text = resp.text().await?;
    if status.is_success() {
        // `204 No Content` decodes as JSON `null` (an `Option` or `()` answer).
        let body = if text.trim().is_empty() { "null" } else { text.as_str() };
        return serde_json::from_str(body).map_err(|e| SdkError::Decode(format!("{e}: {}", truncate(&text))));
    }
    let envelope: RpcResponse<Value> =
        serde_json::from_str(&text).map_err(|_| SdkError::Decode(format!("HTTP {status} without an error object: {}", truncate(&text))))?;
    let error = envelope.error.unwrap_or_else(|| RpcError::new(ErrorCode::INTERNAL, format!("HTTP {status} without an error object")));
    Err(SdkError::Api { status: status.as_u16(), error })
}

/// True for HTTP 409 (save conflicts).
pub fn is_conflict(e: &SdkError) -> bool {
    e.status() == Some(StatusCode::CONFLICT.as_u16())
}

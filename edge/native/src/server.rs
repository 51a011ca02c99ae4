//! The native edge node: the edge core behind axum, the replica file kept current by the
//! replicator, the Hrana endpoint for wasm edges, and `/metrics`.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use aethex_edge::hrana::PipelineRequest;
use aethex_edge::{Edge, Headers, Request as CoreRequest};
use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::config::NodeConfig;
use crate::platform::NativePlatform;
use crate::replica::LibsqlReplica;
use crate::replicator::{ReplicationStatus, Replicator};
use crate::store::{ReplicaStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("node.origin_url is required")]
    NoOrigin,
    #[error("node.edge_key is required (one of origin's edge keys)")]
    NoKey,
    #[error("binding {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("opening the replica: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] aethex_runtime::tls::TlsError),
}

pub struct NodeState {
    pub edge: Edge<NativePlatform>,
    pub replica: LibsqlReplica,
    hrana: Vec<libsql::Connection>,
    hrana_next: std::sync::atomic::AtomicUsize,
    hrana_keys: Vec<String>,
    pub status: Arc<ReplicationStatus>,
    max_body: usize,
    /// Lower-cased `node.client_ip_header`; empty: the peer address.
    client_ip_header: String,
}

pub struct EdgeNode {
    listener: TcpListener,
    tls: Option<Arc<aethex_runtime::tls::ServerTls>>,
    router: Router,
    replicator: Replicator,
    state: Arc<NodeState>,
}

impl EdgeNode {
    /// Opens the replica, binds the listener and assembles the node (nothing runs yet).
    pub async fn build(cfg: &NodeConfig) -> Result<Self, NodeError> {
        let s = &cfg.node;
        if s.origin_url.trim().is_empty() {
            return Err(NodeError::NoOrigin);
        }
        if s.edge_key.trim().is_empty() {
            return Err(NodeError::NoKey);
        }
        let tls = aethex_runtime::tls::ServerTls::from_config(&cfg.tls)?;
        aethex_runtime::tls::trust_extra_roots(&cfg.tls)?;
        let store = Arc::new(
            ReplicaStore::open_with(&s.data_dir.join("replica.db"), cfg.replication.board_index.then_some(cfg.replication.board_index_max_entries))
                .await?,
        );
        let replicator = Replicator::new(store.clone(), &s.origin_url, &s.edge_key, cfg.replication.pull());
        let mut hrana_keys = vec![s.edge_key.clone()];
        hrana_keys.extend(s.hrana_keys.iter().filter(|k| !k.is_empty()).cloned());
        let state = Arc::new(NodeState {
            edge: Edge::new(NativePlatform::new(), s.core()),
            replica: LibsqlReplica::new(store.readers()).with_boards(store.boards()),
            hrana: store.readers(),
            hrana_next: std::sync::atomic::AtomicUsize::new(0),
            hrana_keys,
            status: replicator.status.clone(),
            max_body: s.max_body_bytes,
            client_ip_header: s.client_ip_header.trim().to_ascii_lowercase(),
        });
        let listener = TcpListener::bind(s.listen).await.map_err(|source| NodeError::Bind { addr: s.listen, source })?;
        let router = router(state.clone());
        Ok(Self { listener, tls, router, replicator, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    /// `http(s)://` + the bound address.
    pub fn url(&self) -> String {
        format!("{}://{}", aethex_runtime::tls::scheme(self.tls.as_ref()), self.local_addr())
    }

    pub fn state(&self) -> Arc<NodeState> {
        self.state.clone()
    }

    /// Serves (and replicates) until `shutdown` resolves.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let pull = tokio::spawn(self.replicator.run());
        let served = aethex_runtime::tls::serve(self.listener, self.router, self.tls, shutdown).await;
        pull.abort();
        served
    }
}

fn router(state: Arc<NodeState>) -> Router {
    Router::new()
        .route("/v3", get(|| async { StatusCode::OK }))
        .route("/v3/pipeline", post(hrana_pipeline).layer(DefaultBodyLimit::max(crate::hrana_server::MAX_BODY_BYTES)))
        .route("/metrics", get(metrics))
        .fallback(edge_request)
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Equality that takes the same time wherever the strings differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hrana_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn hrana_pipeline(State(st): State<Arc<NodeState>>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .unwrap_or("");
    if token.is_empty() || !st.hrana_keys.iter().any(|k| same_secret(k, token)) {
        return hrana_error(StatusCode::UNAUTHORIZED, "a valid edge key is needed (Authorization: Bearer <key>)");
    }
    let req: PipelineRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return hrana_error(StatusCode::BAD_REQUEST, &format!("not a Hrana v3 pipeline request: {e}")),
    };
    let conn = &st.hrana[st.hrana_next.fetch_add(1, Ordering::Relaxed) % st.hrana.len()];
    match crate::hrana_server::run_pipeline(conn, req).await {
        Ok(resp) => Json(resp).into_response(),
        Err(e) => hrana_error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn metrics(State(st): State<Arc<NodeState>>) -> Response {
    let s = &st.status;
    let e = &st.edge.stats;
    let mut out = String::new();
    let mut line = |name: &str, kind: &str, help: &str, v: f64| {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"));
    };
    line("aethex_edge_replication_position", "gauge", "Replication position applied to the replica.", s.position.load(Ordering::Relaxed) as f64);
    line("aethex_edge_replication_head", "gauge", "Origin's newest position at the last pull.", s.head.load(Ordering::Relaxed) as f64);
    line("aethex_edge_replication_lag_positions", "gauge", "Changes written at origin and not applied here yet.", s.lag() as f64);
    let last = s.last_contact_ms.load(Ordering::Relaxed);
    let age = if last == 0 { -1.0 } else { (st.edge_now_ms().saturating_sub(last)) as f64 / 1000.0 };
    line("aethex_edge_replication_last_contact_age_seconds", "gauge", "Seconds since the last successful pull (-1: never).", age);
    line("aethex_edge_replication_applied_total", "counter", "Changes applied by pulls.", s.applied_total.load(Ordering::Relaxed) as f64);
    line("aethex_edge_replication_bootstraps_total", "counter", "Snapshots applied.", s.bootstraps.load(Ordering::Relaxed) as f64);
    line("aethex_edge_replication_errors_total", "counter", "Failed pulls.", s.errors.load(Ordering::Relaxed) as f64);
    line("aethex_edge_served_total", "counter", "Requests answered from the replica.", e.served.load(Ordering::Relaxed) as f64);
    line("aethex_edge_forwarded_total", "counter", "Requests forwarded to origin.", e.forwarded.load(Ordering::Relaxed) as f64);
    line("aethex_edge_cache_hits_total", "counter", "Answers served from the edge cache.", e.cache_hits.load(Ordering::Relaxed) as f64);
    line(
        "aethex_edge_behind_total",
        "counter",
        "Reads forwarded because the replica was behind the client's position.",
        e.behind.load(Ordering::Relaxed) as f64,
    );
    line("aethex_edge_rejected_tokens_total", "counter", "Requests refused for a bad token.", e.rejected_tokens.load(Ordering::Relaxed) as f64);
    line("aethex_edge_replica_errors_total", "counter", "Replica reads that failed.", e.replica_errors.load(Ordering::Relaxed) as f64);
    if let Some(b) = st.replica.boards() {
        let b = b.stats();
        line(
            "aethex_edge_board_index_valid",
            "gauge",
            "1 while around-me reads are answered from the leaderboards in memory.",
            f64::from(u8::from(b.valid)),
        );
        line("aethex_edge_board_index_entries", "gauge", "Leaderboard entries kept in memory.", b.entries as f64);
        line("aethex_edge_board_index_bytes", "gauge", "Bytes those entries take (estimated; the allocator adds its own).", b.bytes as f64);
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

impl NodeState {
    fn edge_now_ms(&self) -> u64 {
        use aethex_edge::Platform as _;
        self.edge.platform.now_ms()
    }
}

/// Every other request goes through the edge core.
async fn edge_request(State(st): State<Arc<NodeState>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = match to_bytes(body, st.max_body).await {
        Ok(b) => b,
        Err(_) => {
            return to_axum(aethex_edge::Response::error(aethex_edge::body::too_large(st.max_body), None));
        }
    };
    let headers: Headers = parts.headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_string(), v.to_string()))).collect();
    let core = CoreRequest {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body: body.to_vec(),
        client_ip: Some(client_ip(&parts.headers, &st.client_ip_header, peer.ip()).to_string()),
    };
    to_axum(st.edge.handle(&st.replica, core).await)
}

/// The client's address: from the trusted proxy's header when one is configured (the last
/// `x-forwarded-for` entry is the one the proxy appended; earlier ones are the client's
/// own claims), else, or when the header is missing or malformed, the peer address.
fn client_ip(headers: &axum::http::HeaderMap, header: &str, peer: std::net::IpAddr) -> std::net::IpAddr {
    if header.is_empty() {
        return peer;
    }
    headers
        .get_all(header)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|ip| ip.trim().parse().ok())
        .unwrap_or(peer)
}

fn to_axum(r: aethex_edge::Response) -> Response {
    let mut resp = Response::new(Body::from(r.body));
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (k, v) in r.headers.iter() {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            resp.headers_mut().append(name, value);
        }
    }
    resp
}

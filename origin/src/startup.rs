//! Building and running the server: `Application::build` opens storage, loads keys,
//! binds the listener (port 0 = any free port, for tests) and assembles the router.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, Method};
use axum::routing::{get, post};
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::email::{Mailer, OutboxMailer, SmtpMailer};
use crate::auth::ratelimit::RateLimits;
use crate::config::Config;
use crate::crypto::{Passwords, SaveCipher, TokenKeys};
use crate::db::Db;
use crate::http::{middleware, ops};
use crate::saves::routes::save_body_limit;
use crate::state::{App, AppState};

pub struct Application {
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    router: Router,
    state: AppState,
    tls: Option<Arc<aethex_runtime::tls::ServerTls>>,
}

/// The process-wide Prometheus recorder (metrics macros need a global one).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (embedding); then ours only renders nothing.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        use anyhow::Context;
        let data_dir = config.storage.data_dir.clone();
        std::fs::create_dir_all(&data_dir).with_context(|| format!("creating data folder {}", data_dir.display()))?;
        let db = Db::open(&config.storage, &config.database_path()).await.context("opening the database")?;
        let keys_dir = data_dir.join("keys");
        let tokens = TokenKeys::load(&keys_dir.join("jwt-signing.json"), &config.auth.issuer, config.auth.access_token_ttl_secs)?;
        tracing::info!(kid = tokens.active_kid(), keys = tokens.jwks().keys.len(), "access tokens signed with Ed25519");
        let save_keys = keys_dir.join("save-encryption.json");
        if !save_keys.exists() {
            // A new key cannot open saves sealed with the old one: refuse rather than
            // start and answer 500 on every load (a wrong data_dir, a lost key file).
            let rows = db.reader().await.query("SELECT COUNT(*) FROM cloud_saves", ()).await?;
            let sealed: i64 = crate::db::first_row(rows).await?.map(|r| r.get(0)).transpose()?.unwrap_or(0);
            anyhow::ensure!(
                sealed == 0,
                "{} is missing but the database holds {sealed} saves sealed with its keys; restore the key file (see docs/operations.md)",
                save_keys.display()
            );
        }
        let save_cipher = SaveCipher::load(&save_keys)?;
        let peers =
            crate::peer_keys::PeerKeys::load(&config.edge.keys, &config.multiplayer.relay_keys, &keys_dir).context("loading edge and relay keys")?;
        let replication_epoch = if db.is_remote() {
            crate::replication::store::epoch(&*db.reader().await).await.context("reading the replication epoch")?
        } else {
            crate::replication::witness::keep(&db, &data_dir).await.context("checking the replication witness")?
        };
        let analytics = crate::analytics::store::AnalyticsDb::open(&config.storage).await.context("opening the analytics database")?;
        let read_model = db.read_model(&config.storage).await.context("read-model connections")?;
        let a = &config.auth;
        let passwords =
            Passwords::new(a.argon2_memory_kib, a.argon2_iterations, a.argon2_parallelism).map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let mailer: Box<dyn Mailer> = if config.email.smtp_url.is_empty() {
            Box::new(OutboxMailer { dir: data_dir.join("outbox"), from: config.email.from.clone() })
        } else {
            Box::new(SmtpMailer::new(config.email.smtp_url.expose(), &config.email.from).map_err(|e| anyhow::anyhow!("email.smtp_url: {e}"))?)
        };
        let blobs = crate::blobs::Blobs::open(&config.storage).await.context("opening the blob store")?;
        tracing::info!(store = %blobs.describe(), "DLC chunks kept in the blob store");
        let listener = TcpListener::bind(config.server.listen).await.with_context(|| format!("binding {}", config.server.listen))?;
        let bound = listener.local_addr()?;
        let metrics_listener = match config.server.metrics_listen.trim() {
            "" => None,
            addr => Some(TcpListener::bind(addr).await.with_context(|| format!("binding server.metrics_listen {addr}"))?),
        };
        let tls = aethex_runtime::tls::ServerTls::from_config(&config.tls)?;
        aethex_runtime::tls::trust_extra_roots(&config.tls)?;
        // The process calls itself (origin -> its embedded relay, the embedded edge and
        // relay -> origin): a self-signed certificate, or a chain that includes its CA,
        // is trusted for that before any client is built.
        if let Some(t) = &tls {
            aethex_runtime::tls::trust_own_certificate(t);
        }
        let http = aethex_runtime::tls::http_client()
            .user_agent(concat!("aethex-origin/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(15))
            .build()?;
        let redis = match config.cluster.redis_url.expose() {
            "" => None,
            url => {
                let redis = crate::cluster::Redis::connect(url).await.context("connecting to cluster.redis_url")?;
                tracing::info!("cluster coordination through Redis");
                Some(redis)
            }
        };
        let limits = match &redis {
            None => RateLimits::new(a.rate_limit_per_ip_per_minute, a.rate_limit_per_account_per_minute),
            Some(r) => RateLimits::shared(a.rate_limit_per_ip_per_minute, a.rate_limit_per_account_per_minute, r.clone()),
        };
        let app = App {
            public_url: config.public_url(bound, aethex_runtime::tls::scheme(tls.as_ref())),
            limits: Arc::new(limits),
            db,
            tokens,
            passwords,
            save_cipher,
            mailer,
            http,
            metrics: metrics_handle(),
            game_keys: crate::teams::keycache::GameKeyCache::new(redis.clone()),
            logic: crate::logic::registry::Registry::new(&config.logic, redis.clone()).context("starting the game logic engine")?,
            peers,
            replication_epoch,
            read_model,
            blobs,
            chunk_gc: crate::cluster::RwLock::new("dlc-gc", redis.clone()),
            matchmaking: Default::default(),
            matchmaking_cluster: match &redis {
                None => None,
                Some(r) => Some(crate::matchmaking::cluster::Leadership::new(r.clone(), &advertise_url(&config.cluster, bound)?)),
            },
            analytics,
            config,
        };
        let state = AppState(Arc::new(app));
        crate::auth::ratelimit::spawn_sweeper(Arc::downgrade(&state.limits));
        if let Some(redis) = &redis {
            spawn_cluster_messages(&state, redis);
        }
        // Histograms keep their samples until upkeep folds them into summaries; without a
        // scrape they would grow for as long as the server runs.
        let handle = state.metrics.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
        crate::replication::service::reconcile_games(&state).await.context("replicating game quotas")?;
        crate::replication::service::spawn_pruner(
            Arc::downgrade(&state.0),
            std::time::Duration::from_secs(state.config.edge.outbox_retention_secs.max(1)),
        );
        crate::dlc::service::spawn_collector(
            Arc::downgrade(&state.0),
            std::time::Duration::from_secs(state.config.dlc.gc_interval_secs),
            std::time::Duration::from_secs(state.config.dlc.chunk_grace_secs),
        );
        crate::leaderboards::service::spawn_resetter(
            Arc::downgrade(&state.0),
            std::time::Duration::from_millis(state.config.leaderboards.reset_check_ms.max(10)),
        );
        crate::matchmaking::service::spawn_leadership(Arc::downgrade(&state.0));
        crate::matchmaking::service::spawn_matcher(Arc::downgrade(&state.0), std::time::Duration::from_millis(state.config.matchmaking.interval_ms));
        let router = build_router(state.clone());
        Ok(Self { listener, metrics_listener, router, state, tls })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    pub fn url(&self) -> String {
        self.state.public_url.clone()
    }

    /// `http(s)://` + the metrics listener's address, when there is one.
    pub fn metrics_url(&self) -> Option<String> {
        let scheme = aethex_runtime::tls::scheme(self.tls.as_ref());
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| format!("{scheme}://{a}"))
    }

    /// Whether the listeners speak HTTPS (`[tls]`).
    pub fn tls(&self) -> Option<&Arc<aethex_runtime::tls::ServerTls>> {
        self.tls.as_ref()
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    /// Prometheus `/metrics` is served only on its own listener, never on the public port.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let metrics = self.metrics_listener.map(|l| {
            let router = Router::new().route("/metrics", get(ops::metrics)).with_state(self.state.clone());
            let tls = self.tls.clone();
            tokio::spawn(async move { aethex_runtime::tls::serve(l, router, tls, std::future::pending()).await })
        });
        let result = aethex_runtime::tls::serve(self.listener, self.router, self.tls, shutdown).await;
        if let Some(m) = metrics {
            m.abort();
        }
        result
    }
}

/// The URL the cluster's other origins reach this one at: `cluster.advertise_url`, else
/// the bound address (refused when it is a wildcard such as `0.0.0.0`).
fn advertise_url(cluster: &crate::config::ClusterConfig, bound: SocketAddr) -> anyhow::Result<String> {
    let url = cluster.advertise_url.trim().trim_end_matches('/');
    if !url.is_empty() {
        anyhow::ensure!(
            (url.starts_with("http://") || url.starts_with("https://")) && reqwest::Url::parse(url).is_ok(),
            "cluster.advertise_url must be an http(s) URL, got {url:?}"
        );
        return Ok(url.to_string());
    }
    anyhow::ensure!(
        !bound.ip().is_unspecified(),
        "set cluster.advertise_url (the URL other origins reach this one at): server.listen {bound} is not an address they can call"
    );
    Ok(format!("http://{bound}"))
}

/// Wires this origin to the cluster's messages (see `cluster::bus`): tells the others
/// of each replicated commit (so an edge's long-poll on any origin wakes at once) and
/// hears theirs, and drops cached client keys when any origin rotates one.
fn spawn_cluster_messages(state: &AppState, redis: &crate::cluster::Redis) {
    use crate::cluster::bus::{Heard, CLIENT_KEYS, GAME_LOGIC, OUTBOX_HEAD};
    let app = Arc::downgrade(&state.0);
    redis.listen(&[OUTBOX_HEAD, CLIENT_KEYS, GAME_LOGIC], move |heard| {
        let Some(app) = app.upgrade() else { return false };
        match heard {
            Heard::Resubscribed => {
                app.game_keys.clear();
                app.logic.all_stale();
                app.db.wake_head_waiters();
            }
            Heard::Message { channel: GAME_LOGIC, payload } => crate::logic::loader::told(&crate::state::AppState(app.clone()), payload),
            Heard::Message { channel: OUTBOX_HEAD, payload } => {
                if let Ok(position) = payload.parse::<i64>() {
                    app.db.advance_head(position);
                }
            }
            Heard::Message { channel: CLIENT_KEYS, .. } => app.game_keys.clear(),
            Heard::Message { .. } => {}
        }
        true
    });
    let (mut committed, redis, app) = (state.db.committed(), redis.clone(), Arc::downgrade(&state.0));
    tokio::spawn(async move {
        while committed.changed().await.is_ok() {
            if app.strong_count() == 0 {
                return;
            }
            let position = *committed.borrow_and_update();
            redis.tell(OUTBOX_HEAD, &position.to_string()).await;
        }
    });
}

/// Every domain's routes with their OpenAPI paths (the document's title and tags from
/// [`crate::openapi::ApiDoc`]).
pub fn domain_routes(max_save: usize) -> OpenApiRouter<AppState> {
    let mut routes = OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .merge(crate::auth::routes::router())
        .merge(crate::teams::routes::router())
        .merge(crate::saves::routes::router(max_save))
        .merge(crate::replication::routes::router())
        .merge(crate::leaderboards::routes::router())
        .merge(crate::achievements::routes::router())
        .merge(crate::social::routes::router())
        .merge(crate::analytics::routes::router())
        .merge(crate::privacy::routes::router())
        .merge(crate::regions::routes::router())
        .merge(crate::dlc::routes::router())
        .merge(crate::matchmaking::routes::router())
        .merge(crate::logic::routes::router())
        .merge(crate::console::routes::router());
    crate::openapi::state_rules(routes.get_openapi_mut());
    routes
}

pub fn build_router(state: AppState) -> Router {
    let cfg = &state.config;
    let max_save = cfg.saves.max_save_bytes;
    let cors = cors_layer(&cfg.server.cors_origins);
    let (domains, api) = domain_routes(max_save).split_for_parts();
    Router::new()
        .merge(domains)
        .route("/api/v1/rpc", post(crate::rpc::rpc_endpoint).layer(DefaultBodyLimit::max(save_body_limit(max_save))))
        .route("/api/v1/openapi.json", get(crate::openapi::serve(api)))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/.well-known/jwks.json", get(ops::jwks))
        .fallback(middleware::not_found)
        .layer(DefaultBodyLimit::max(cfg.server.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::console::audit::record))
        .layer(axum::middleware::from_fn(middleware::request_context))
        .layer(cors)
        .with_state(state)
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") { AllowOrigin::any() } else { AllowOrigin::list(origins.iter().filter_map(|o| o.parse().ok())) };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(aethex_protocol::headers::CLIENT_KEY),
            HeaderName::from_static(aethex_protocol::headers::REQUEST_ID),
            HeaderName::from_static(aethex_protocol::headers::POSITION),
            header::RANGE,
            header::IF_NONE_MATCH,
        ])
        .expose_headers([
            HeaderName::from_static(aethex_protocol::headers::REQUEST_ID),
            HeaderName::from_static(aethex_protocol::headers::POSITION),
            header::RETRY_AFTER,
            header::CONTENT_RANGE,
            header::ETAG,
            header::ACCEPT_RANGES,
            HeaderName::from_static(aethex_protocol::dlc::CHUNK_ENCODING_HEADER),
            HeaderName::from_static("x-aethex-file-blake3"),
        ])
}

#[cfg(test)]
mod tests {
    use aethex_protocol::{dlc, matchmaking, validate};
    use serde_json::Value;

    use crate::openapi::{Rule, Text, FIELD_RULES, PARAM_RULES};

    /// The server's own check for a value of this parameter or body field name.
    fn parser(name: &str) -> fn(&str) -> bool {
        match name {
            "game_id" => |s| validate::GameSlug::parse(s).is_ok(),
            "user_id" | "report_id" => |s| uuid::Uuid::parse_str(s).is_ok(),
            "leaderboard_id" | "achievement_id" => |s| validate::parse_id(s, "id").is_ok(),
            "save_id" => |s| validate::SlotName::parse(s).is_ok() || uuid::Uuid::parse_str(s).is_ok(),
            "channel" => |s| dlc::parse_channel(s).is_ok(),
            "version" => |s| dlc::parse_version(s).is_ok(),
            "entitlement" => |s| dlc::parse_entitlement(s).is_ok(),
            "chunk_id" => dlc::is_blake3_hex,
            "mode" => |s| matchmaking::parse_mode(s).is_ok(),
            "device_id" => |s| validate::DeviceId::parse(s).is_ok(),
            "username" => |s| validate::Username::parse(s).is_ok(),
            "email" => |s| validate::Email::parse(s).is_ok(),
            "password" | "new_password" => |s| validate::Password::parse(s).is_ok(),
            "name" => |s| validate::DisplayName::parse(s, "name").is_ok(),
            other => panic!("no parser named for {other}"),
        }
    }

    /// Strings to try a rule on: edge cases, then many drawn from a small alphabet with
    /// every kind of character the rules treat differently.
    fn samples() -> Vec<String> {
        let mut out: Vec<String> = [
            "",
            " ",
            ".",
            "..",
            "...",
            "a",
            "-",
            "_",
            "a.",
            ".a",
            "a..b",
            "abc",
            "Abc",
            "a-",
            "-a",
            "a_b",
            "a+b",
            "+a",
            "1.2.3",
            "history",
            "chunks",
            "keys",
            "entitlements",
            "me",
            "0d2b6a4c-3f1e-4b8a-9c7d-1e2f3a4b5c6d",
            "0D2B6A4C-3F1E-4B8A-9C7D-1E2F3A4B5C6D",
            "a b",
            "a/b",
            "a%b",
            "é",
            "a@b.co",
            "A.b@c.d",
            "x@y",
            "x@-y.z",
            "x@y.z-",
            "p@ss w0rd",
            "        ",
            "\tpassword",
            "name\u{7}",
            "name\u{85}x",
            "My Game",
            " My Game ",
            "guest-device-0001",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for n in [3, 8, 16, 32, 33, 36, 50, 51, 64, 65, 100, 101, 128, 129, 254, 255] {
            out.push("a".repeat(n));
            out.push(format!("{}@example.com", "b".repeat(n.saturating_sub(12))));
        }
        out.push("0123456789abcdef".repeat(4));
        out.push("0123456789abcdeF".repeat(4));
        let alphabet: Vec<char> = "aAz9-_.+ /é@\t\u{7f}".chars().collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 140) as usize;
            let s: String = (0..len)
                .map(|i| {
                    let r = x.rotate_left(i as u32 * 5) ^ (i as u64).wrapping_mul(0x2545_f491_4f6c_dd1d);
                    alphabet[(r >> 33) as usize % alphabet.len()]
                })
                .collect();
            out.push(s);
        }
        out
    }

    /// The rule admits only what the parser takes, and (when exact) all of it.
    fn agrees(name: &str, rule: &Text, samples: &[String]) {
        let re = regex::Regex::new(rule.pattern).unwrap();
        let parse = parser(name);
        let mut admitted = 0;
        for s in samples {
            let n = s.chars().count();
            let by_document = re.is_match(s) && (rule.min_length..=rule.max_length).contains(&n) && !rule.reserved.contains(&s.as_str());
            if by_document || rule.exact {
                assert_eq!(by_document, parse(s), "{name}: {s:?}");
            }
            admitted += usize::from(by_document);
        }
        assert!(admitted > 0, "{name}: no sample is valid");
    }

    fn states(schema: &Value, rule: &Text) -> bool {
        (&schema["pattern"], &schema["minLength"], &schema["maxLength"])
            == (&Value::from(rule.pattern), &Value::from(rule.min_length), &Value::from(rule.max_length))
    }

    /// Every path and query parameter that has a rule states it in the document, and the
    /// rule (pattern, lengths, reserved names) accepts exactly what the server's parser
    /// accepts, so a client or a fuzzer reading the document sends values the server takes.
    #[test]
    fn parameter_rules_agree_with_the_parsers() {
        let doc = serde_json::to_value(super::domain_routes(1024).into_openapi()).unwrap();
        let samples = samples();
        for (name, rule) in PARAM_RULES {
            let mut stated = 0;
            for (path, item) in doc["paths"].as_object().unwrap() {
                for op in item.as_object().unwrap().values() {
                    for p in op["parameters"].as_array().into_iter().flatten() {
                        let string = p["schema"]["type"] == "string";
                        if p["name"] == *name && string {
                            stated += 1;
                            assert!(states(&p["schema"], rule), "{name} in {path}: {}", p["schema"]);
                        }
                    }
                }
            }
            assert!(stated > 0, "no parameter named {name}");
            if *name == "game_id" {
                assert!(stated >= 50, "only {stated} game_id parameters found");
            }
            agrees(name, rule, &samples);
        }
    }

    /// The same for request bodies: each field rule is in its schema and agrees with the
    /// field's parser.
    #[test]
    fn body_field_rules_agree_with_the_parsers() {
        let doc = serde_json::to_value(super::domain_routes(1024).into_openapi()).unwrap();
        let samples = samples();
        for (schema, field, rule) in FIELD_RULES {
            let prop = &doc["components"]["schemas"][*schema]["properties"][*field];
            assert!(prop.is_object(), "{schema}.{field} is not in the document");
            match rule {
                Rule::Text(t) => {
                    assert!(states(prop, t), "{schema}.{field}: {prop}");
                    agrees(field, t, &samples);
                }
                Rule::Range(min, max) => {
                    assert_eq!((&prop["minimum"], &prop["maximum"]), (&Value::from(*min), &Value::from(*max)), "{schema}.{field}")
                }
                Rule::Items(min, max) => {
                    assert_eq!((&prop["minItems"], &prop["maxItems"]), (&Value::from(*min), &Value::from(*max)), "{schema}.{field}")
                }
            }
        }
    }

    /// No part of an `allOf` refuses other properties (a flattened `deny_unknown_fields`
    /// type), which would make its schema impossible to satisfy; the flattened type's own
    /// schema still does.
    #[test]
    fn flattened_parts_allow_the_outer_fields() {
        let doc = serde_json::to_value(super::domain_routes(1024).into_openapi()).unwrap();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut all_ofs = 0;
        for (name, schema) in schemas {
            for part in schema["allOf"].as_array().into_iter().flatten() {
                all_ofs += 1;
                let part = match part["$ref"].as_str() {
                    Some(r) => &schemas[r.trim_start_matches("#/components/schemas/")],
                    None => part,
                };
                assert_ne!(part["additionalProperties"], Value::Bool(false), "{name}");
            }
        }
        assert!(all_ofs > 0);
        assert_eq!(schemas["ModeConfig"]["additionalProperties"], Value::Bool(false));
    }
}

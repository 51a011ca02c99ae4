//! Application state shared by every handler: `AppState(Arc<App>)`.

use std::ops::Deref;
use std::sync::Arc;

use crate::auth::email::Mailer;
use crate::auth::ratelimit::RateLimits;
use crate::config::Config;
use crate::crypto::{Passwords, SaveCipher, TokenKeys};
use crate::db::Db;

pub struct App {
    pub config: Config,
    pub db: Db,
    pub tokens: TokenKeys,
    pub passwords: Passwords,
    pub save_cipher: SaveCipher,
    pub mailer: Box<dyn Mailer>,
    pub limits: std::sync::Arc<RateLimits>,
    /// Outbound HTTP (OAuth providers, CAPTCHA verification).
    pub http: reqwest::Client,
    /// The URL this server is reached at.
    pub public_url: String,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub game_keys: crate::teams::keycache::GameKeyCache,
    /// Games' logic components loaded on this origin.
    pub logic: crate::logic::registry::Registry,
    /// Keys edges and relays authenticate with (origin calls each relay with its own).
    pub peers: crate::peer_keys::PeerKeys,
    /// This database's replication epoch.
    pub replication_epoch: String,
    /// The edge read model's queries on origin's own tables (leaderboards, regions), on
    /// connections of their own.
    pub read_model: crate::db::read_model::ReadModel,
    /// DLC chunks (and later other content-addressed blobs).
    pub blobs: crate::blobs::Blobs,
    /// Chunk uploads and releases hold it shared; garbage collection exclusively (across
    /// the cluster's origins when they share a Redis).
    pub chunk_gc: crate::cluster::RwLock,
    /// Analytics events, in a database of their own.
    pub analytics: crate::analytics::store::AnalyticsDb,
    /// The matchmaking queue (in memory; see `matchmaking`).
    pub matchmaking: crate::matchmaking::queue::Matchmaker,
    /// In a cluster: whether this origin runs the queue, and the way to the one that does.
    pub matchmaking_cluster: Option<crate::matchmaking::cluster::Leadership>,
}

#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

//! AeThex Cloud origin: the authoritative server. See `docs/` and the README.
//!
//! Layout: one folder per domain (`auth`, `teams`, `saves`) with `routes.rs` (transport),
//! `service.rs` (rules) and `store.rs` (SQL); `rpc.rs` maps JSON-RPC methods onto the
//! same service functions; `http/` holds extractors and middleware shared by all.

pub mod achievements;
pub mod analytics;
pub mod auth;
pub mod blobs;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod console;
pub mod crypto;
pub mod db;
pub mod dlc;
pub mod error;
pub mod html;
pub mod http;
pub mod leaderboards;
pub mod logic;
pub mod matchmaking;
pub mod openapi;
pub mod peer_keys;
pub mod privacy;
pub mod regions;
pub mod replication;
pub mod rpc;
pub mod saves;
pub mod social;
pub mod startup;
pub mod state;
pub mod teams;

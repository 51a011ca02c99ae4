//! AeThex Cloud wire types, shared by origin, edges, relays and SDKs.
//!
//! This crate does no I/O and depends only on serde, serde_json and uuid, so it
//! builds for `wasm32-unknown-unknown` (edge workers) as well as native targets.
//!
//! - [`rpc`]: the JSON-RPC 2.0 envelope and the error object every transport answers with.
//! - [`auth`]: account, session and token bodies, access-token claims and JWKS.
//! - [`saves`]: cloud-save requests, metadata and conflict details.
//! - [`teams`]: organizations, members, games and keys.
//! - [`validate`]: parse-don't-validate newtypes (`Email`, `Username`, `SlotName`, ...).
//! - [`headers`]: header names used across parts.
//! - [`dlc`]: DLC manifests, chunks, releases, channels and entitlements.
//! - [`leaderboards`]: leaderboard definitions, scores and pages.
//! - [`logic`]: game logic components, their versions, and custom RPCs.
//! - [`multiplayer`]: the relay's WebSocket protocol, room tickets, the relay's API.
//! - [`matchmaking`]: tickets, matches, modes and backfill.
//! - [`regions`]: relay regions and their heartbeats.
//! - [`replica`]: the edge read model and the replication stream.

pub mod achievements;
pub mod analytics;
pub mod auth;
pub mod dlc;
pub mod headers;
pub mod leaderboards;
pub mod logic;
pub mod matchmaking;
pub mod multiplayer;
pub mod regions;
pub mod replica;
pub mod rpc;
pub mod saves;
pub mod social;
pub mod teams;
pub mod validate;

pub use rpc::{ErrorCode, RpcError, RpcErrorData};

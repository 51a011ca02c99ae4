//! End-to-end tests of the relay: each starts a real origin (`aethex`, for keys, tokens
//! and the region list) and a real relay (`aethex-relay`) on 127.0.0.1:0, and drives the
//! relay with tokio-tungstenite clients. `TEST_LOG=1` shows both processes' logs.
//!
//! Build origin first: `cargo build -j2 --bin aethex`.

mod auth;
mod encoding;
mod helpers;
mod limits;
mod memory;
mod messaging;
mod origin;
mod p2p;
mod resume;
mod rooms;
mod state;

//! Game logic for AeThex Cloud, written in Rust and run by the servers as a WebAssembly
//! component (the `aethex:logic@0.1.0` WIT package in `protocol/wit/logic.wit`).
//!
//! Implement [`Logic`] for a type, hand it to [`export!`](crate::export), and build the crate
//! as a `cdylib` for `wasm32-wasip2`:
//!
//! ```ignore
//! use aethex_logic::*;
//!
//! struct MyGame;
//!
//! impl Logic for MyGame {
//!     fn registration() -> Registration {
//!         Registration { hooks: vec![Hook::BeforeScore], rpcs: vec![], rooms: false }
//!     }
//!     fn before_score(_ctx: Context, s: ScoreSubmit) -> ScoreVerdict {
//!         if s.score > 1_000_000 { ScoreVerdict::Reject("impossible score".into()) } else { ScoreVerdict::Accept }
//!     }
//! }
//!
//! aethex_logic::export!(MyGame);
//! ```
//!
//! `cargo build --release --target wasm32-wasip2` writes the component to
//! `target/wasm32-wasip2/release/<crate>.wasm`; upload it with
//! `POST /api/v1/games/{game}/logic` (see `docs/logic.md`).
//!
//! Only the hooks that [`Logic::registration`] lists are ever called; the others keep their
//! defaults here. Origin keeps a few instances of the component per game and reuses them, so
//! memory kept between calls may or may not be seen by the next call: keep lasting state in
//! [`kv_get`] / [`kv_set`]. A relay gives every room its own instance, so a room's state may
//! live in the component's memory.

#![no_std]
extern crate alloc;
// The generated bindings name this crate by its path, inside it and in guests alike.
extern crate self as aethex_logic;

use alloc::string::String;
use alloc::vec::Vec;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../protocol/wit",
        world: "game-logic",
        pub_export_macro: true,
        export_macro_name: "__export_bindings",
        default_bindings_module: "aethex_logic::bindings",
        runtime_path: "::aethex_logic::__wit_bindgen::rt",
    });
}

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

pub use bindings::aethex::logic::host::{
    kv_compare_and_set, kv_delete, kv_get, kv_set, log, now_ms, player_profile, player_stats, random_u64, send_room_message, submit_score,
    unlock_achievement,
};
pub use bindings::aethex::logic::types::{
    AchievementProgress, Advanced, Caller, Context, Event, Field, Hook, LogLevel, PlayerFields, Profile, ProgressVerdict, Queued, Registration,
    SaveVerdict, SaveWrite, Saved, ScoreSubmit, ScoreVerdict, Scored, Stat, TickOutput, Ticket, TicketVerdict,
};

/// A game's logic. Every method but [`registration`](Logic::registration) has a default that
/// accepts or does nothing.
pub trait Logic {
    /// What this component handles: the hooks to call, its RPC names, and whether rooms may
    /// be bound to it. Called when it is deployed and when a server loads it.
    fn registration() -> Registration;

    /// Before a save is written: accept, reject with a reason, or rewrite its data.
    fn before_save(_ctx: Context, _save: SaveWrite) -> SaveVerdict {
        SaveVerdict::Accept
    }
    /// Before a score is submitted: accept, reject, or adjust it.
    fn before_score(_ctx: Context, _score: ScoreSubmit) -> ScoreVerdict {
        ScoreVerdict::Accept
    }
    /// Before an achievement is unlocked or its progress set.
    fn before_achievement(_ctx: Context, _progress: AchievementProgress) -> ProgressVerdict {
        ProgressVerdict::Accept
    }
    /// Before a matchmaking ticket is queued.
    fn before_ticket(_ctx: Context, _ticket: Ticket) -> TicketVerdict {
        TicketVerdict::Accept
    }
    /// After a write (fire and forget: the write has happened and does not wait).
    fn after_event(_ctx: Context, _event: Event) {}

    /// A custom RPC: `payload` and the answer are JSON text; an error is the reason the
    /// caller sees.
    fn rpc(_ctx: Context, name: String, _payload: String) -> Result<String, String> {
        Err(alloc::format!("no RPC named {name}"))
    }

    /// A room bound to this component was opened (its properties as JSON text).
    fn room_open(_room_id: String, _mode: Option<String>, _properties: String) {}
    /// A player asks to join; an error refuses them.
    fn room_join(_player_id: String, _player_data: String) -> Result<(), String> {
        Ok(())
    }
    fn room_leave(_player_id: String) {}
    /// Once per tick, with each player's state fields since the previous tick: returns the
    /// changes every member sees (by default, none: an authoritative room shows only what
    /// its logic accepts).
    fn room_tick(_tick: u64, _inputs: Vec<PlayerFields>) -> TickOutput {
        TickOutput { state: Vec::new(), end: None }
    }
}

/// Exports a [`Logic`] implementation as the component's `hooks`, `rpc` and `room`.
#[macro_export]
macro_rules! export {
    ($ty:ty) => {
        const _: () = {
            use $crate::bindings::exports::aethex::logic as __aethex;
            struct __AethexExports;
            impl __aethex::hooks::Guest for __AethexExports {
                fn init() -> $crate::Registration {
                    <$ty as $crate::Logic>::registration()
                }
                fn before_save(ctx: $crate::Context, save: $crate::SaveWrite) -> $crate::SaveVerdict {
                    <$ty as $crate::Logic>::before_save(ctx, save)
                }
                fn before_score(ctx: $crate::Context, score: $crate::ScoreSubmit) -> $crate::ScoreVerdict {
                    <$ty as $crate::Logic>::before_score(ctx, score)
                }
                fn before_achievement(ctx: $crate::Context, p: $crate::AchievementProgress) -> $crate::ProgressVerdict {
                    <$ty as $crate::Logic>::before_achievement(ctx, p)
                }
                fn before_ticket(ctx: $crate::Context, t: $crate::Ticket) -> $crate::TicketVerdict {
                    <$ty as $crate::Logic>::before_ticket(ctx, t)
                }
                fn after_event(ctx: $crate::Context, e: $crate::Event) {
                    <$ty as $crate::Logic>::after_event(ctx, e)
                }
            }
            impl __aethex::rpc::Guest for __AethexExports {
                fn call(ctx: $crate::Context, name: $crate::__String, payload: $crate::__String) -> Result<$crate::__String, $crate::__String> {
                    <$ty as $crate::Logic>::rpc(ctx, name, payload)
                }
            }
            impl __aethex::room::Guest for __AethexExports {
                fn open(room_id: $crate::__String, mode: Option<$crate::__String>, properties: $crate::__String) {
                    <$ty as $crate::Logic>::room_open(room_id, mode, properties)
                }
                fn join(player_id: $crate::__String, player_data: $crate::__String) -> Result<(), $crate::__String> {
                    <$ty as $crate::Logic>::room_join(player_id, player_data)
                }
                fn leave(player_id: $crate::__String) {
                    <$ty as $crate::Logic>::room_leave(player_id)
                }
                fn tick(tick: u64, inputs: $crate::__Vec<$crate::PlayerFields>) -> $crate::TickOutput {
                    <$ty as $crate::Logic>::room_tick(tick, inputs)
                }
            }
    $crate::bindings::__export_bindings!(__AethexExports with_types_in $crate::bindings);
        };
    };
}

#[doc(hidden)]
pub use alloc::string::String as __String;
#[doc(hidden)]
pub use alloc::vec::Vec as __Vec;

/// Shorthand for [`log`] at info level.
pub fn info(message: &str) {
    log(LogLevel::Info, message);
}

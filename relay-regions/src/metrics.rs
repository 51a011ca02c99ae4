//! Counters of the node, rendered as Prometheus text at `GET /metrics`. Plain atomics:
//! the hot paths (frames in and out) add once per batch of frames, not per frame.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::error::{KICK_KINDS, KICK_LABELS};

#[derive(Default)]
pub struct Metrics {
    /// Open WebSockets (authenticated or not).
    pub connections: AtomicI64,
    /// Authenticated connections: the load announced to origin.
    pub players: AtomicI64,
    pub rooms: AtomicI64,
    /// Seats, held ones included.
    pub seats: AtomicI64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    /// Connections that ended without a kick (closed by the client, network errors).
    pub dropped: AtomicU64,
    pub kicked: [AtomicU64; KICK_KINDS],
    /// Requests answered with `error`.
    pub refused: AtomicU64,
    pub ticks: AtomicU64,
    /// Time spent in room ticks (microseconds).
    pub tick_micros: AtomicU64,
    pub state_batches: AtomicU64,
    pub resumes: AtomicU64,
    pub heartbeats_ok: AtomicU64,
    pub heartbeats_failed: AtomicU64,
    pub backfills_ok: AtomicU64,
    pub backfills_failed: AtomicU64,
    /// Calls to the room directory (Redis) that failed.
    pub directory_errors: std::sync::Arc<AtomicU64>,
    /// Players sent to another relay of the region for a private room.
    pub redirects: AtomicU64,
    /// Authoritative rooms open (their game's component runs here).
    pub logic_rooms: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Ticks of authoritative rooms' components, and the time spent in them.
    pub logic_ticks: AtomicU64,
    pub logic_tick_micros: AtomicU64,
    /// Authoritative rooms ended because their component failed.
    pub logic_failures: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn kick(&self, index: usize) {
        if let Some(c) = self.kicked.get(index) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let g = |c: &AtomicI64| c.load(Ordering::Relaxed);
        let c = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut line = |kind: &str, name: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        line("gauge", "aethex_relay_connections", "Open WebSocket connections.", g(&self.connections).to_string());
        line("gauge", "aethex_relay_players", "Authenticated connections (the load announced to origin).", g(&self.players).to_string());
        line("gauge", "aethex_relay_rooms", "Open rooms.", g(&self.rooms).to_string());
        line("gauge", "aethex_relay_seats", "Seats in rooms, held ones included.", g(&self.seats).to_string());
        line("counter", "aethex_relay_messages_in_total", "Frames received from clients.", c(&self.messages_in).to_string());
        line("counter", "aethex_relay_messages_out_total", "Frames written to clients.", c(&self.messages_out).to_string());
        line("counter", "aethex_relay_bytes_in_total", "Payload bytes received from clients.", c(&self.bytes_in).to_string());
        line("counter", "aethex_relay_bytes_out_total", "Payload bytes written to clients.", c(&self.bytes_out).to_string());
        line("counter", "aethex_relay_dropped_total", "Connections closed by the client or the network.", c(&self.dropped).to_string());
        line("counter", "aethex_relay_refused_total", "Requests answered with an error.", c(&self.refused).to_string());
        line("counter", "aethex_relay_ticks_total", "Room ticks run.", c(&self.ticks).to_string());
        line("counter", "aethex_relay_tick_seconds_total", "Time spent in room ticks.", format!("{:.6}", c(&self.tick_micros) as f64 / 1e6));
        line("counter", "aethex_relay_state_batches_total", "State batches sent.", c(&self.state_batches).to_string());
        line("counter", "aethex_relay_resumes_total", "Seats reclaimed after a drop.", c(&self.resumes).to_string());
        line("counter", "aethex_relay_heartbeats_total", "Heartbeats origin accepted.", c(&self.heartbeats_ok).to_string());
        line("counter", "aethex_relay_heartbeat_failures_total", "Heartbeats that failed.", c(&self.heartbeats_failed).to_string());
        line("counter", "aethex_relay_backfills_total", "Open match seats origin accepted for backfill.", c(&self.backfills_ok).to_string());
        line(
            "counter",
            "aethex_relay_backfill_failures_total",
            "Backfill requests origin refused or that failed.",
            c(&self.backfills_failed).to_string(),
        );
        line(
            "counter",
            "aethex_relay_directory_errors_total",
            "Calls to the room directory (Redis) that failed.",
            c(&self.directory_errors).to_string(),
        );
        line(
            "counter",
            "aethex_relay_redirects_total",
            "Players sent to another relay of the region for a private room.",
            c(&self.redirects).to_string(),
        );
        line("gauge", "aethex_relay_logic_rooms", "Rooms run by their game's logic component.", self.logic_rooms.load(Ordering::Relaxed).to_string());
        line("counter", "aethex_relay_logic_ticks_total", "Ticks of rooms' game logic.", c(&self.logic_ticks).to_string());
        line(
            "counter",
            "aethex_relay_logic_tick_seconds_total",
            "Time spent in rooms' game logic ticks.",
            format!("{:.6}", c(&self.logic_tick_micros) as f64 / 1e6),
        );
        line("counter", "aethex_relay_logic_failures_total", "Rooms ended because their game logic failed.", c(&self.logic_failures).to_string());
        let _ = writeln!(out, "# HELP aethex_relay_kicked_total Connections the relay ended, by reason.\n# TYPE aethex_relay_kicked_total counter");
        for (i, label) in KICK_LABELS.iter().enumerate() {
            let _ = writeln!(out, "aethex_relay_kicked_total{{reason=\"{label}\"}} {}", c(&self.kicked[i]));
        }
        out
    }
}

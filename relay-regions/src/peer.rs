//! One connection's outbound side: the queue rooms push frames into, drained by the
//! connection's own task.
//!
//! A plain `Mutex<VecDeque>` plus a `Notify` (a multi-producer, single-consumer queue):
//! an empty `VecDeque` owns no memory, so an idle connection costs a few dozen bytes here,
//! and the task takes everything queued in one go and writes it with one flush. A client
//! that falls `max_queued_frames` behind is disconnected rather than buffered without end.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use aethex_protocol::multiplayer::{Encoding, ServerMessage};
use axum::extract::ws::Message;
use tokio::sync::Notify;

use crate::codec::encode;
use crate::error::Kick;

pub struct Peer {
    /// Connection id (unique per node).
    pub id: u64,
    pub player_id: Arc<str>,
    pub encoding: Encoding,
    max_queued: u32,
    out: Mutex<Outbox>,
    wake: Notify,
}

#[derive(Default)]
struct Outbox {
    frames: VecDeque<Message>,
    kick: Option<Kick>,
    /// The connection task has ended: nothing is queued any more.
    closed: bool,
    /// Public UDP address seen by the P2P endpoint.
    udp: Option<SocketAddr>,
}

impl Peer {
    pub fn new(id: u64, player_id: Arc<str>, encoding: Encoding, max_queued: usize) -> Arc<Self> {
        Arc::new(Self {
            id,
            player_id,
            encoding,
            max_queued: max_queued.clamp(8, u32::MAX as usize) as u32,
            out: Mutex::new(Outbox::default()),
            wake: Notify::new(),
        })
    }

    fn out(&self) -> MutexGuard<'_, Outbox> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a frame. A client too far behind is kicked (its queue is dropped).
    pub fn push(&self, frame: Message) {
        let mut o = self.out();
        if o.closed || o.kick.is_some() {
            return;
        }
        if o.frames.len() >= self.max_queued as usize {
            o.frames = VecDeque::new();
            o.kick = Some(Kick::SlowConsumer);
        } else {
            o.frames.push_back(frame);
        }
        drop(o);
        self.wake.notify_one();
    }

    /// Serializes `msg` in this peer's encoding and queues it.
    pub fn send(&self, msg: &ServerMessage) {
        if let Some(frame) = encode(msg, self.encoding) {
            self.push(frame);
        }
    }

    /// Ends the connection (its task sends what is queued, then `disconnect`).
    pub fn kick(&self, kick: Kick) {
        let mut o = self.out();
        if o.closed || o.kick.is_some() {
            return;
        }
        o.kick = Some(kick);
        drop(o);
        self.wake.notify_one();
    }

    /// Waits until something is queued (or a kick is pending).
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    /// Takes everything queued, and a pending kick. The queue is left without an
    /// allocation (an idle connection holds no frame buffer at all; the next push
    /// allocates a small one).
    pub fn take(&self) -> (VecDeque<Message>, Option<Kick>) {
        let mut o = self.out();
        (std::mem::take(&mut o.frames), o.kick.clone())
    }

    /// Resolves once a kick is pending (consumes wake-ups; see [`Peer::rewake_if_queued`]).
    pub async fn kicked(&self) {
        loop {
            if self.out().kick.is_some() {
                return;
            }
            self.wake.notified().await;
        }
    }

    /// Wakes the connection's task again if frames are waiting.
    pub fn rewake_if_queued(&self) {
        if !self.out().frames.is_empty() {
            self.wake.notify_one();
        }
    }

    /// The connection is gone: later pushes are dropped.
    pub fn close(&self) {
        let mut o = self.out();
        o.closed = true;
        o.frames = VecDeque::new();
    }

    /// Records the public UDP address; whether it is new.
    pub fn set_udp(&self, addr: SocketAddr) -> bool {
        self.out().udp.replace(addr) != Some(addr)
    }

    pub fn udp(&self) -> Option<SocketAddr> {
        self.out().udp
    }
}

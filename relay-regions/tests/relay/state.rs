//! State sync: merged fields, tick batches of what changed since the last ack, snapshots.

use std::time::Duration;

use aethex_protocol::multiplayer::{ClientMessage, PlayerState, ServerMessage};
use serde_json::{json, Map, Value};

use crate::helpers::*;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn update(v: Value) -> ClientMessage {
    ClientMessage::StateUpdate { ack: None, timestamp: 1000, data: obj(v) }
}

/// The next state batch: (tick, states).
async fn batch(c: &mut Client) -> (u64, Vec<PlayerState>) {
    c.expect("state_batch", |m| if let ServerMessage::StateBatch { tick, states } = m { Some((*tick, states.clone())) } else { None }).await
}

#[tokio::test]
async fn batches_hold_only_fields_changed_since_the_acknowledged_tick() {
    let w = World::start(&[]).await;
    let (mut a, mut b, code) = pair(&w).await;
    let aid = a.player_id.clone();

    a.send(&update(json!({"pos": {"x": 1, "y": 2}, "hp": 100, "name": "alice"}))).await;
    let (t1, states) = batch(&mut b).await;
    assert_eq!(states.len(), 1, "only A's state, never B's own");
    assert_eq!(states[0].player_id, aid);
    assert_eq!(states[0].timestamp, 1000);
    assert_eq!(states[0].data, obj(json!({"pos": {"x": 1, "y": 2}, "hp": 100, "name": "alice"})));
    b.send(&ClientMessage::Ack { tick: t1 }).await;
    // Nothing changes: no batches at all (A never gets its own state either).
    let quiet = b.collect(Duration::from_millis(300)).await;
    assert!(quiet.iter().all(|m| !matches!(m, ServerMessage::StateBatch { .. })), "{quiet:?}");
    let a_got = a.collect(Duration::from_millis(100)).await;
    assert!(a_got.iter().all(|m| !matches!(m, ServerMessage::StateBatch { .. })), "{a_got:?}");

    // One field changes, one is removed: only those.
    a.send(&update(json!({"hp": 80, "name": null}))).await;
    let (t2, states) = batch(&mut b).await;
    assert!(t2 > t1);
    assert_eq!(states[0].data, obj(json!({"hp": 80, "name": null})));
    b.send(&ClientMessage::Ack { tick: t2 }).await;
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Without acks, every batch carries everything changed since the last ack.
    a.send(&update(json!({"hp": 70}))).await;
    let (t3, s3) = batch(&mut b).await;
    assert_eq!(s3[0].data, obj(json!({"hp": 70})));
    a.send(&update(json!({"pos": {"x": 5}}))).await;
    let (t4, s4) = loop {
        let (t, s) = batch(&mut b).await;
        if s[0].data.contains_key("pos") {
            break (t, s);
        }
    };
    assert!(t4 > t3);
    assert_eq!(s4[0].data, obj(json!({"hp": 70, "pos": {"x": 5}})), "hp again: B has not acknowledged t3");
    b.send(&ClientMessage::Ack { tick: t4 }).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let after: Vec<_> = b.collect(Duration::from_millis(200)).await.into_iter().filter(|m| matches!(m, ServerMessage::StateBatch { .. })).collect();
    assert!(after.is_empty(), "acknowledged: nothing more to send ({after:?})");

    // A newcomer's snapshot holds the full current state (no removed fields), the
    // others' and its own seat's; its batches then hold only later changes.
    let mut c = w.client().await;
    let ServerMessage::RoomJoined { snapshot, tick, .. } = c.join_code(&code, None).await else { unreachable!() };
    let of = |id: &str| snapshot.iter().find(|s| s.player_id == id).map(|s| s.data.clone());
    assert_eq!(of(&aid), Some(obj(json!({"pos": {"x": 5}, "hp": 70}))));
    assert_eq!(of(&b.player_id), Some(Map::new()));
    assert_eq!(of(&c.player_id), Some(Map::new()));
    assert!(tick >= t4);
    c.send(&ClientMessage::Ack { tick }).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    b.send(&update(json!({"ready": true}))).await;
    let (_, states) = batch(&mut c).await;
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].player_id, b.player_id);
    assert_eq!(states[0].data, obj(json!({"ready": true})));
}

#[tokio::test]
async fn updates_faster_than_the_tick_are_merged() {
    let w = World::start(&[]).await;
    let (mut a, mut b, _) = pair(&w).await;
    // 60 updates at 60 Hz (one second) against a 20 Hz tick.
    for i in 0..60u32 {
        a.send(&ClientMessage::StateUpdate { ack: None, timestamp: u64::from(i), data: obj(json!({"n": i, "x": i * 2})) }).await;
        tokio::time::sleep(Duration::from_micros(16_667)).await;
    }
    let mut batches = 0;
    let last = loop {
        let (tick, states) = batch(&mut b).await;
        b.send(&ClientMessage::Ack { tick }).await;
        batches += 1;
        if states[0].data.get("n") == Some(&json!(59)) {
            break states[0].clone();
        }
    };
    assert_eq!(last.data["x"], json!(118));
    assert_eq!(last.timestamp, 59);
    assert!((5..=40).contains(&batches), "{batches} batches for 60 updates at 20 Hz");
}

#[tokio::test]
async fn state_limits_and_requests_outside_a_room_are_refused() {
    let w = World::start(&[("AETHEX_LIMITS__MAX_STATE_FIELDS", "3"), ("AETHEX_LIMITS__MAX_STATE_BYTES", "200")]).await;
    let mut lone = w.client().await;
    lone.send(&update(json!({"x": 1}))).await;
    assert_eq!(lone.expect_error().await.0, -32009, "not in a room");
    lone.send(&ClientMessage::Ack { tick: 1 }).await;
    assert_eq!(lone.expect_error().await.0, -32009);

    let (mut a, mut b, _) = pair(&w).await;
    a.send(&update(json!({"a": 1, "b": 2, "c": 3, "d": 4}))).await;
    assert_eq!(a.expect_error().await.0, -32602, "too many fields");
    a.send(&update(json!({"a": "x".repeat(300)}))).await;
    assert_eq!(a.expect_error().await.0, -32602, "too large");
    // Refused updates changed nothing; a valid one goes through whole.
    a.send(&update(json!({"a": 1, "b": 2, "c": 3}))).await;
    let (_, states) = batch(&mut b).await;
    assert_eq!(states[0].data, obj(json!({"a": 1, "b": 2, "c": 3})));
    // Removing frees room for another field.
    a.send(&update(json!({"c": null, "d": 4}))).await;
    let (_, states) = loop {
        let (t, s) = batch(&mut b).await;
        b.send(&ClientMessage::Ack { tick: t }).await;
        if s[0].data.contains_key("d") {
            break (t, s);
        }
    };
    assert_eq!(states[0].data.get("c"), Some(&Value::Null));
}

/// A client streaming its state acknowledges on its updates (`state_update.ack`) instead
/// of separate `ack` frames; the deltas it gets are the same.
#[tokio::test]
async fn an_ack_riding_on_a_state_update_counts_as_an_ack() {
    let w = World::start(&[]).await;
    let (mut a, mut b, _code) = pair(&w).await;
    a.send(&update(json!({"hp": 100, "name": "alice"}))).await;
    let (t1, _) = batch(&mut b).await;
    b.send(&ClientMessage::StateUpdate { ack: Some(t1), timestamp: 2000, data: obj(json!({"ready": true})) }).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    a.send(&update(json!({"hp": 90}))).await;
    let (_, states) = loop {
        let (t, s) = batch(&mut b).await;
        if s[0].data.get("hp") == Some(&json!(90)) {
            break (t, s);
        }
    };
    assert_eq!(states[0].data, obj(json!({"hp": 90})), "name was acknowledged on B's update");
    // An ack past the room's tick is clamped, not trusted.
    b.send(&ClientMessage::StateUpdate { ack: Some(u64::MAX), timestamp: 3000, data: obj(json!({"ready": false})) }).await;
    a.send(&update(json!({"hp": 80}))).await;
    let (_, states) = loop {
        let (t, s) = batch(&mut b).await;
        if s[0].data.get("hp") == Some(&json!(80)) {
            break (t, s);
        }
    };
    assert_eq!(states[0].data, obj(json!({"hp": 80})));
}

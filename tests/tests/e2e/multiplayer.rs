//! Multiplayer end to end through the Rust SDK: regions pinged, two players queue, match,
//! join the relay, exchange state (deltas) and RPCs, chat, one drops and resumes its seat,
//! and a killed relay reaches the players as a clear event.

use std::time::Duration;

use aethex_protocol::matchmaking::{MatchFound, TicketRequest};
use aethex_protocol::multiplayer::{Encoding, RoomOptions, ServerMessage};
use aethex_sdk::multiplayer::RoomSession;
use aethex_tests::relays::{regions_when, Relay};
use aethex_tests::Origin;
use serde_json::{json, Map, Value};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// Sets `mode` of the fixture's game to matches of two (as its developer).
async fn two_player_mode(origin: &Origin, game: &aethex_tests::GameFixture, mode: &str) {
    mode_of_size(origin, game, mode, 2).await
}

async fn mode_of_size(origin: &Origin, game: &aethex_tests::GameFixture, mode: &str, match_size: u32) {
    let dev = game.developer.token().unwrap();
    let answer = origin
        .http()
        .put(format!("{}/api/v1/games/{}/matchmaking/modes/{mode}", origin.url, game.game_id))
        .bearer_auth(&dev)
        .json(&json!({"match_size": match_size}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.text().await.unwrap());
}

/// Two players queue for `mode` in the regions they measured (which must be `regions`,
/// sorted), are matched, join the match's relay with `encoding` and see each other's
/// state; the relay's URL.
async fn match_and_play(a: &aethex_sdk::AeThexCloud, b: &aethex_sdk::AeThexCloud, mode: &str, regions: &[&str], encoding: Encoding) -> String {
    let mut tickets = Vec::new();
    for p in [a, b] {
        let rtts = p.multiplayer().ping_regions().await.unwrap();
        let mut names: Vec<&str> = rtts.iter().map(|r| r.region.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, regions, "every relay answers its ping: {rtts:?}");
        let t = p.multiplayer().matchmaking().join_queue(&TicketRequest { mode: mode.into(), regions: rtts, ..Default::default() }).await.unwrap();
        tickets.push(t.ticket_id);
    }
    let ma = a.multiplayer().matchmaking().wait_for_match(&tickets[0], Duration::from_secs(20)).await.unwrap();
    let mb = b.multiplayer().matchmaking().wait_for_match(&tickets[1], Duration::from_secs(20)).await.unwrap();
    let mut sa = a.multiplayer().connect(&ma.relay_url, encoding).await.unwrap();
    let mut sb = b.multiplayer().connect(&mb.relay_url, encoding).await.unwrap();
    sa.join_match(&ma, json!({})).await.unwrap();
    sb.join_match(&mb, json!({})).await.unwrap();
    sb.send_state(obj(json!({"hp": 3}))).await.unwrap();
    let got = sa
        .wait_for(Duration::from_secs(5), |m| match m {
            ServerMessage::StateBatch { states, .. } => states.first().map(|s| s.data.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(got, obj(json!({"hp": 3})));
    ma.relay_url
}

#[tokio::test]
async fn players_match_play_drop_resume_and_see_a_dead_relay() {
    let origin = Origin::start(&[]);
    let mut eu = Relay::start(&origin, "eu-west", &[("AETHEX_RELAY__RESUME_GRACE_SECS", "10")]);
    let us = Relay::start(&origin, "us-east", &[]);
    eu.wait_registered(&origin).await;
    us.wait_registered(&origin).await;
    let game = origin.game("mp-game").await;
    two_player_mode(&origin, &game, "deathmatch").await;

    let (a, b) = (game.player().await, game.player().await);
    let rtts = a.multiplayer().ping_regions().await.unwrap();
    assert_eq!(rtts.len(), 2, "both live regions answer the ping: {rtts:?}");
    // Both players report eu-west as nearer.
    let ticket = |eu_rtt: u32| TicketRequest {
        mode: "deathmatch".into(),
        regions: vec![
            aethex_protocol::matchmaking::RegionRtt { region: "eu-west".into(), rtt_ms: eu_rtt },
            aethex_protocol::matchmaking::RegionRtt { region: "us-east".into(), rtt_ms: 120 },
        ],
        skill: Some(1200.0),
        ..Default::default()
    };
    let ta = a.multiplayer().matchmaking().join_queue(&ticket(20)).await.unwrap();
    let tb = b.multiplayer().matchmaking().join_queue(&ticket(35)).await.unwrap();
    let (ma, mb) =
        tokio::join!(async { a.multiplayer().matchmaking().wait_for_match(&ta.ticket_id, Duration::from_secs(20)).await.unwrap() }, async {
            b.multiplayer().matchmaking().wait_for_match(&tb.ticket_id, Duration::from_secs(20)).await.unwrap()
        });
    assert_eq!((ma.room_id.as_str(), ma.region.as_str()), (mb.room_id.as_str(), "eu-west"), "the nearest region");

    let mut sa = a.multiplayer().connect(&ma.relay_url, Encoding::Json).await.unwrap();
    let mut sb = b.multiplayer().connect(&mb.relay_url, Encoding::Msgpack).await.unwrap();
    let joined = sa.join_match(&ma, json!({"username": "Player1", "character": "warrior", "level": 10})).await.unwrap();
    assert!(matches!(joined, ServerMessage::RoomJoined { .. }));
    sb.join_match(&mb, json!({"username": "Player2"})).await.unwrap();
    let b_id = sb.player_id().to_string();
    let a_id = sa.player_id().to_string();
    sa.wait_for(Duration::from_secs(5), |m| matches!(m, ServerMessage::PlayerJoined { player } if player.player_id == b_id).then_some(()))
        .await
        .unwrap();

    // State: the full fields first, then only what changed.
    sa.send_state(obj(json!({"position": {"x": 100, "y": 200, "z": 50}, "health": 80}))).await.unwrap();
    let first = sb
        .wait_for(Duration::from_secs(5), |m| match m {
            ServerMessage::StateBatch { states, .. } => states.iter().find(|s| s.player_id == a_id).map(|s| s.data.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(first, obj(json!({"position": {"x": 100, "y": 200, "z": 50}, "health": 80})));
    sa.send_state(obj(json!({"health": 75}))).await.unwrap();
    let delta = sb
        .wait_for(Duration::from_secs(5), |m| match m {
            ServerMessage::StateBatch { states, .. } => states.iter().find(|s| s.player_id == a_id).map(|s| s.data.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(delta, obj(json!({"health": 75})), "only the changed field");

    // RPC and chat.
    sa.rpc("take_damage", &b_id, vec![json!(25), json!("fire")]).await.unwrap();
    let rpc = sb
        .wait_for(Duration::from_secs(5), |m| match m {
            ServerMessage::Rpc { from, method, args } if method == "take_damage" => Some((from.clone(), args.clone())),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(rpc, (a_id.clone(), vec![json!(25), json!("fire")]));
    sb.chat("gg", None).await.unwrap();
    let chat = sa.wait_for(Duration::from_secs(5), |m| matches!(m, ServerMessage::Chat { text, .. } if text == "gg").then_some(())).await;
    assert!(chat.is_ok());

    // B drops and comes back to the same seat with a fresh snapshot.
    sb.drop_connection();
    sa.wait_for(Duration::from_secs(5), |m| matches!(m, ServerMessage::PlayerDisconnected { player_id, .. } if *player_id == b_id).then_some(()))
        .await
        .unwrap();
    let back = sb.reconnect().await.unwrap();
    match back {
        ServerMessage::RoomJoined { snapshot, players, .. } => {
            assert!(snapshot.iter().any(|s| s.player_id == a_id && s.data.get("health") == Some(&json!(75))), "fresh snapshot: {snapshot:?}");
            assert_eq!(players.iter().filter(|p| p.player_id == b_id).count(), 1, "no duplicate seat");
        }
        other => panic!("expected room_joined, got {other:?}"),
    }
    sa.wait_for(Duration::from_secs(5), |m| matches!(m, ServerMessage::PlayerReconnected { player_id } if *player_id == b_id).then_some(()))
        .await
        .unwrap();

    // The relay dies: the players get a clear error, not a hang.
    eu.kill();
    let err = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Err(e) = sa.next_event().await {
                return e;
            }
        }
    })
    .await
    .expect("the dead relay is noticed");
    assert!(err.to_string().contains("relay"), "{err}");
}

/// The backfill tests' setup: an origin, one relay of region eu-west, and a game whose
/// mode `mode` matches `size` players there.
struct Backfill {
    origin: Origin,
    relay: Relay,
    game: aethex_tests::GameFixture,
    mode: String,
}

impl Backfill {
    async fn start(game_id: &str, mode: &str, size: u32) -> Self {
        Self::start_with(game_id, mode, size, &[]).await
    }

    /// As [`Self::start`], with more origin settings.
    async fn start_with(game_id: &str, mode: &str, size: u32, env: &[(&str, &str)]) -> Self {
        let origin = Origin::start(env);
        let relay = Relay::start(&origin, "eu-west", &[]);
        relay.wait_registered(&origin).await;
        let game = origin.game(game_id).await;
        mode_of_size(&origin, &game, mode, size).await;
        Self { origin, relay, game, mode: mode.into() }
    }

    /// `p` joins the mode's queue; the ticket's id.
    async fn queue(&self, p: &aethex_sdk::AeThexCloud) -> String {
        let regions = vec![aethex_protocol::matchmaking::RegionRtt { region: "eu-west".into(), rtt_ms: 10 }];
        let req = TicketRequest { mode: self.mode.clone(), regions, ..Default::default() };
        p.multiplayer().matchmaking().join_queue(&req).await.unwrap().ticket_id
    }

    async fn matched(p: &aethex_sdk::AeThexCloud, ticket_id: &str) -> MatchFound {
        p.multiplayer().matchmaking().wait_for_match(ticket_id, Duration::from_secs(20)).await.unwrap()
    }

    /// Whether `p`'s ticket has a match now.
    async fn placed(p: &aethex_sdk::AeThexCloud, ticket_id: &str) -> Option<MatchFound> {
        p.multiplayer().matchmaking().ticket(ticket_id, Duration::ZERO).await.unwrap().match_found
    }

    /// `p` connects to its match's relay and takes its seat.
    async fn seat(p: &aethex_sdk::AeThexCloud, m: &MatchFound, player_data: Value) -> RoomSession {
        let mut s = p.multiplayer().connect(&m.relay_url, Encoding::Json).await.unwrap();
        assert!(matches!(s.join_match(m, player_data).await.unwrap(), ServerMessage::RoomJoined { .. }));
        s
    }

    /// `players` queue, are matched together and take their seats: their sessions, and the
    /// match.
    async fn play(&self, players: &[&aethex_sdk::AeThexCloud]) -> (Vec<RoomSession>, MatchFound) {
        let mut tickets = Vec::new();
        for p in players {
            tickets.push(self.queue(p).await);
        }
        let mut sessions = Vec::new();
        let mut first: Option<MatchFound> = None;
        for (p, t) in players.iter().zip(&tickets) {
            let m = Self::matched(p, t).await;
            if let Some(f) = &first {
                assert_eq!(m.room_id, f.room_id, "one match");
            }
            sessions.push(Self::seat(p, &m, json!({})).await);
            first.get_or_insert(m);
        }
        (sessions, first.expect("at least one player"))
    }

    /// After match `closed`'s room closed, two new players queue: they are matched together
    /// into a new room. `told`: whether the relay's report of the close reached origin
    /// (asserted after the room, so that a failure shows where the players went). The
    /// first player and its match.
    async fn a_new_room_after(&self, closed: &MatchFound, told: bool) -> (aethex_sdk::AeThexCloud, MatchFound) {
        let (c, d) = (self.game.player().await, self.game.player().await);
        let (tc, td) = (self.queue(&c).await, self.queue(&d).await);
        let mc = Self::matched(&c, &tc).await;
        assert_ne!(mc.room_id, closed.room_id, "a player queued after the room closed was sent to it");
        assert!(told, "the relay's report of the closed room did not reach origin");
        let md = Self::matched(&d, &td).await;
        assert_eq!((md.room_id.as_str(), md.match_id.as_str()), (mc.room_id.as_str(), mc.match_id.as_str()), "a new match of the two");
        (c, mc)
    }

    /// Waits until the relay has had `n` backfill requests answered.
    async fn reported(&self, n: f64) -> bool {
        self.relay.metric_becomes("aethex_relay_backfills_total", Duration::from_secs(20), |v| v >= n).await
    }
}

/// A matched room that loses a player asks origin to backfill it: a player still in the
/// queue gets a room ticket for the same room and joins it.
#[tokio::test]
async fn a_room_that_loses_a_player_is_backfilled_from_the_queue() {
    let t = Backfill::start("bf-game", "duel", 2).await;
    let (a, b, c) = (t.game.player().await, t.game.player().await, t.game.player().await);
    let (mut s, m) = t.play(&[&a, &b]).await;
    // C queues after the match was made: alone, it waits.
    let tc = t.queue(&c).await;
    let still = Backfill::placed(&c, &tc).await;
    assert!(still.is_none(), "a full room is not backfilled: {still:?}");

    s[1].leave_room().await.unwrap();
    let mc = Backfill::matched(&c, &tc).await;
    assert_eq!((mc.room_id.as_str(), mc.match_id.as_str()), (m.room_id.as_str(), m.match_id.as_str()), "the same room");
    let mut sc = c.multiplayer().connect(&mc.relay_url, Encoding::Msgpack).await.unwrap();
    sc.join_match(&mc, json!({"username": "late"})).await.unwrap();
    let c_id = sc.player_id().to_string();
    s[0].wait_for(Duration::from_secs(5), |m| matches!(m, ServerMessage::PlayerJoined { player } if player.player_id == c_id).then_some(()))
        .await
        .unwrap();
}

/// A match room that closes (its last player left) tells origin's matcher it has no open
/// seats: players queued afterwards are matched into a new room, not sent to the closed one
/// (before, origin kept offering the seat the first leaver opened for `backfill_secs`).
#[tokio::test]
async fn a_closed_match_room_is_not_backfilled() {
    let t = Backfill::start("bf-closed", "duel", 2).await;
    let (a, b) = (t.game.player().await, t.game.player().await);
    let (mut s, m) = t.play(&[&a, &b]).await;
    // B leaves: origin is told of one open seat (nobody is queued to take it).
    s[1].leave_room().await.unwrap();
    assert!(t.reported(1.0).await, "the open seat was reported");
    // A leaves too: the room closes. Origin is told (a second report), which the players
    // queued next rely on; without it they would be sent to the closed room (asserted below).
    s[0].leave_room().await.unwrap();
    assert!(t.relay.metric_becomes("aethex_relay_rooms", Duration::from_secs(10), |v| v == 0.0).await, "the room closed");
    let told = t.reported(2.0).await;
    let (c, mc) = t.a_new_room_after(&m, told).await;
    Backfill::seat(&c, &mc, json!({})).await;
}

/// A match room that closes while origin is down is reported once origin is back: the
/// relay sends again a backfill request origin did not answer. The queue (and the match's
/// open seat) outlives the restart in Redis; players queued afterwards go to a new room.
#[tokio::test]
async fn a_room_closed_while_origin_was_down_is_reported_when_it_is_back() {
    let redis = aethex_tests::redis::Redis::start();
    let t = Backfill::start_with("bf-down", "duel", 2, &[("AETHEX_CLUSTER__REDIS_URL", redis.url.as_str())]).await;
    let (a, b) = (t.game.player().await, t.game.player().await);
    let (mut s, m) = t.play(&[&a, &b]).await;
    s[1].leave_room().await.unwrap();
    assert!(t.reported(1.0).await, "the open seat was reported");

    let Backfill { mut origin, relay, game, mode } = t;
    origin.kill();
    s[0].leave_room().await.unwrap();
    assert!(relay.metric_becomes("aethex_relay_rooms", Duration::from_secs(10), |v| v == 0.0).await, "the room closed");
    assert!(
        relay.metric_becomes("aethex_relay_backfill_failures_total", Duration::from_secs(10), |v| v >= 1.0).await,
        "the report of the closed room failed while origin was down"
    );
    let t = Backfill { origin: origin.restart_after_kill(), relay, game, mode };
    let told = t.reported(2.0).await;
    t.a_new_room_after(&m, told).await;
}

/// Players a backfill placed who have not connected yet keep their seats: a second
/// departure offers origin only the seats nobody is on the way to (before, it offered theirs
/// again, origin placed two players for one seat, and the later one found the room full).
#[tokio::test]
async fn players_on_the_way_from_a_backfill_keep_their_seats() {
    let t = Backfill::start("bf-on-the-way", "trio", 3).await;
    let players = [t.game.player().await, t.game.player().await, t.game.player().await];
    let (mut s, room) = t.play(&[&players[0], &players[1], &players[2]]).await;

    // One player leaves; C, queued, is placed in the seat and does not connect yet.
    let c = t.game.player().await;
    let tc = t.queue(&c).await;
    s[1].leave_room().await.unwrap();
    let mc = Backfill::matched(&c, &tc).await;
    assert_eq!(mc.room_id, room.room_id, "backfilled into the room");
    assert!(t.reported(1.0).await);
    // A second player leaves: one seat is open (C's is kept for C).
    s[2].leave_room().await.unwrap();
    assert!(t.reported(2.0).await);

    let (d, e) = (t.game.player().await, t.game.player().await);
    let (td, te) = (t.queue(&d).await, t.queue(&e).await);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (late, seated, waiting) = loop {
        match (Backfill::placed(&d, &td).await, Backfill::placed(&e, &te).await) {
            (Some(m), None) => break (m, &d, (&e, &te)),
            (None, Some(m)) => break (m, &e, (&d, &td)),
            (Some(_), Some(_)) => panic!("two players were placed for the one open seat"),
            (None, None) => assert!(std::time::Instant::now() < deadline, "nobody was placed in the open seat"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(late.room_id, room.room_id);
    // Several matcher rounds later the other is still queued: no seat is left for it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(Backfill::placed(waiting.0, waiting.1).await.is_none(), "a second player was placed for the one open seat");

    // Both placed players take their seats.
    Backfill::seat(&c, &mc, json!({})).await;
    Backfill::seat(seated, &late, json!({})).await;
}

/// Three regions at different distances (a delaying proxy on loopback in front of each
/// relay: this kernel has no `netem`), registered in an order that is not the distance
/// order. Each player's SDK measures the RTTs itself; the match lands in the nearest.
#[tokio::test]
async fn the_match_lands_in_the_region_the_players_measured_nearest() {
    use aethex_tests::netdelay::DelayProxy;
    let origin = Origin::start(&[]);
    let mut relays = Vec::new();
    let mut proxies = Vec::new();
    for (region, one_way_ms) in [("ap-south", 40u64), ("us-east", 4), ("eu-west", 15)] {
        let proxy = DelayProxy::bind(Duration::from_millis(one_way_ms)).await;
        let public = format!("ws://{}", proxy.addr);
        let relay = Relay::start(&origin, region, &[("AETHEX_RELAY__PUBLIC_URL", public.as_str())]);
        proxy.forward_to(relay.url.trim_start_matches("http://").parse().unwrap());
        relay.wait_registered(&origin).await;
        relays.push(relay);
        proxies.push(proxy);
    }
    let game = origin.game("geo-game").await;
    two_player_mode(&origin, &game, "ranked").await;

    let (a, b) = (game.player().await, game.player().await);
    let mut tickets = Vec::new();
    for p in [&a, &b] {
        let rtts = p.multiplayer().ping_regions().await.unwrap();
        let names: Vec<&str> = rtts.iter().map(|r| r.region.as_str()).collect();
        assert_eq!(names, ["us-east", "eu-west", "ap-south"], "measured nearest first: {rtts:?}");
        assert!(rtts[2].rtt_ms >= 80, "the far region's RTT is at least its two delays: {rtts:?}");
        let req = TicketRequest { mode: "ranked".into(), regions: rtts, ..Default::default() };
        tickets.push(p.multiplayer().matchmaking().join_queue(&req).await.unwrap());
    }
    let ma = a.multiplayer().matchmaking().wait_for_match(&tickets[0].ticket_id, Duration::from_secs(20)).await.unwrap();
    let mb = b.multiplayer().matchmaking().wait_for_match(&tickets[1].ticket_id, Duration::from_secs(20)).await.unwrap();
    assert_eq!((ma.region.as_str(), mb.region.as_str()), ("us-east", "us-east"));
    assert!(ma.max_rtt_ms < 40, "{ma:?}");
    // The players reach the room through the region's (delayed) public address.
    assert!(ma.relay_url.contains(&proxies[1].addr.to_string()), "{}", ma.relay_url);
    let mut sa = a.multiplayer().connect(&ma.relay_url, Encoding::Json).await.unwrap();
    assert!(matches!(sa.join_match(&ma, json!({})).await.unwrap(), ServerMessage::RoomJoined { .. }));
}

/// `aethex serve` alone (embedded relay, region `local`) is enough for two players to
/// match and play.
#[tokio::test]
async fn the_single_binary_runs_a_relay_of_its_own() {
    let origin = Origin::start(&[("AETHEX_MULTIPLAYER__EMBEDDED_RELAY", "true")]);
    regions_when(&origin, "the embedded relay never registered", |list| {
        list["regions"].as_array().is_some_and(|r| r.iter().any(|r| r["name"] == "local"))
    })
    .await;
    let game = origin.game("solo-game").await;
    two_player_mode(&origin, &game, "coop").await;
    let (a, b) = (game.player().await, game.player().await);
    let relay_url = match_and_play(&a, &b, "coop", &["local"], Encoding::Json).await;
    assert!(relay_url.starts_with("ws://"), "{relay_url}");
}

/// `[tls]` on origin (with its embedded relay) and on a regional relay: the SDK, trusting
/// the test's CA, signs in over HTTPS, is matched, and plays over WSS; clients that do
/// not trust the CA are refused, and nothing answers plain HTTP on those ports.
#[tokio::test]
async fn origin_and_relays_serve_https_and_wss_to_the_sdk() {
    let ca = aethex_tests::tls::TestCa::new();
    let tls = ca.env();
    let tls_env: Vec<(&str, &str)> = tls.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut env = tls_env.clone();
    env.push(("AETHEX_MULTIPLAYER__EMBEDDED_RELAY", "true"));
    let origin = Origin::start(&env);
    assert!(origin.url.starts_with("https://127.0.0.1:"), "{}", origin.url);
    assert!(origin.metrics_url.starts_with("https://"), "{}", origin.metrics_url);
    let regions = format!("{}/api/v1/regions", origin.url);
    let refused = reqwest::get(&regions).await.expect_err("the web PKI does not know the test CA");
    assert!(format!("{refused:?}").to_lowercase().contains("certificate"), "{refused:?}");
    assert!(reqwest::get(regions.replacen("https://", "http://", 1)).await.is_err(), "no plain HTTP on a TLS port");
    assert!(aethex_sdk::AeThexCloud::new(&origin.url).multiplayer().ping_regions().await.is_err(), "an SDK without the CA is refused");

    let relay = Relay::start(&origin, "tls-region", &tls_env);
    assert!(relay.url.starts_with("https://"), "{}", relay.url);
    relay.wait_registered(&origin).await;
    let urls = |list: &Value| -> Vec<String> {
        list["regions"].as_array().into_iter().flatten().filter_map(|r| r["url"].as_str().map(str::to_string)).collect()
    };
    let list = regions_when(&origin, "both relays never registered", |list| urls(list).len() == 2).await;
    assert!(urls(&list).iter().all(|u| u.starts_with("wss://")), "{list}");

    let game = origin.game("tls-game").await;
    two_player_mode(&origin, &game, "duel").await;
    let (a, b) = (game.player().await, game.player().await);
    let relay_url = match_and_play(&a, &b, "duel", &["local", "tls-region"], Encoding::Msgpack).await;
    assert!(relay_url.starts_with("wss://"), "{relay_url}");

    // A private room on the regional relay, over WSS with each encoding.
    let relay_ws = relay.url.replacen("https://", "wss://", 1);
    let mut host = a.multiplayer().connect(&relay_ws, Encoding::Json).await.unwrap();
    let code = match host.create_room(RoomOptions { max_players: 2, password: None, properties: Map::new() }, json!({})).await.unwrap() {
        ServerMessage::RoomJoined { code: Some(code), .. } => code,
        other => panic!("{other:?}"),
    };
    let mut guest = b.multiplayer().connect(&relay_ws, Encoding::Msgpack).await.unwrap();
    guest.join_room(&code, None, json!({})).await.unwrap();
    guest.chat("over tls", None).await.unwrap();
    let line = host
        .wait_for(Duration::from_secs(5), |m| match m {
            ServerMessage::Chat { text, .. } => Some(text.clone()),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(line, "over tls");
    // Plain WebSocket to the TLS port: no handshake.
    assert!(tokio_tungstenite::connect_async(relay.url.replacen("https://", "ws://", 1) + "/v1/multiplayer").await.is_err());
}

/// Polls every session for `rounds` rounds (events in between are handled by the SDK,
/// voice key signals included); what each one was handed.
async fn pump(sessions: &mut [&mut RoomSession], rounds: usize) -> Vec<Vec<ServerMessage>> {
    let mut got = vec![Vec::new(); sessions.len()];
    for _ in 0..rounds {
        for (i, s) in sessions.iter_mut().enumerate() {
            while let Ok(Ok(m)) = tokio::time::timeout(Duration::from_millis(30), s.next_event()).await {
                got[i].push(m);
            }
        }
    }
    got
}

fn voice_data(events: &[ServerMessage]) -> Vec<(String, String)> {
    events
        .iter()
        .filter_map(|m| match m {
            ServerMessage::VoiceFrame { from, data } => Some((from.clone(), data.clone())),
            _ => None,
        })
        .collect()
}

/// Relayed voice encrypted by the SDK: three members agree on a room key through the
/// relay's signalling and hear each other; a fourth member without it (what the relay,
/// or anyone reading its traffic, gets) sees only ciphertext, and its frames are dropped;
/// when a member leaves, the others rekey and go on talking.
#[tokio::test]
async fn relayed_voice_is_end_to_end_encrypted_by_the_sdk() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let origin = Origin::start(&[]);
    let relay = Relay::start(&origin, "voice-region", &[]);
    relay.wait_registered(&origin).await;
    let game = origin.game("voice-game").await;
    let ws = relay.url.replacen("http://", "ws://", 1);
    let (pa, pb, pc, pd) = (game.player().await, game.player().await, game.player().await, game.player().await);
    let mut a = pa.multiplayer().connect(&ws, Encoding::Json).await.unwrap();
    let code = match a.create_room(RoomOptions { max_players: 8, password: None, properties: Map::new() }, json!({})).await.unwrap() {
        ServerMessage::RoomJoined { code: Some(code), .. } => code,
        other => panic!("{other:?}"),
    };
    let mut b = pb.multiplayer().connect(&ws, Encoding::Msgpack).await.unwrap();
    let mut c = pc.multiplayer().connect(&ws, Encoding::Json).await.unwrap();
    let mut d = pd.multiplayer().connect(&ws, Encoding::Json).await.unwrap();
    for s in [&mut b, &mut c, &mut d] {
        s.join_room(&code, None, json!({})).await.unwrap();
    }
    let fingerprints = [a.voice_e2e_enable().await.unwrap(), b.voice_e2e_enable().await.unwrap(), c.voice_e2e_enable().await.unwrap()];
    assert!(fingerprints.iter().all(|f| f.len() == 12) && fingerprints[0] != fingerprints[1]);
    d.voice_enable(true).await.unwrap();
    let mut keyed = false;
    for _ in 0..50 {
        pump(&mut [&mut a, &mut b, &mut c, &mut d], 1).await;
        let e = a.voice_epoch();
        if e.is_some() && e == b.voice_epoch() && e == c.voice_epoch() {
            keyed = true;
            break;
        }
    }
    assert!(keyed, "the members never agreed on a room key: {:?} {:?} {:?}", a.voice_epoch(), b.voice_epoch(), c.voice_epoch());
    let first = a.voice_epoch();

    let audio = b"\x4f\x67\x67\x53 twenty milliseconds of opus from a".to_vec();
    assert!(a.send_voice(&audio).await.unwrap());
    let got = pump(&mut [&mut a, &mut b, &mut c, &mut d], 3).await;
    let want = (pa.user_id().unwrap(), b64.encode(&audio));
    assert_eq!(voice_data(&got[1]), std::slice::from_ref(&want), "b hears a");
    assert_eq!(voice_data(&got[2]), std::slice::from_ref(&want), "c hears a");
    let seen = voice_data(&got[3]);
    assert_eq!(seen.len(), 1, "the member outside the key gets the frame as the relay carries it");
    let raw = b64.decode(&seen[0].1).unwrap();
    assert_ne!(seen[0].1, want.1);
    assert!(!raw.windows(16).any(|w| audio.windows(16).any(|x| x == w)), "the relay carries ciphertext only");

    // The outsider sends the captured frame on, tampered: the members drop it.
    let mut bad = raw.clone();
    bad[20] ^= 0x40;
    d.send(&aethex_protocol::multiplayer::ClientMessage::VoiceFrame { data: b64.encode(&bad) }).await.unwrap();
    d.send(&aethex_protocol::multiplayer::ClientMessage::VoiceFrame { data: seen[0].1.clone() }).await.unwrap();
    let got = pump(&mut [&mut a, &mut b, &mut c, &mut d], 3).await;
    assert!(voice_data(&got[1]).is_empty() && voice_data(&got[2]).is_empty(), "nothing from outside the key is handed out");
    assert!(b.voice_dropped() >= 2 && c.voice_dropped() >= 2, "{} {}", b.voice_dropped(), c.voice_dropped());

    // c leaves: a (the host) rekeys, b gets the new key, and they go on.
    c.leave_room().await.unwrap();
    let mut rekeyed = false;
    for _ in 0..50 {
        pump(&mut [&mut a, &mut b, &mut c, &mut d], 1).await;
        let e = a.voice_epoch();
        if e.is_some() && e > first && e == b.voice_epoch() {
            rekeyed = true;
            break;
        }
    }
    assert!(rekeyed, "no new key after a member left: {first:?} -> {:?} / {:?}", a.voice_epoch(), b.voice_epoch());
    assert!(b.send_voice(b"after c left").await.unwrap());
    let got = pump(&mut [&mut a, &mut b, &mut d], 3).await;
    assert_eq!(voice_data(&got[0]), [(pb.user_id().unwrap(), b64.encode(b"after c left"))]);
    assert_eq!(voice_data(&got[2]).len(), 1);
}

/// `aethex serve` on TLS with a self-signed certificate and no `extra_ca_file`: the
/// process trusts the certificate it serves, so the embedded relay registers, the edge
/// replicates, and origin opens a match's room at its own relay.
#[tokio::test]
async fn the_single_binary_on_a_self_signed_certificate_reaches_itself() {
    let ca = aethex_tests::tls::TestCa::new();
    let pem = ca.self_signed("self.pem", "self-key.pem", &["127.0.0.1"]);
    let (cert, key) = (ca.path("self.pem").display().to_string(), ca.path("self-key.pem").display().to_string());
    let mut origin = Origin::start(&[
        ("AETHEX_TLS__CERT_FILE", cert.as_str()),
        ("AETHEX_TLS__KEY_FILE", key.as_str()),
        ("AETHEX_MULTIPLAYER__EMBEDDED_RELAY", "true"),
        ("AETHEX_EDGE__EMBEDDED", "true"),
    ]);
    origin.ca_pem = Some(pem.into_bytes());
    let edge = origin.edge_url.clone().expect("the embedded edge");
    assert!(edge.starts_with("https://"), "{edge}");
    regions_when(&origin, "the embedded relay never reached origin", |list| {
        list["regions"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["name"] == "local" && r["url"].as_str().is_some_and(|u| u.starts_with("wss://"))))
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let at_edge = origin.http().get(format!("{edge}/edge/healthz")).send().await.ok();
        let replicating = match at_edge {
            // A position once the replica has its snapshot from origin.
            Some(r) => r.json::<Value>().await.map(|h| h["position"].as_i64().is_some()).unwrap_or(false),
            None => false,
        };
        if replicating {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the embedded edge never replicated from origin");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Origin calls its embedded relay too (it opens the match's room there).
    let game = origin.game("self-signed-game").await;
    two_player_mode(&origin, &game, "duel").await;
    let (a, b) = (game.player().await, game.player().await);
    let relay_url = match_and_play(&a, &b, "duel", &["local"], Encoding::Json).await;
    assert!(relay_url.starts_with("wss://"), "{relay_url}");
}

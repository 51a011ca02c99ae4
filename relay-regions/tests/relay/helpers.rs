//! Test harness: a real origin (`aethex` binary, for keys, tokens and the region list), a
//! real relay (`aethex-relay`, this crate's binary) on 127.0.0.1:0, and WebSocket clients
//! (tokio-tungstenite) that speak the protocol with typed messages.

use std::process::Command;
use std::time::{Duration, Instant};

use aethex_protocol::multiplayer::{ClientMessage, Encoding, RoomOptions, RoomTicketClaims, ServerMessage, TICKET_AUDIENCE};
use aethex_tests::{spawn_listening, GameFixture, Origin, Proc};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

pub type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long a test waits for an expected message.
pub const WAIT: Duration = Duration::from_secs(5);

pub const REGION: &str = "test-west";

/// A running relay process. Killed on drop.
pub struct RelayProc {
    /// `http://127.0.0.1:<port>`
    pub http: String,
    /// `ws://127.0.0.1:<port>/v1/multiplayer`
    pub ws: String,
    /// The public URL it registers (`ws://127.0.0.1:<port>`).
    pub public: String,
    /// `127.0.0.1:<port>` of its UDP endpoint.
    pub udp: String,
    /// `http://127.0.0.1:<port>` of its metrics listener.
    pub metrics: String,
    pub region: String,
    pub cluster_key: String,
    pub proc: Proc,
}

impl RelayProc {
    /// Starts `aethex-relay` against `origin` with extra `AETHEX_*` settings.
    pub fn start(origin: &Origin, region: &str, env: &[(&str, &str)]) -> Self {
        let key = origin.relay_key();
        // AETHEX_RELAY_BIN: another build of the relay (a release build for measurements).
        let bin = std::env::var("AETHEX_RELAY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_aethex-relay").to_string());
        let mut cmd = Command::new(bin);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AETHEX_RELAY__REGION", region)
            .env("AETHEX_RELAY__LISTEN", "127.0.0.1:0")
            .env("AETHEX_RELAY__UDP_LISTEN", "127.0.0.1:0")
            .env("AETHEX_RELAY__ORIGIN_URL", &origin.url)
            .env("AETHEX_RELAY__CLUSTER_KEY", &key)
            .env("AETHEX_RELAY__HEARTBEAT_SECS", "1")
            .env("AETHEX_LOG__LEVEL", if std::env::var("TEST_LOG").is_ok() { "debug" } else { "warn" })
            .envs(env.iter().copied())
            .stderr(if std::env::var("TEST_LOG").is_ok() { std::process::Stdio::inherit() } else { std::process::Stdio::null() });
        let (proc, rx) = spawn_listening(&mut cmd, "aethex-relay");
        let (line, http) = rx.recv_timeout(Duration::from_secs(30)).expect("aethex-relay did not print its URL within 30 s");
        let word_after = |marker: &str| line.split(marker).nth(1).and_then(|r| r.split([',', ' ', ')']).next()).unwrap_or_default().to_string();
        let public = word_after("(public ");
        let udp = word_after(" as ");
        let metrics = aethex_tests::metrics_url_in(&line).expect("aethex-relay did not print its metrics URL");
        Self { http, ws: format!("{public}/v1/multiplayer"), public, udp, metrics, region: region.to_string(), cluster_key: key, proc }
    }
}

/// An origin with one game, and a relay of region [`REGION`].
pub struct World {
    pub origin: Origin,
    pub game: GameFixture,
    pub relay: RelayProc,
}

pub fn unique_game() -> String {
    format!("game-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

impl World {
    pub async fn start(relay_env: &[(&str, &str)]) -> Self {
        let origin = Origin::start(&[]);
        let game = origin.game(&unique_game()).await;
        let relay = RelayProc::start(&origin, REGION, relay_env);
        Self { origin, game, relay }
    }

    /// A new guest player of the game.
    pub async fn player(&self) -> Player {
        player_of(&self.game).await
    }

    /// A new player, connected and authenticated (JSON).
    pub async fn client(&self) -> Client {
        let p = self.player().await;
        Client::connect(&self.relay, &p.token, Encoding::Json).await
    }

    /// Signs a room ticket with origin's signing key (what origin's matchmaker does).
    pub fn ticket(&self, claims: &RoomTicketClaims) -> String {
        sign_with_origin_key(&self.origin, claims)
    }

    /// Claims of a valid ticket for `player` to `room` of `match_id` in this region.
    pub fn claims(&self, player: &str, room: &str, match_id: &str) -> RoomTicketClaims {
        let now = now_secs();
        RoomTicketClaims {
            iss: "aethex".into(),
            aud: TICKET_AUDIENCE.into(),
            sub: player.into(),
            game: self.game.game_id.clone(),
            room: room.into(),
            region: self.relay.region.clone(),
            match_id: match_id.into(),
            iat: now,
            exp: now + 300,
        }
    }

    /// `POST /v1/rooms` with the cluster key; (status, body).
    pub async fn open_room(&self, body: Value, key: Option<&str>) -> (u16, Value) {
        let mut req = reqwest::Client::new().post(format!("{}/v1/rooms", self.relay.http)).json(&body);
        if let Some(k) = key {
            req = req.header("x-aethex-relay-key", k);
        }
        let resp = req.send().await.expect("POST /v1/rooms");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Opens a match room for this game; its id.
    pub async fn open_match_room(&self, match_id: &str, max_players: u32, players: &[&str]) -> String {
        let (s, body) = self
            .open_room(
                json!({"game_id": self.game.game_id, "match_id": match_id, "mode": "duel", "max_players": max_players, "players": players}),
                Some(&self.relay.cluster_key),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        body["room_id"].as_str().expect("room_id").to_string()
    }
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

pub struct Player {
    pub id: String,
    pub token: String,
}

pub async fn player_of(game: &GameFixture) -> Player {
    let c = game.player().await;
    Player { id: c.user_id().expect("user id"), token: c.token().expect("token") }
}

/// Signs any claims as origin does (EdDSA with the active key of
/// `<data_dir>/keys/jwt-signing.json`, its `kid` in the header).
pub fn sign_with_origin_key<T: serde::Serialize>(origin: &Origin, claims: &T) -> String {
    let file: Value = serde_json::from_str(&std::fs::read_to_string(origin.data_dir.join("keys/jwt-signing.json")).unwrap()).unwrap();
    let active = file["keys"].as_array().and_then(|k| k.last()).expect("a signing key");
    let seed = STANDARD.decode(active["secret"].as_str().unwrap()).unwrap();
    sign_with_seed(&seed, active["kid"].as_str().unwrap(), claims)
}

/// Signs with an Ed25519 seed (a foreign key when the seed is not origin's).
pub fn sign_with_seed<T: serde::Serialize>(seed: &[u8], kid: &str, claims: &T) -> String {
    let mut der = vec![0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
    der.extend_from_slice(seed);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_ed_der(&der)).unwrap()
}

/// A relay client.
pub struct Client {
    pub ws: Ws,
    pub encoding: Encoding,
    pub player_id: String,
    pub resume_token: Option<String>,
}

/// Opens a WebSocket to the relay (nothing sent yet).
pub async fn dial(relay: &RelayProc) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async(&relay.ws).await.expect("WebSocket to the relay");
    ws
}

pub fn encode(m: &ClientMessage, encoding: Encoding) -> Message {
    match encoding {
        Encoding::Json => Message::Text(serde_json::to_string(m).unwrap().into()),
        Encoding::Msgpack => Message::Binary(rmp_serde::to_vec_named(m).unwrap().into()),
    }
}

/// What came off the socket.
#[derive(Debug)]
pub enum Got {
    Msg(ServerMessage),
    /// A frame in the other encoding than agreed (a test failure; shown by `Debug`).
    #[allow(dead_code)]
    WrongEncoding(ServerMessage),
    Closed(Option<CloseFrame>),
    Timeout,
}

pub async fn read(ws: &mut Ws, encoding: Encoding, wait: Duration) -> Got {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let frame = match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return Got::Timeout,
            Ok(None) | Ok(Some(Err(_))) => return Got::Closed(None),
            Ok(Some(Ok(f))) => f,
        };
        return match frame {
            Message::Text(t) => {
                let m: ServerMessage = serde_json::from_str(t.as_str()).unwrap_or_else(|e| panic!("relay sent bad JSON {t}: {e}"));
                if encoding == Encoding::Json {
                    Got::Msg(m)
                } else {
                    Got::WrongEncoding(m)
                }
            }
            Message::Binary(b) => {
                let m: ServerMessage = rmp_serde::from_slice(&b).unwrap_or_else(|e| panic!("relay sent bad MessagePack: {e}"));
                if encoding == Encoding::Msgpack {
                    Got::Msg(m)
                } else {
                    Got::WrongEncoding(m)
                }
            }
            Message::Close(c) => Got::Closed(c),
            _ => continue,
        };
    }
}

impl Client {
    /// Dials, sends `auth` (JSON text, as the SDK does), waits for `auth_ok`.
    pub async fn connect(relay: &RelayProc, token: &str, encoding: Encoding) -> Self {
        Self::connect_resume(relay, token, encoding, None).await.0
    }

    /// Like [`Client::connect`] with a resume token; also returns `auth_ok.resumed`.
    pub async fn connect_resume(relay: &RelayProc, token: &str, encoding: Encoding, resume: Option<String>) -> (Self, bool) {
        let mut ws = dial(relay).await;
        let auth = ClientMessage::Auth { token: token.into(), encoding, resume: resume.clone() };
        ws.send(encode(&auth, Encoding::Json)).await.unwrap();
        match read(&mut ws, encoding, WAIT).await {
            Got::Msg(ServerMessage::AuthOk { player_id, encoding: e, tick_hz, resumed }) => {
                assert_eq!(e, encoding);
                assert!(tick_hz > 0);
                (Self { ws, encoding, player_id, resume_token: resume.filter(|_| resumed) }, resumed)
            }
            other => panic!("expected auth_ok, got {other:?}"),
        }
    }

    pub async fn send(&mut self, m: &ClientMessage) {
        let f = encode(m, self.encoding);
        self.ws.send(f).await.expect("send to relay");
    }

    pub async fn send_json(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.expect("send to relay");
    }

    /// The next message (panics on close or after [`WAIT`]).
    pub async fn next(&mut self) -> ServerMessage {
        match read(&mut self.ws, self.encoding, WAIT).await {
            Got::Msg(m) => {
                if let ServerMessage::RoomJoined { resume_token, .. } = &m {
                    self.resume_token = Some(resume_token.clone());
                }
                m
            }
            other => panic!("{}: expected a message, got {other:?}", self.player_id),
        }
    }

    /// The first message `pick` accepts; others are skipped (state batches and pings, or
    /// events the test does not look at). Panics after [`WAIT`].
    pub async fn expect<T>(&mut self, what: &str, mut pick: impl FnMut(&ServerMessage) -> Option<T>) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match read(&mut self.ws, self.encoding, left).await {
                Got::Msg(m) => {
                    if let ServerMessage::RoomJoined { resume_token, .. } = &m {
                        self.resume_token = Some(resume_token.clone());
                    }
                    if let Some(v) = pick(&m) {
                        return v;
                    }
                }
                other => panic!("{}: waiting for {what}, got {other:?}", self.player_id),
            }
        }
    }

    /// The next `error` (code, reason), skipping other messages.
    pub async fn expect_error(&mut self) -> (i32, String) {
        self.expect("error", |m| match m {
            ServerMessage::Error { code, reason, .. } => Some((*code, reason.clone().unwrap_or_default())),
            _ => None,
        })
        .await
    }

    /// Waits for `disconnect {reason}` then the close frame; (reason, close frame).
    pub async fn expect_disconnect(&mut self) -> (String, Option<CloseFrame>) {
        expect_disconnect(&mut self.ws, self.encoding).await
    }

    /// Everything that arrives within `wait`.
    pub async fn collect(&mut self, wait: Duration) -> Vec<ServerMessage> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            match read(&mut self.ws, self.encoding, deadline.saturating_duration_since(tokio::time::Instant::now())).await {
                Got::Msg(m) => out.push(m),
                Got::Timeout => return out,
                other => panic!("{}: while collecting, got {other:?}", self.player_id),
            }
        }
    }

    pub async fn create_room(&mut self, max_players: u32, password: Option<&str>) -> ServerMessage {
        let options = RoomOptions { max_players, password: password.map(str::to_string), properties: Default::default() };
        self.send(&ClientMessage::CreateRoom { options, player_data: json!({"name": self.player_id}) }).await;
        self.joined().await
    }

    pub async fn join_code(&mut self, code: &str, password: Option<&str>) -> ServerMessage {
        self.send(&join(code, password)).await;
        self.joined().await
    }

    pub async fn joined(&mut self) -> ServerMessage {
        self.expect("room_joined", |m| match m {
            ServerMessage::RoomJoined { .. } => Some(m.clone()),
            ServerMessage::Error { .. } => panic!("expected room_joined, got {m:?}"),
            _ => None,
        })
        .await
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

pub fn join(code: &str, password: Option<&str>) -> ClientMessage {
    ClientMessage::JoinRoom { room_id: Some(code.into()), ticket: None, password: password.map(str::to_string), player_data: json!({"lvl": 1}) }
}

pub async fn expect_disconnect(ws: &mut Ws, encoding: Encoding) -> (String, Option<CloseFrame>) {
    let deadline = Instant::now() + WAIT;
    let reason = loop {
        match read(ws, encoding, deadline.saturating_duration_since(Instant::now())).await {
            Got::Msg(ServerMessage::Disconnect { reason }) => break reason,
            Got::Msg(_) => continue,
            other => panic!("expected disconnect, got {other:?}"),
        }
    };
    match read(ws, encoding, WAIT).await {
        Got::Closed(frame) => (reason, frame),
        other => panic!("expected the close frame after disconnect, got {other:?}"),
    }
}

/// The code of a `room_joined`.
pub fn code_of(m: &ServerMessage) -> String {
    match m {
        ServerMessage::RoomJoined { code: Some(c), .. } => c.clone(),
        other => panic!("no code in {other:?}"),
    }
}

pub fn room_of(m: &ServerMessage) -> String {
    match m {
        ServerMessage::RoomJoined { room_id, .. } => room_id.clone(),
        other => panic!("not room_joined: {other:?}"),
    }
}

/// Two connected players in one private room: (host, guest, code).
pub async fn pair(w: &World) -> (Client, Client, String) {
    let mut a = w.client().await;
    let code = code_of(&a.create_room(8, None).await);
    let mut b = w.client().await;
    b.join_code(&code, None).await;
    let bid = b.player_id.clone();
    a.expect("player_joined", |m| matches!(m, ServerMessage::PlayerJoined { player } if player.player_id == bid).then_some(())).await;
    (a, b, code)
}

/// `GET` on the relay; (status, body text).
pub async fn get(url: &str) -> (u16, String) {
    let resp = reqwest::get(url).await.expect("GET");
    (resp.status().as_u16(), resp.text().await.unwrap_or_default())
}

/// A metric's value from `/metrics` (first sample line of that name, labels included).
pub async fn metric(relay: &RelayProc, sample: &str) -> f64 {
    let (_, text) = get(&format!("{}/metrics", relay.metrics)).await;
    text.lines().find_map(|l| l.strip_prefix(sample).and_then(|r| r.strip_prefix(' ')).and_then(|v| v.trim().parse().ok())).unwrap_or(f64::NAN)
}

//! End-to-end encrypted relayed voice: only the room's members can read a frame; the
//! relay, and anyone reading its traffic, carries ciphertext.
//!
//! - **Keys.** Each member makes an X25519 key pair for the room and sends its public key
//!   to every other member through the relay's signalling (`voice_signal`, kind
//!   `e2e-pub`): on joining to everyone there, to each player who joins later, and in
//!   answer to each key it had not seen (a member that turned voice on late missed it).
//! - **The room key.** The room's host (the relay's host, migrated when it leaves) draws a
//!   random 256-bit key with an epoch number and seals it for each member it has a public
//!   key of (`e2e-key`): ChaCha20-Poly1305 under a key derived (HKDF-SHA256) from the
//!   pair's X25519 secret, bound to the room, the epoch and both ids. A member accepts a
//!   room key only from the current host and only with a newer epoch.
//! - **Frames.** `epoch (4 bytes) ‖ counter (8) ‖ ChaCha20-Poly1305 ciphertext`, under a key
//!   derived from the room key for that sender and epoch, with the counter as the nonce
//!   (never reused: the key is new every epoch and the counter only grows) and the room,
//!   epoch and sender as associated data. A frame of another epoch, from someone not in
//!   the key, tampered with, or replayed is dropped.
//! - **Rekey on every join and leave.** The host sends a new room key whenever it learns a
//!   member's public key and whenever a member leaves, naming who holds it (bound into the
//!   seal). When a holder leaves, everyone stops sending under that key until the host's
//!   next one arrives: the player who left cannot read what is said after. A new host
//!   rekeys at once.
//! - The relay could hand out its own public keys (a man in the middle); [`VoiceCrypto::fingerprint`]
//!   gives a short code players can compare out of band.

use std::collections::{BTreeSet, HashMap};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

/// `voice_signal` kind carrying a member's public key.
pub const KIND_PUBLIC_KEY: &str = "e2e-pub";
/// `voice_signal` kind carrying the room key sealed for one member.
pub const KIND_ROOM_KEY: &str = "e2e-key";
/// Bytes a sealed frame adds to the audio: epoch, counter and tag.
pub const FRAME_OVERHEAD: usize = 4 + 8 + 16;

/// A signalling message the SDK must send.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    pub to: String,
    pub kind: &'static str,
    pub payload: Value,
}

struct RoomKey {
    epoch: u32,
    key: [u8; 32],
    /// Who was given this key (the host included): a departure pauses sending only if
    /// the player who left holds the key.
    holders: BTreeSet<String>,
}

/// At most this many holders are read from a room key (a room has at most 64 seats).
const MAX_HOLDERS: usize = 64;

fn holders_aad(holders: &BTreeSet<String>) -> String {
    holders.iter().map(String::as_str).collect::<Vec<_>>().join("\u{1}")
}

/// One member's view of a room's voice keys (no I/O: the session feeds it events and
/// sends what it returns).
pub struct VoiceCrypto {
    room: String,
    me: String,
    host: String,
    secret: StaticSecret,
    public: PublicKey,
    /// The other members.
    members: BTreeSet<String>,
    /// Their public keys, as they sent them.
    keys: HashMap<String, PublicKey>,
    current: Option<RoomKey>,
    /// Highest epoch this member handed out (as host) or accepted.
    epoch: u32,
    counter: u64,
    /// A member left: nothing is sent until a newer room key arrives.
    paused: bool,
    /// Per sender: the epoch and highest counter accepted.
    seen: HashMap<String, (u32, u64)>,
    dropped: u64,
}

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    b
}

fn derive(ikm: &[u8], salt: &str, info: &[&str]) -> Key {
    let hk = Hkdf::<Sha256>::new(Some(salt.as_bytes()), ikm);
    let mut out = [0u8; 32];
    let info: Vec<u8> = info.join("\u{0}").into_bytes();
    hk.expand(&info, &mut out).expect("32 bytes is a valid HKDF-SHA256 length");
    Key::from(out)
}

impl VoiceCrypto {
    /// Joins the room's voice: `others` are the members besides `me`. Returns the public
    /// key for each of them.
    pub fn new(room: &str, me: &str, host: &str, others: impl IntoIterator<Item = String>) -> (Self, Vec<Signal>) {
        let secret = StaticSecret::from(random32());
        let public = PublicKey::from(&secret);
        let mut v = Self {
            room: room.to_string(),
            me: me.to_string(),
            host: host.to_string(),
            secret,
            public,
            members: others.into_iter().filter(|p| p != me).collect(),
            keys: HashMap::new(),
            current: None,
            epoch: 0,
            counter: 0,
            paused: false,
            seen: HashMap::new(),
            dropped: 0,
        };
        let mut out: Vec<Signal> = v.members.iter().map(|m| v.public_key_for(m)).collect();
        if v.is_host() {
            out.extend(v.rekey());
        }
        (v, out)
    }

    fn is_host(&self) -> bool {
        self.host == self.me
    }

    fn public_key_for(&self, to: &str) -> Signal {
        Signal { to: to.to_string(), kind: KIND_PUBLIC_KEY, payload: json!({ "key": B64.encode(self.public.as_bytes()) }) }
    }

    /// A short code of this member's public key, to compare out of band.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.public.as_bytes());
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Frames dropped so far (wrong key, tampered, replayed, from outside the key).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The room key's epoch this member sends under (`None`: none yet, or paused after a
    /// departure until the new key arrives).
    pub fn sending_epoch(&self) -> Option<u32> {
        self.current.as_ref().filter(|_| !self.paused).map(|k| k.epoch)
    }

    fn pair_key(&self, other: &str) -> Option<Key> {
        let theirs = self.keys.get(other)?;
        let shared = self.secret.diffie_hellman(theirs);
        // A low-order public key gives an all-zero secret anyone can compute.
        if !shared.was_contributory() {
            return None;
        }
        let (a, b) = if self.me.as_str() < other { (self.me.as_str(), other) } else { (other, self.me.as_str()) };
        Some(derive(shared.as_bytes(), &self.room, &["aethex voice pair", a, b]))
    }

    fn seal_room_key(&self, to: &str) -> Option<Signal> {
        let k = self.current.as_ref()?;
        let pair = self.pair_key(to)?;
        let nonce: [u8; 12] = random32()[..12].try_into().expect("12 of 32 bytes");
        let aad = self.key_aad(k.epoch, &self.me, to, &k.holders);
        let sealed = ChaCha20Poly1305::new(&pair).encrypt(Nonce::from_slice(&nonce), Payload { msg: &k.key, aad: aad.as_bytes() }).ok()?;
        Some(Signal {
            to: to.to_string(),
            kind: KIND_ROOM_KEY,
            payload: json!({ "epoch": k.epoch, "holders": k.holders, "nonce": B64.encode(nonce), "sealed": B64.encode(sealed) }),
        })
    }

    /// As host: a new room key for everyone whose public key is known (on every join and
    /// departure, so each key's holders are exactly the members of its time).
    fn rekey(&mut self) -> Vec<Signal> {
        self.epoch = self.epoch.saturating_add(1);
        let mut holders: BTreeSet<String> = self.members.iter().filter(|m| self.pair_key(m).is_some()).cloned().collect();
        holders.insert(self.me.clone());
        self.current = Some(RoomKey { epoch: self.epoch, key: random32(), holders });
        self.counter = 0;
        self.paused = false;
        let to: Vec<String> = self.current.as_ref().map(|k| k.holders.iter().filter(|h| **h != self.me).cloned().collect()).unwrap_or_default();
        to.iter().filter_map(|m| self.seal_room_key(m)).collect()
    }

    /// `player_joined`: the newcomer gets this member's public key.
    pub fn player_joined(&mut self, player: &str) -> Vec<Signal> {
        if player == self.me {
            return Vec::new();
        }
        self.members.insert(player.to_string());
        vec![self.public_key_for(player)]
    }

    /// `player_left`: no more sending under the key they hold; the host sends a new one.
    pub fn player_left(&mut self, player: &str) -> Vec<Signal> {
        if !self.members.remove(player) {
            return Vec::new();
        }
        self.keys.remove(player);
        self.seen.remove(player);
        if self.current.as_ref().is_some_and(|k| k.holders.contains(player)) {
            self.paused = true;
        }
        if self.is_host() {
            self.rekey()
        } else {
            Vec::new()
        }
    }

    /// `host_changed`: a new host starts a new key at once.
    pub fn host_changed(&mut self, host: &str) -> Vec<Signal> {
        self.host = host.to_string();
        if self.is_host() {
            self.rekey()
        } else {
            Vec::new()
        }
    }

    /// A `voice_signal` of one of this module's kinds (others are not for it: `None`).
    pub fn signal(&mut self, from: &str, kind: &str, payload: &Value) -> Option<Vec<Signal>> {
        match kind {
            KIND_PUBLIC_KEY => {
                let key = payload["key"].as_str().and_then(|k| B64.decode(k).ok()).and_then(|k| <[u8; 32]>::try_from(k).ok());
                let (Some(key), true) = (key, self.members.contains(from)) else {
                    return Some(Vec::new());
                };
                let key = PublicKey::from(key);
                if self.keys.insert(from.to_string(), key).is_some_and(|old| old == key) {
                    return Some(Vec::new());
                }
                // A member that turned end-to-end voice on after this one announced itself
                // never saw this one's key: answer each new key with ours (the answer to an
                // answer is a key already known, so it stops there), before any room key
                // sealed for it, which it could not open without ours. The host then makes
                // a new room key that includes the member.
                let mut out = vec![self.public_key_for(from)];
                if self.is_host() {
                    out.extend(self.rekey());
                }
                Some(out)
            }
            KIND_ROOM_KEY => {
                self.accept_room_key(from, payload);
                Some(Vec::new())
            }
            _ => None,
        }
    }

    fn accept_room_key(&mut self, from: &str, payload: &Value) {
        if from != self.host {
            return;
        }
        let Some(epoch) = payload["epoch"].as_u64().and_then(|e| u32::try_from(e).ok()) else { return };
        if self.current.as_ref().is_some_and(|k| epoch <= k.epoch) {
            return;
        }
        let Some(list) = payload["holders"].as_array().filter(|h| h.len() <= MAX_HOLDERS) else { return };
        let holders: BTreeSet<String> = list.iter().filter_map(|h| h.as_str().map(str::to_string)).collect();
        if holders.len() != list.len() || !holders.contains(&self.me) || !holders.contains(from) {
            return;
        }
        let nonce = payload["nonce"].as_str().and_then(|n| B64.decode(n).ok()).filter(|n| n.len() == 12);
        let sealed = payload["sealed"].as_str().and_then(|s| B64.decode(s).ok());
        let (Some(nonce), Some(sealed), Some(pair)) = (nonce, sealed, self.pair_key(from)) else { return };
        let aad = self.key_aad(epoch, from, &self.me, &holders);
        let Ok(key) = ChaCha20Poly1305::new(&pair).decrypt(Nonce::from_slice(&nonce), Payload { msg: &sealed, aad: aad.as_bytes() }) else {
            return;
        };
        let Ok(key) = <[u8; 32]>::try_from(key) else { return };
        self.current = Some(RoomKey { epoch, key, holders });
        self.epoch = self.epoch.max(epoch);
        self.counter = 0;
        self.paused = false;
    }

    /// What a sealed room key is bound to: the room, its epoch, who sealed it for whom, and
    /// who holds it.
    fn key_aad(&self, epoch: u32, from: &str, to: &str, holders: &BTreeSet<String>) -> String {
        format!("room key\u{0}{}\u{0}{epoch}\u{0}{from}\u{0}{to}\u{0}{}", self.room, holders_aad(holders))
    }

    /// A frame's cipher (per sender and epoch), nonce (the counter) and associated data.
    fn frame_params(&self, key: &RoomKey, sender: &str, counter: u64) -> (ChaCha20Poly1305, [u8; 12], String) {
        let cipher = ChaCha20Poly1305::new(&derive(&key.key, &self.room, &["aethex voice frame", &key.epoch.to_string(), sender]));
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&counter.to_be_bytes());
        (cipher, nonce, format!("frame\u{0}{}\u{0}{}\u{0}{sender}", self.room, key.epoch))
    }

    /// Encrypts one frame of audio for the room: the `voice_frame` `data` (base64), or
    /// `None` while this member holds no current room key.
    pub fn seal(&mut self, audio: &[u8]) -> Option<String> {
        let key = self.current.as_ref().filter(|_| !self.paused)?;
        let counter = self.counter.checked_add(1)?;
        let (cipher, nonce, aad) = self.frame_params(key, &self.me, counter);
        let sealed = cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: audio, aad: aad.as_bytes() }).ok()?;
        let mut out = Vec::with_capacity(12 + sealed.len());
        out.extend_from_slice(&key.epoch.to_be_bytes());
        out.extend_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(&sealed);
        self.counter = counter;
        Some(B64.encode(out))
    }

    /// Decrypts a `voice_frame` from `from`; `None` (and counted as dropped) when it is
    /// not for the current key, tampered with, replayed, or not base64.
    pub fn open(&mut self, from: &str, data: &str) -> Option<Vec<u8>> {
        let out = self.try_open(from, data);
        if out.is_none() {
            self.dropped += 1;
        }
        out
    }

    fn try_open(&mut self, from: &str, data: &str) -> Option<Vec<u8>> {
        let raw = B64.decode(data).ok()?;
        if raw.len() < FRAME_OVERHEAD || !self.members.contains(from) {
            return None;
        }
        let epoch = u32::from_be_bytes(raw[..4].try_into().ok()?);
        let counter = u64::from_be_bytes(raw[4..12].try_into().ok()?);
        let key = self.current.as_ref().filter(|k| k.epoch == epoch)?;
        if self.seen.get(from).is_some_and(|&(e, c)| e == epoch && counter <= c) {
            return None;
        }
        let (cipher, nonce, aad) = self.frame_params(key, from, counter);
        let audio = cipher.decrypt(Nonce::from_slice(&nonce), Payload { msg: &raw[12..], aad: aad.as_bytes() }).ok()?;
        self.seen.insert(from.to_string(), (epoch, counter));
        Some(audio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Members exchanging signals as the relay would (each signal to its `to`).
    struct Room {
        members: Vec<(String, VoiceCrypto)>,
    }

    impl Room {
        /// In order, as the relay delivers them.
        fn deliver(&mut self, from: &str, out: Vec<Signal>) {
            let mut queue: std::collections::VecDeque<(String, Signal)> = out.into_iter().map(|s| (from.to_string(), s)).collect();
            while let Some((sender, s)) = queue.pop_front() {
                if let Some((id, m)) = self.members.iter_mut().find(|(id, _)| *id == s.to) {
                    let replies = m.signal(&sender, s.kind, &s.payload).expect("our kinds");
                    queue.extend(replies.into_iter().map(|r| (id.clone(), r)));
                }
            }
        }

        fn join(&mut self, id: &str, host: &str) {
            let others: Vec<String> = self.members.iter().map(|(m, _)| m.clone()).collect();
            let (v, out) = VoiceCrypto::new("room-1", id, host, others.clone());
            self.members.push((id.to_string(), v));
            for o in others {
                let out = self.get(&o).player_joined(id);
                self.deliver(&o, out);
            }
            self.deliver(id, out);
        }

        fn get(&mut self, id: &str) -> &mut VoiceCrypto {
            &mut self.members.iter_mut().find(|(m, _)| m == id).unwrap().1
        }

        fn leave(&mut self, id: &str) -> VoiceCrypto {
            let i = self.members.iter().position(|(m, _)| m == id).unwrap();
            let (_, gone) = self.members.remove(i);
            let ids: Vec<String> = self.members.iter().map(|(m, _)| m.clone()).collect();
            for o in ids {
                let out = self.get(&o).player_left(id);
                self.deliver(&o, out);
            }
            gone
        }
    }

    #[test]
    fn members_read_each_other_the_relay_sees_ciphertext_and_leavers_are_locked_out() {
        let mut room = Room { members: Vec::new() };
        room.join("alice", "alice");
        room.join("bob", "alice");
        room.join("carol", "alice");
        let audio = b"opus frame: hello everyone".to_vec();
        let data = room.get("bob").seal(&audio).expect("bob has the room key");
        // What the relay carries is not the audio.
        let on_the_wire = B64.decode(&data).unwrap();
        assert!(!on_the_wire.windows(8).any(|w| audio.windows(8).any(|a| a == w)));
        assert_eq!(room.get("alice").open("bob", &data), Some(audio.clone()));
        assert_eq!(room.get("carol").open("bob", &data), Some(audio.clone()));
        // Replayed: dropped.
        assert_eq!(room.get("carol").open("bob", &data), None);
        // Tampered anywhere (epoch, counter, ciphertext, tag): dropped.
        for i in [0, 5, 12, on_the_wire.len() - 1] {
            let mut bad = on_the_wire.clone();
            bad[i] ^= 1;
            assert_eq!(room.get("alice").open("bob", &B64.encode(&bad)), None, "byte {i}");
        }
        // Claimed by another member: the sender is bound to the key.
        let data2 = room.get("bob").seal(&audio).unwrap();
        assert_eq!(room.get("alice").open("carol", &data2), None);
        assert_eq!(room.get("alice").open("bob", &data2), Some(audio.clone()));

        // Carol leaves; the others rekey; she cannot read what is said after.
        let mut carol = room.leave("carol");
        let after = room.get("bob").seal(b"after carol left").expect("the new key arrived");
        assert_eq!(room.get("alice").open("bob", &after), Some(b"after carol left".to_vec()));
        carol.members.insert("bob".into());
        assert_eq!(carol.open("bob", &after), None, "a member who left cannot read frames sent after");
        // Someone outside the key (a member the others never keyed) is dropped.
        let (mut mallory, _) = VoiceCrypto::new("room-1", "mallory", "mallory", ["alice".to_string()]);
        let forged = mallory.seal(b"hi").expect("mallory made her own key");
        room.get("alice").members.insert("mallory".into());
        assert_eq!(room.get("alice").open("mallory", &forged), None);
        assert!(room.get("alice").dropped() >= 6);
    }

    /// Bob turns voice on after alice announced her key to him (he was not listening yet):
    /// his own announcement gets hers back, ahead of the room key sealed for him.
    #[test]
    fn a_member_who_turns_voice_on_late_still_gets_the_key() {
        let mut room = Room { members: Vec::new() };
        room.join("alice", "alice");
        let (bob, out) = VoiceCrypto::new("room-1", "bob", "alice", ["alice".to_string()]);
        room.members.push(("bob".to_string(), bob));
        let _missed = room.get("alice").player_joined("bob");
        room.deliver("bob", out);
        assert!(room.get("bob").sending_epoch().is_some(), "bob got the room key");
        let data = room.get("bob").seal(b"late but heard").unwrap();
        assert_eq!(room.get("alice").open("bob", &data), Some(b"late but heard".to_vec()));
        let back = room.get("alice").seal(b"and answered").unwrap();
        assert_eq!(room.get("bob").open("alice", &back), Some(b"and answered".to_vec()));
    }

    #[test]
    fn the_host_alone_hands_out_keys_and_a_new_host_rekeys() {
        let mut room = Room { members: Vec::new() };
        room.join("alice", "alice");
        room.join("bob", "alice");
        room.join("carol", "alice");
        let e1 = room.get("bob").sending_epoch().unwrap();
        // A room key from a member who is not the host is ignored.
        let bob_key = room.get("bob").current.as_ref().map(|k| k.key).unwrap();
        let carol_view = room.get("carol").current.as_ref().map(|k| k.key).unwrap();
        assert_eq!(bob_key, carol_view);
        let forged = {
            let bob = room.get("bob");
            bob.current = Some(RoomKey { epoch: 99, key: [7; 32], holders: ["bob".to_string(), "carol".to_string()].into() });
            bob.seal_room_key("carol").unwrap()
        };
        room.get("carol").signal("bob", forged.kind, &forged.payload);
        assert_eq!(room.get("carol").sending_epoch(), Some(e1), "only the host's keys count");
        // Alice (the host) leaves; bob is the new host and rekeys.
        room.leave("alice");
        assert_eq!(room.get("carol").sending_epoch(), None, "paused until the new key");
        // The relay tells everyone before the new host can answer: carol hears it first.
        for id in ["carol", "bob"] {
            let out = room.get(id).host_changed("bob");
            room.deliver(id, out);
        }
        let e = room.get("carol").sending_epoch().expect("bob's key arrived");
        assert!(e > e1);
        let data = room.get("carol").seal(b"x").unwrap();
        assert_eq!(room.get("bob").open("carol", &data), Some(b"x".to_vec()));
    }

    #[test]
    fn hostile_signals_do_not_break_the_keys() {
        let (mut v, _) = VoiceCrypto::new("r", "me", "host", ["host".to_string()]);
        for payload in [
            json!(null),
            json!({"key": "not base64"}),
            json!({"key": B64.encode([0u8; 31])}),
            json!({"epoch": -1}),
            json!({"epoch": 1, "nonce": "AAAA", "sealed": "AAAA"}),
        ] {
            assert_eq!(v.signal("host", KIND_PUBLIC_KEY, &payload), Some(Vec::new()));
            assert_eq!(v.signal("host", KIND_ROOM_KEY, &payload), Some(Vec::new()));
        }
        assert_eq!(v.signal("host", "offer", &json!({})), None, "other kinds are the game's");
        // A low-order public key (all zeros) gives no pair key.
        v.signal("host", KIND_PUBLIC_KEY, &json!({"key": B64.encode([0u8; 32])}));
        assert!(v.pair_key("host").is_none());
        assert_eq!(v.seal(b"x"), None, "no room key yet");
        assert_eq!(v.open("host", "@@@"), None);
        assert_eq!(v.open("host", &B64.encode([0u8; 40])), None);
        assert_eq!(v.dropped(), 2);
    }
}

/// The frame both SDKs must produce for fixed inputs (the Godot addon's suite checks the
/// same bytes): room `room-1`, sender `alice`, epoch 1, counter 1, room key 32 × 0x07.
#[cfg(test)]
mod shared_vector {
    use super::*;

    pub const FRAME: &str = "AAAAAQAAAAAAAAABM/jh7TqzNkz98aV/gt/nvfcl5uuG";

    #[test]
    fn a_fixed_frame_is_the_same_in_every_sdk() {
        let (mut v, _) = VoiceCrypto::new("room-1", "alice", "bob", ["bob".to_string()]);
        v.current = Some(RoomKey { epoch: 1, key: [7; 32], holders: ["alice".to_string(), "bob".to_string()].into() });
        let data = v.seal(b"hello").unwrap();
        println!("frame vector: {data}");
        assert_eq!(data, FRAME);
        let (mut bob, _) = VoiceCrypto::new("room-1", "bob", "bob", ["alice".to_string()]);
        bob.current = Some(RoomKey { epoch: 1, key: [7; 32], holders: ["alice".to_string(), "bob".to_string()].into() });
        assert_eq!(bob.open("alice", FRAME), Some(b"hello".to_vec()));
    }
}

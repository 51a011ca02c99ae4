extends Node
## Drives the real stack through the addon, as a game would. Two copies run at once
## (role=a, role=b on the command line after `--`): "a" runs the whole suite, "b" signs in
## and plays the match with "a". Prints PASS/FAIL lines and "N passed, M failed".

var passed := 0
var failed := 0
var role := "a"
var cfg: Dictionary = {}


func check(name: String, ok: bool, detail: Variant = "") -> bool:
	if ok:
		passed += 1
		print("[%s] PASS %s" % [role, name])
	else:
		failed += 1
		if detail is RefCounted and detail.get("success") != null:
			detail = {"status": detail.status, "data": detail.data, "error": detail.error}
		print("[%s] FAIL %s: %s" % [role, name, str(detail)])
	return ok


func _ready() -> void:
	for a in OS.get_cmdline_user_args():
		if a.begins_with("role="):
			role = a.substr(5)
	cfg = JSON.parse_string(FileAccess.get_file_as_string("res://test_config.json"))
	AeThexCloud.configure(cfg["api"], cfg["client_key"], {"game_id": cfg["game_id"]})
	print("[%s] AeThexCloud test on Godot %s against %s" % [role, Engine.get_version_info()["string"], cfg["api"]])
	if role == "a":
		await suite_a()
	else:
		await suite_b()
	print("[%s] %d passed, %d failed" % [role, passed, failed])
	get_tree().quit(0 if failed == 0 else 1)


## Known answers of the end-to-end voice primitives (RFC 7748 6.1, RFC 8439 2.8.2,
## RFC 5869 A.1): the same bytes as the Rust SDK's crates.
func crypto_vectors() -> void:
	var C = preload("res://addons/aethex_cloud/e2e_crypto.gd")
	var a_sk := "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a".hex_decode()
	var b_sk := "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb".hex_decode()
	var t := Time.get_ticks_msec()
	var a_pk: PackedByteArray = C.x25519_public(a_sk)
	var ms := Time.get_ticks_msec() - t
	var b_pk: PackedByteArray = C.x25519_public(b_sk)
	check("x25519 public keys (RFC 7748)", a_pk.hex_encode() == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a" and b_pk.hex_encode() == "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", [a_pk.hex_encode(), b_pk.hex_encode()])
	var shared := "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
	check("x25519 shared secret both ways (RFC 7748)", C.x25519(a_sk, b_pk).hex_encode() == shared and C.x25519(b_sk, a_pk).hex_encode() == shared)
	print("[%s] one X25519 product in GDScript: %d ms" % [role, ms])
	var key := PackedByteArray()
	for i in 32:
		key.append(0x80 + i)
	var nonce := "070000004041424344454647".hex_decode()
	var aad := "50515253c0c1c2c3c4c5c6c7".hex_decode()
	var text := "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".to_utf8_buffer()
	var sealed: PackedByteArray = C.seal(key, nonce, text, aad)
	check("chacha20-poly1305 seal (RFC 8439)", sealed.slice(0, 16).hex_encode() == "d31a8d34648e60db7b86afbc53ef7ec2" and sealed.slice(sealed.size() - 16).hex_encode() == "1ae10b594f09e26a7e902ecbd0600691", sealed.hex_encode())
	check("chacha20-poly1305 open", C.open(key, nonce, sealed, aad) == text)
	var bad := sealed.duplicate()
	bad[5] ^= 1
	check("chacha20-poly1305 refuses a tampered ciphertext", C.open(key, nonce, bad, aad) == null and C.open(key, nonce, sealed, "00".hex_decode()) == null)
	var ikm := PackedByteArray()
	for i in 22:
		ikm.append(0x0b)
	var okm: PackedByteArray = C.hkdf32(ikm, "000102030405060708090a0b0c".hex_decode(), "f0f1f2f3f4f5f6f7f8f9".hex_decode())
	check("hkdf-sha256 (RFC 5869)", okm.hex_encode() == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf", okm.hex_encode())
	# The frame the Rust SDK makes for the same inputs (sdk/rust/src/voice.rs, shared_vector).
	var V = preload("res://addons/aethex_cloud/e2e_voice.gd")
	var alice = V.new()
	alice.room = "room-1"
	alice.me = "alice"
	alice.members = {"bob": true}
	var seven := PackedByteArray()
	for i in 32:
		seven.append(7)
	alice.current = {"epoch": 1, "key": seven, "holders": ["alice", "bob"]}
	var frame: String = alice.seal_frame("hello".to_utf8_buffer())
	check("voice frame bytes match the Rust SDK's", frame == "AAAAAQAAAAAAAAABM/jh7TqzNkz98aV/gt/nvfcl5uuG", frame)
	var bob = V.new()
	bob.room = "room-1"
	bob.me = "bob"
	bob.members = {"alice": true}
	bob.current = alice.current
	var heard = bob.open_frame("alice", "AAAAAQAAAAAAAAABM/jh7TqzNkz98aV/gt/nvfcl5uuG")
	check("a Rust SDK frame opens in Godot", heard != null and heard.get_string_from_utf8() == "hello", heard)
	check("a replayed frame is dropped", bob.open_frame("alice", frame) == null and bob.dropped == 1)


func suite_a() -> void:
	await crypto_vectors()
	var run: String = cfg["run_id"]
	var email := "godot-%s@example.com" % run
	var username := "godot%s" % run.substr(0, 10)
	# Accounts.
	var r = await AeThexCloud.auth.register(email, "godot-password-1", username)
	check("auth.register", r.success and AeThexCloud.auth.get_current_user().get("username") == username, r)
	r = await AeThexCloud.auth.logout()
	check("auth.logout", r.success and not AeThexCloud.auth.is_signed_in(), r)
	r = await AeThexCloud.auth.login_email(email, "wrong-password-1")
	check("auth.login_email refuses a wrong password", not r.success and r.status == 401 and r.error.has("code"), r)
	r = await AeThexCloud.auth.login_email(email, "godot-password-1")
	check("auth.login_email", r.success and AeThexCloud.auth.get_current_user().get("user_id", "") != "", r)
	r = await AeThexCloud.auth.login_oauth("nosuchprovider")
	check("auth.login_oauth answers with an error object for an unknown provider", not r.success and r.status >= 400 and r.status < 500, r)
	# An access token the server refuses is renewed with the refresh token, once.
	AeThexCloud.core.token = "not.a.valid-token"
	r = await AeThexCloud.saves.list()
	check("expired token refreshed automatically", r.success and AeThexCloud.core.token != "not.a.valid-token", r)

	# Saves, with a conflict from "another device".
	r = await AeThexCloud.saves.save("slot1", {"level": 3, "coins": 10})
	check("saves.save", r.success and int(r.data["version"]) == 1, r)
	r = await AeThexCloud.saves.load("slot1")
	check("saves.load", r.success and int(r.data["level"]) == 3, r)
	r = await AeThexCloud.saves.save("slot1", {"level": 4, "coins": 10})
	check("saves.save (next version)", r.success and int(r.data["version"]) == 2 and AeThexCloud.saves.versions["slot1"] == 2, r)
	var conflicts := []
	AeThexCloud.saves.conflict.connect(func(slot, local, server): conflicts.append([slot, local, server]))
	AeThexCloud.saves.versions["slot1"] = 1  # this device last saw version 1
	r = await AeThexCloud.saves.save("slot1", {"level": 3, "coins": 99})
	var current = r.error.get("data", {}).get("current", {})
	check("saves.save conflict answers 409 with the server copy", not r.success and r.status == 409 and current is Dictionary and int(current.get("data", {}).get("level", 0)) == 4, r)
	check("saves conflict signal", conflicts.size() == 1 and conflicts[0][0] == "slot1", conflicts)
	r = await AeThexCloud.saves.save("slot1", {"level": 3, "coins": 99}, {"on_conflict": "merge"})
	var merged_ok: bool = r.success and r.data.get("merged", false)
	if merged_ok:
		var loaded = await AeThexCloud.saves.load("slot1")
		merged_ok = loaded.success and int(loaded.data["level"]) == 4 and int(loaded.data["coins"]) == 99
	check("saves conflict resolved by a three-way merge", merged_ok, r)
	r = await AeThexCloud.saves.list()
	check("saves.list", r.success and r.data["saves"].size() == 1, r)

	# Leaderboards and achievements.
	var board: String = cfg["board"]
	r = await AeThexCloud.social.leaderboards.submit_score(board, 1000)
	check("leaderboards.submit_score", r.success and int(r.data["entry"]["rank"]) >= 1, r)
	r = await AeThexCloud.social.leaderboards.get(board, {"limit": 10})
	var me: String = AeThexCloud.auth.get_current_user()["user_id"]
	check("leaderboards.get", r.success and r.data["entries"].any(func(e): return e["user_id"] == me and int(e["score"]) == 1000), r)
	r = await AeThexCloud.social.leaderboards.get(board, {"around_player": true, "limit": 5})
	check("leaderboards.get around the player", r.success and r.data["entries"].any(func(e): return e["user_id"] == me), r)
	# The game's own logic (the example component): a score it refuses, a custom RPC.
	r = await AeThexCloud.social.leaderboards.submit_score(board, 50000000)
	check("game logic refuses an impossible score with its reason", not r.success and r.status == 403 and r.error.get("data", {}).get("reason", "") == "impossible score 50000000", r)
	r = await AeThexCloud.logic.rpc("inventory", {"add": {"sword": 2}})
	check("logic.rpc (custom RPC with key-value storage)", r.success and r.data is Dictionary and int(r.data["items"]["sword"]) == 2 and r.data["user_id"] == me, r)
	r = await AeThexCloud.logic.rpc("inventory", {"add": {"sword": 5000}})
	check("logic.rpc refusal reaches the game", not r.success and r.status == 400 and r.error.get("data", {}).get("reason", "") == "sword: add 1 to 1000", r)
	r = await AeThexCloud.social.achievements.unlock(cfg["achievement"])
	check("achievements.unlock", r.success and r.data["newly_unlocked"], r)
	r = await AeThexCloud.social.achievements.get_all()
	check("achievements.get_all", r.success and int(r.data["unlocked"]) == 1, r)

	# Analytics with the offline queue.
	r = await AeThexCloud.analytics.set_consent(true)
	check("analytics consent", r.success, r)
	AeThexCloud.analytics.track_event("level_completed", {"level": 5, "time": 120.5, "deaths": 3})
	AeThexCloud.analytics.track_metric("fps", 60.0)
	AeThexCloud.analytics.track_screen("main_menu")
	AeThexCloud.analytics.set_user_property("vip_status", true)
	r = await AeThexCloud.analytics.flush()
	check("analytics.flush", r.success and int(r.data["accepted"]) == 4 and AeThexCloud.analytics.queued() == 0, r)
	var api: String = AeThexCloud.core.base_url
	AeThexCloud.core.base_url = "http://127.0.0.1:9"
	AeThexCloud.analytics.track_event("offline_win", {})
	r = await AeThexCloud.analytics.flush()
	check("analytics kept queued while offline", not r.success and AeThexCloud.analytics.queued() == 1, r)
	AeThexCloud.core.base_url = api
	r = await AeThexCloud.analytics.flush()
	check("analytics queue sent once back online", r.success and int(r.data["accepted"]) == 1 and AeThexCloud.analytics.queued() == 0, r)

	# Saves made offline are sent again by auto sync.
	var synced := []
	AeThexCloud.saves.synced.connect(func(slot, version): synced.append([slot, version]))
	AeThexCloud.saves.enable_auto_sync(true, 0.3)
	AeThexCloud.core.base_url = "http://127.0.0.1:9"
	r = await AeThexCloud.saves.save("offline_slot", {"coins": 5})
	check("saves made offline are kept for auto sync", not r.success and r.status == 0 and "offline_slot" in AeThexCloud.saves.pending(), r)
	AeThexCloud.core.base_url = api
	var until := Time.get_ticks_msec() + 10000
	while synced.is_empty() and Time.get_ticks_msec() < until:
		await get_tree().create_timer(0.1).timeout
	r = await AeThexCloud.saves.load("offline_slot")
	check("auto sync sends them once back online", not synced.is_empty() and AeThexCloud.saves.pending().is_empty() and r.success and int(r.data["coins"]) == 5, synced)
	AeThexCloud.saves.enable_auto_sync(false)

	await play_match()


func suite_b() -> void:
	var r = await AeThexCloud.auth.login_device("godot-device-" + str(cfg["run_id"]))
	check("auth.login_device", r.success and AeThexCloud.auth.is_signed_in(), r)
	await play_match()


## Both roles: queue, match, join the room, exchange state and an RPC.
func play_match() -> void:
	var mp = AeThexCloud.multiplayer
	var found := []
	mp.matchmaking.match_found.connect(func(m): found.append(m))
	var r = await mp.matchmaking.join_queue({"mode": cfg["mode"]})
	check("matchmaking.join_queue", r.success, r)
	var until := Time.get_ticks_msec() + 40000
	while found.is_empty() and Time.get_ticks_msec() < until:
		await get_tree().create_timer(0.1).timeout
	if not check("matchmaking match_found", not found.is_empty(), mp.matchmaking.ticket):
		return
	r = await mp.join_room(found[0], "", {"role": role})
	if not check("multiplayer.join_room", r.success and r.data.get("room_id") == found[0]["room_id"], r):
		return
	var states := {}
	var rpcs := []
	mp.player_state_received.connect(func(id, state): states[id] = state.duplicate())
	mp.rpc_received.connect(func(from, method, args): rpcs.append([from, method, args]))
	var other := "b" if role == "a" else "a"
	until = Time.get_ticks_msec() + 20000
	var seen := false
	while Time.get_ticks_msec() < until and not seen:
		mp.send_state({"role": role, "x": 1.5, "hp": 100})
		await get_tree().create_timer(0.1).timeout
		seen = states.values().any(func(s): return s.get("role") == other)
	check("multiplayer player_state_received from the other client", seen, states)
	mp.rpc("greet", "all", ["hello from " + role])
	until = Time.get_ticks_msec() + 10000
	var greets := []
	while greets.is_empty() and Time.get_ticks_msec() < until:
		mp.send_state({"role": role, "x": 2.0, "hp": 100})
		await get_tree().create_timer(0.1).timeout
		greets = rpcs.filter(func(r): return r[1] == "greet")
	check("multiplayer rpc_received", greets.size() >= 1 and greets[0][2][0] == "hello from " + other, rpcs)
	# The game's logic (the example component) runs this room at the relay and greets each player.
	check("game logic's room greets the player", rpcs.any(func(r): return r[0] == "server" and r[1] == "welcome"), rpcs)
	# Voice sealed end to end: the two members agree on a room key through the relay's
	# signalling and hear each other; the relay carries ciphertext only.
	var heard := []
	mp.voice.frame_received.connect(func(from, audio): heard.append(audio.get_string_from_utf8()))
	var fp: String = mp.voice.enable_e2e()
	check("voice.enable_e2e gives a key fingerprint", fp.length() == 12, fp)
	until = Time.get_ticks_msec() + 30000
	var mine := "voice from " + role
	while not heard.has("voice from " + other) and Time.get_ticks_msec() < until:
		mp.voice.send_audio(mine.to_utf8_buffer())
		mp.send_state({"role": role, "x": 2.0, "hp": 100})
		await get_tree().create_timer(0.1).timeout
	check("voice end to end: hears the other member", heard.has("voice from " + other), [heard, mp.voice.e2e.sending_epoch(), mp.voice.e2e.dropped])
	# Stay until the other side has heard this one too.
	for _i in 10:
		mp.voice.send_audio(mine.to_utf8_buffer())
		await get_tree().create_timer(0.1).timeout
	mp.voice.enable(true)
	mp.voice.mute_player(greets[0][0] if not greets.is_empty() else "", true)
	if role == "a":
		# A dropped socket is opened again and the seat taken back with the resume token.
		var back := []
		mp.reconnected.connect(func(): back.append(true))
		mp._ws.close()
		until = Time.get_ticks_msec() + 10000
		while back.is_empty() and Time.get_ticks_msec() < until:
			await get_tree().create_timer(0.1).timeout
		check("multiplayer reconnects and resumes its seat", not back.is_empty() and mp.is_connected_to_relay() and mp.room.get("room_id") == found[0]["room_id"], mp.room)
	# The match's relay dies: both clients follow the match to the room origin opens on
	# the region's other relay, and each sends its last state again.
	var moved := []
	mp.reconnected.connect(func(): moved.append(mp.room.get("room_id")))
	var old_room = found[0]["room_id"]
	# b gets here first (a was resuming): both states are sent before a kills the relay.
	mp.send_state({"role": role, "x": 7.0 if role == "a" else 9.0, "hp": 100})
	if role == "a":
		await get_tree().create_timer(0.5).timeout
		var port: String = str(mp._url).get_slice(":", 2).get_slice("/", 0)
		var http := HTTPRequest.new()
		add_child(http)
		http.request(str(cfg["control"]) + "/kill-relay?port=" + port)
		await http.request_completed
		http.queue_free()
	states.clear()
	until = Time.get_ticks_msec() + 40000
	while (moved.is_empty() or not states.values().any(func(s): return s.get("role") == other)) and Time.get_ticks_msec() < until:
		await get_tree().create_timer(0.1).timeout
	check("multiplayer follows its match to another relay", not moved.is_empty() and moved[0] != old_room and mp.room.get("room_id") == moved[0], [moved, mp.room])
	var theirs: Dictionary = {}
	for s in states.values():
		if s.get("role") == other:
			theirs = s
	var want := 7.0 if other == "a" else 9.0
	check("multiplayer state after the move", float(theirs.get("x", -1)) == want, states)
	# Stay a moment so the other client gets what it waits for, then leave.
	await get_tree().create_timer(2.0).timeout
	mp.disconnect_from_relay()

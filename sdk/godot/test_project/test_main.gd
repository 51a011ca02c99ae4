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


func suite_a() -> void:
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

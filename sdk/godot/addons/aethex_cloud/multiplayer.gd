extends RefCounted
## `AeThexCloud.multiplayer`: region pings, matchmaking and the relay's rooms (the seed's
## WebSocket protocol, JSON frames). One room at a time per client.
##
##     AeThexCloud.multiplayer.matchmaking.join_queue({"mode": "duel"})
##     AeThexCloud.multiplayer.matchmaking.match_found.connect(func(m): AeThexCloud.multiplayer.join_room(m))
##     AeThexCloud.multiplayer.player_state_received.connect(func(id, state): ...)
##
## A dropped connection is opened again on its own with the seat's resume token
## (`reconnected` then fires). When the relay of a match is gone, origin opens the match's
## room on another relay of the region; the addon follows it (through the matchmaking
## ticket), joins, sends its last state again, and `reconnected` fires too.
## `disconnected` fires when the room is gone for good. A private room's code works on
## any relay of the region: a relay that does not hold it sends the client on
## (`redirect`).

signal room_joined(room: Dictionary)
signal room_left(room_id: String, reason: String)
signal player_joined(player: Dictionary)
signal player_left(player_id: String, reason: String)
signal player_state_received(player_id: String, state: Dictionary)
signal rpc_received(from: String, method: String, args: Array)
signal chat_received(from: String, text: String)
signal host_changed(host: String)
signal message_received(message: Dictionary)
signal reconnected()
signal disconnected(reason: String)

const Matchmaking = preload("res://addons/aethex_cloud/matchmaking.gd")
const Voice = preload("res://addons/aethex_cloud/voice.gd")

var matchmaking
var voice
## The current room (`room_id`, `host`, `players`, ...), empty outside one.
var room: Dictionary = {}
## Each other player's state in the room, with every field received so far merged (the
## relay sends only what changed); `player_state_received` gives this merged state.
var player_states: Dictionary = {}
var player_id := ""
## Retries of a dropped connection before `disconnected`.
var max_reconnects := 5
## How long a match whose relay died is waited for on another relay (seconds).
var match_move_timeout_sec := 30.0

var _core
var _ws: WebSocketPeer
var _url := ""
var _resume := ""
var _tick := 0
var _waiters: Array = []
var _reconnects := 0
var _leaving := false
## The match joined (its `match_found`), followed when its room moves.
var _match: Dictionary = {}
## The last state this client sent (sent again in a moved room).
var _last_state: Dictionary = {}


func _init(core) -> void:
	_core = core
	matchmaking = Matchmaking.new(core, self)
	voice = Voice.new(self)


## Live regions with the round trip to each (ms), nearest first: `data` is
## `[{"region", "rtt_ms"}]`.
func ping_regions():
	var r = await _core.request("GET", "/api/v1/regions", null, false)
	if not r.success:
		return r
	var out: Array = []
	for region in r.data.get("regions", []):
		var t0 := Time.get_ticks_msec()
		var node: Node = await _core.runtime()
		var http := HTTPRequest.new()
		http.timeout = 3.0
		node.add_child(http)
		if http.request(str(region["ping_url"])) == OK:
			var done: Array = await http.request_completed
			if done[0] == HTTPRequest.RESULT_SUCCESS and done[1] == 200:
				out.append({"region": region["name"], "rtt_ms": Time.get_ticks_msec() - t0})
		http.queue_free()
	out.sort_custom(func(a, b): return a["rtt_ms"] < b["rtt_ms"])
	return _core.ok(out)


## The seed's `join_room`: a match from `match_found` (its Dictionary), or a private
## room's code or id on `relay_url` (default: the nearest region's relay).
func join_room(target: Variant, password: String = "", player_data: Dictionary = {}, relay_url: String = ""):
	var msg := {"type": "join_room", "player_data": player_data}
	if target is Dictionary:
		msg["room_id"] = target.get("room_id")
		msg["ticket"] = target.get("room_ticket")
		relay_url = str(target.get("relay_url", relay_url))
		_match = target
	else:
		msg["room_id"] = str(target)
		if password != "":
			msg["password"] = password
		_match = {}
	var c = await _ensure_connected(relay_url)
	if not c.success:
		return c
	_send(msg)
	return await _await_join(msg)


## Creates a private room (`max_players`, `password`, `properties`) and joins it; the
## room's `code` is what friends join with.
func create_room(options: Dictionary, player_data: Dictionary = {}, relay_url: String = ""):
	var c = await _ensure_connected(relay_url)
	if not c.success:
		return c
	_send({"type": "create_room", "options": options, "player_data": player_data})
	return await _await_join()


func leave_room() -> void:
	_leaving = true
	if not room.is_empty():
		_send({"type": "leave_room"})
	room = {}
	_resume = ""
	_match = {}


## Ends the connection to the relay.
func disconnect_from_relay() -> void:
	leave_room()
	if _ws != null:
		_ws.close(1000, "bye")
	_ws = null


## The seed's `send_state({...})`: this player's fields; the relay sends the others only
## what changed. Acknowledges the newest tick received.
func send_state(data: Dictionary) -> void:
	_last_state = data.duplicate(true)
	_send({"type": "state_update", "timestamp": int(Time.get_unix_time_from_system() * 1000.0), "data": data, "ack": _tick})


## The seed's `rpc`: to a player id, "all" or "host".
func rpc(method: String, target: String, args: Array = []) -> void:
	_send({"type": "rpc", "method": method, "target": target, "args": args})


func chat(text: String, to: String = "") -> void:
	var m := {"type": "chat", "text": text}
	if to != "":
		m["to"] = to
	_send(m)


func is_connected_to_relay() -> bool:
	return _ws != null and _ws.get_ready_state() == WebSocketPeer.STATE_OPEN


func _send(msg: Dictionary) -> void:
	if _ws != null and _ws.get_ready_state() == WebSocketPeer.STATE_OPEN:
		_ws.send_text(JSON.stringify(msg))


func _ws_url(url: String) -> String:
	url = url.rstrip("/")
	if url.begins_with("http://"):
		url = "ws://" + url.substr(7)
	elif url.begins_with("https://"):
		url = "wss://" + url.substr(8)
	if not url.ends_with("/v1/multiplayer"):
		url += "/v1/multiplayer"
	return url


func _ensure_connected(relay_url: String):
	if relay_url == "":
		if _url != "":
			relay_url = _url
		else:
			var regions = await _core.request("GET", "/api/v1/regions", null, false)
			if not regions.success or regions.data.get("regions", []).is_empty():
				return _core.fail("no live region to connect to")
			relay_url = str(regions.data["regions"][0]["url"])
	relay_url = _ws_url(relay_url)
	if is_connected_to_relay() and relay_url == _url:
		return _core.ok(null)
	_url = relay_url
	_leaving = false
	return await _open()


## Opens the socket and authenticates (resuming the seat when there is one).
func _open():
	if _core.token == "":
		return _core.fail("sign in first", 401, -32001)
	_ws = WebSocketPeer.new()
	if _ws.connect_to_url(_url) != OK:
		return _core.fail("cannot connect to " + _url)
	var tree := Engine.get_main_loop() as SceneTree
	var deadline = Time.get_ticks_msec() + int(_core.timeout_sec * 1000.0)
	while _ws.get_ready_state() == WebSocketPeer.STATE_CONNECTING and Time.get_ticks_msec() < deadline:
		_ws.poll()
		await tree.process_frame
	if _ws.get_ready_state() != WebSocketPeer.STATE_OPEN:
		return _core.fail("relay %s did not answer" % _url)
	var auth = {"type": "auth", "token": _core.token, "encoding": "json"}
	if _resume != "":
		auth["resume"] = _resume
	_ws.send_text(JSON.stringify(auth))
	var node: Node = await _core.runtime()
	node.poll_every_frame(_poll.bind(_ws))
	var answer = await _wait_for(["auth_ok", "error", "disconnect"])
	if answer.get("type") != "auth_ok":
		return _core.fail("relay refused the login: " + str(answer.get("message", answer.get("reason", ""))), 401)
	player_id = str(answer["player_id"])
	return _core.ok(answer)


## Waits for `room_joined`; a `redirect` (the private room is on another relay of the
## region) is followed once, sending `msg` again there.
func _await_join(msg: Dictionary = {}):
	var answer = await _wait_for(["room_joined", "redirect", "error", "disconnect"])
	if answer.get("type") == "redirect" and not msg.is_empty():
		var old = _ws
		_resume = ""
		var c = await _ensure_connected(str(answer.get("url", "")))
		if old != null and old != _ws:
			old.close(1000, "redirected")
		if not c.success:
			return c
		_send(msg)
		answer = await _wait_for(["room_joined", "error", "disconnect"])
	if answer.get("type") != "room_joined":
		return _core.fail(str(answer.get("message", answer.get("reason", "could not join"))), 409, int(answer.get("code", -32000)), answer)
	return _core.ok(room)


## Waits for the next message of one of `types` (or a closed socket).
func _wait_for(types: Array) -> Dictionary:
	var w := {"types": types, "done": false, "msg": {}}
	_waiters.append(w)
	var tree := Engine.get_main_loop() as SceneTree
	var deadline = Time.get_ticks_msec() + int(_core.timeout_sec * 1000.0)
	while not w["done"] and Time.get_ticks_msec() < deadline:
		await tree.process_frame
	_waiters.erase(w)
	if not w["done"]:
		return {"type": "error", "message": "the relay did not answer in time"}
	return w["msg"]


## Called every frame by the runtime while this socket lives.
func _poll(ws: WebSocketPeer) -> bool:
	if ws != _ws:
		return false
	ws.poll()
	while ws.get_available_packet_count() > 0:
		var text := ws.get_packet().get_string_from_utf8()
		var msg = JSON.parse_string(text)
		if msg is Dictionary:
			_handle(msg)
	if ws.get_ready_state() == WebSocketPeer.STATE_CLOSED:
		_on_closed(ws.get_close_code(), ws.get_close_reason())
		return false
	return true


func _handle(msg: Dictionary) -> void:
	var t = str(msg.get("type", ""))
	for w in _waiters:
		if not w["done"] and t in w["types"]:
			w["done"] = true
			w["msg"] = msg
			break
	match t:
		"room_joined":
			room = msg
			_resume = str(msg.get("resume_token", ""))
			_tick = int(msg.get("tick", 0))
			player_states = {}
			for s in msg.get("snapshot", []):
				if str(s.get("player_id")) != player_id:
					_merge_state(s)
			room_joined.emit(msg)
			for id in player_states:
				player_state_received.emit(id, player_states[id])
		"state_batch":
			_tick = int(msg.get("tick", _tick))
			for s in msg.get("states", []):
				player_state_received.emit(str(s["player_id"]), _merge_state(s))
		"player_joined":
			player_joined.emit(msg.get("player", {}))
		"player_left":
			player_states.erase(str(msg.get("player_id")))
			player_left.emit(str(msg.get("player_id")), str(msg.get("reason", "")))
		"room_left":
			room = {}
			_resume = ""
			room_left.emit(str(msg.get("room_id")), str(msg.get("reason", "")))
		"rpc":
			rpc_received.emit(str(msg.get("from")), str(msg.get("method")), msg.get("args", []))
		"chat":
			chat_received.emit(str(msg.get("from")), str(msg.get("text")))
		"host_changed":
			host_changed.emit(str(msg.get("host")))
		"auth_ok":
			if msg.get("resumed", false):
				reconnected.emit()
	message_received.emit(msg)


func _merge_state(s: Dictionary) -> Dictionary:
	var id := str(s.get("player_id"))
	var merged: Dictionary = player_states.get(id, {})
	merged.merge(s.get("data", {}), true)
	player_states[id] = merged
	return merged


func _on_closed(code: int, reason: String) -> void:
	_ws = null
	if _leaving or _resume == "":
		disconnected.emit("closed (%d) %s" % [code, reason])
		return
	# A drop: take the seat back with the resume token, a few times; a match whose relay
	# is gone is followed to the room origin opens for it on another relay.
	var tree := Engine.get_main_loop() as SceneTree
	while _reconnects < max_reconnects:
		_reconnects += 1
		await tree.create_timer(0.5 * _reconnects).timeout
		var r = await _open()
		if r.success:
			_reconnects = 0
			return
		if await _follow_moved_match():
			return
	var until := Time.get_ticks_msec() + int(match_move_timeout_sec * 1000.0)
	while not _match.is_empty() and Time.get_ticks_msec() < until:
		await tree.create_timer(0.5).timeout
		if await _follow_moved_match():
			return
	disconnected.emit("the relay is gone: %s" % reason)


## When the joined match got a room on another relay (its ticket says so), joins it and
## sends the last state again. Whether it did.
func _follow_moved_match() -> bool:
	var t: Dictionary = matchmaking.ticket
	if _match.is_empty() or t.is_empty():
		return false
	var r = await _core.request("GET", "/api/v1/matchmaking/tickets/" + _core.enc(str(t["ticket_id"])))
	if not r.success or not (r.data.get("match_found") is Dictionary):
		return false
	var m: Dictionary = r.data["match_found"]
	if m.get("match_id") != _match.get("match_id") or m.get("room_id") == _match.get("room_id"):
		return false
	_resume = ""
	_url = ""
	var j = await join_room(m, "", {})
	if not j.success:
		return false
	_reconnects = 0
	if not _last_state.is_empty():
		send_state(_last_state)
	reconnected.emit()
	return true

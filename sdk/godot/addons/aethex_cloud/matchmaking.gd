extends RefCounted
## `AeThexCloud.multiplayer.matchmaking`: queue with a ticket; `match_found` fires with
## the match (`room_id`, `relay_url`, `room_ticket`, `players`, `region`), which
## `AeThexCloud.multiplayer.join_room` takes as it is.

signal match_found(match_info: Dictionary)
signal ticket_ended(ticket: Dictionary)

var ticket: Dictionary = {}
var _core
var _mp
var _waiting := false


func _init(core, mp) -> void:
	_core = core
	_mp = mp


## The seed's `join_queue({...})`: `mode`, and optionally `skill`, `skill_range`,
## `party`, `properties`, `region`, `regions` (pinged here when absent).
func join_queue(params: Dictionary):
	var body := params.duplicate(true)
	if not body.has("regions") and not body.has("region"):
		var pings = await _mp.ping_regions()
		if pings.success:
			body["regions"] = pings.data
	var r = await _core.request("POST", "/api/v1/matchmaking/tickets", body)
	if r.success:
		ticket = r.data
		_wait()
	return r


## Leaves the queue.
func cancel():
	if ticket.is_empty():
		return _core.fail("not queued")
	var r = await _core.request("DELETE", "/api/v1/matchmaking/tickets/" + _core.enc(str(ticket["ticket_id"])))
	_waiting = false
	ticket = {}
	return r


## Long-polls the ticket until it is matched or ends.
func _wait() -> void:
	if _waiting:
		return
	_waiting = true
	while _waiting and not ticket.is_empty():
		var id := str(ticket["ticket_id"])
		var r = await _core.request("GET", "/api/v1/matchmaking/tickets/%s?wait_ms=10000" % _core.enc(id))
		if not _waiting:
			return
		if not r.success:
			if r.status == 404 or r.status == 403:
				break
			await (Engine.get_main_loop() as SceneTree).create_timer(1.0).timeout
			continue
		ticket = r.data
		var status = str(ticket.get("status", ""))
		if status == "matched" and ticket.get("match_found") != null:
			_waiting = false
			match_found.emit(ticket["match_found"])
			return
		if status != "queued" and status != "pending" and status != "searching":
			break
	_waiting = false
	ticket_ended.emit(ticket)

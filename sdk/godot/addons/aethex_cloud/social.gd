extends RefCounted
## `AeThexCloud.social`: `leaderboards`, `achievements`, `friends`, `stats`, share links.

const Leaderboards = preload("res://addons/aethex_cloud/leaderboards.gd")

var leaderboards
var achievements
var friends
var stats
var _core


func _init(core) -> void:
	_core = core
	leaderboards = Leaderboards.new(core)
	achievements = Achievements.new(core)
	friends = Friends.new(core)
	stats = Stats.new(core)


## A public link to the player's score on a board (`data.url`).
func share_score(leaderboard_id: String):
	return await _core.request("POST", "/api/v1/share", {"kind": "score", "leaderboard_id": leaderboard_id})


## A public link to an achievement the player unlocked.
func share_achievement(achievement_id: String):
	return await _core.request("POST", "/api/v1/share", {"kind": "achievement", "achievement_id": achievement_id})


class Achievements:
	extends RefCounted
	var _core

	func _init(core) -> void:
		_core = core

	## The seed's `unlock("first_kill")`; `data.newly_unlocked` tells whether this call did.
	func unlock(achievement_id: String):
		return await _core.request("POST", "/api/v1/achievements/%s/unlock" % _core.enc(achievement_id), {})

	## The seed's `set_progress("kill_100_enemies", 45)`: only goes up; unlocks at the target.
	func set_progress(achievement_id: String, progress: int):
		return await _core.request("POST", "/api/v1/achievements/%s/progress" % _core.enc(achievement_id), {"progress": progress})

	## The seed's `get_all()`: `data.achievements` with `name`, `unlocked`, `progress` each.
	func get_all():
		return await _core.request("GET", "/api/v1/achievements")


class Friends:
	extends RefCounted
	var _core

	func _init(core) -> void:
		_core = core

	## `data.friends` (each with `presence`: `online`, `region`, `in_room`), `incoming`,
	## `outgoing`, `blocked`.
	func list():
		return await _core.request("GET", "/api/v1/friends")

	func request(user_id: String):
		return await _core.request("POST", "/api/v1/friends/requests", {"user_id": user_id})

	func request_by_username(username: String):
		return await _core.request("POST", "/api/v1/friends/requests", {"username": username})

	func accept(user_id: String):
		return await _core.request("POST", "/api/v1/friends/%s/accept" % _core.enc(user_id), {})

	func decline(user_id: String):
		return await _core.request("POST", "/api/v1/friends/%s/decline" % _core.enc(user_id), {})

	func remove(user_id: String):
		return await _core.request("DELETE", "/api/v1/friends/" + _core.enc(user_id))

	func block(user_id: String):
		return await _core.request("POST", "/api/v1/friends/%s/block" % _core.enc(user_id), {})


class Stats:
	extends RefCounted
	var _core

	func _init(core) -> void:
		_core = core

	func get_all():
		return await _core.request("GET", "/api/v1/stats")

	## Adds `by` to a counter (atomically).
	func increment(stat: String, by: int = 1):
		return await _core.request("POST", "/api/v1/stats", {"increments": {stat: by}})

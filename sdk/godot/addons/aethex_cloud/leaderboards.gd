extends RefCounted
## `AeThexCloud.social.leaderboards`.

var _core


func _init(core) -> void:
	_core = core


## The seed's `submit_score("high_scores", 1000)`: `data.entry` has the player's rank.
func submit_score(leaderboard_id: String, score: int, metadata: Variant = null):
	var body := {"score": score}
	if metadata != null:
		body["metadata"] = metadata
	return await _core.request("POST", "/api/v1/leaderboards/%s/scores" % _core.enc(leaderboard_id), body)


## The seed's `get("high_scores", {...})`. `options`: `limit` (1-100, default 10),
## `cursor` (the previous page's `next_cursor`), `around_player` (true: centred on
## the player), `friends_only` (true: the player's friends and the player).
@warning_ignore("native_method_override")
func get(leaderboard_id: StringName, options: Dictionary = {}) -> Variant:
	var board = _core.enc(str(leaderboard_id))
	var limit = int(options.get("limit", 10))
	var path := "/api/v1/leaderboards/%s?limit=%d" % [board, limit]
	if options.get("around_player", false):
		path = "/api/v1/leaderboards/%s/around-me?limit=%d" % [board, limit]
	elif options.get("friends_only", false):
		path += "&range=friends"
	elif options.has("cursor"):
		path += "&cursor=" + _core.enc(str(options["cursor"]))
	return await _core.request("GET", path)

extends RefCounted
## The outcome of every AeThexCloud call that talks to the backend (await it):
## `success`, then `data` (the answer) or `error` (`code`, `message`, `data`: the server's
## JSON-RPC error object, or a local one with code -32000 when there was no answer).

var success: bool = false
var data: Variant = null
var error: Dictionary = {}
## HTTP status of the answer (0: none, e.g. offline).
var status: int = 0


func _to_string() -> String:
	if success:
		return "AeThexResult(ok %d)" % status
	return "AeThexResult(error %d %s)" % [status, error.get("message", "")]

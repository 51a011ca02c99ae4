extends RefCounted
## `AeThexCloud.logic`: the game's own server code (a WebAssembly component, see
## docs/logic.md in the AeThex Cloud repository).

var _core


func _init(core) -> void:
	_core = core


## Calls the game's custom RPC `name` (JSON-RPC `custom.<name>`) in the signed-in
## player's game. `payload`: a Dictionary. On success `data` is the component's answer; a
## refusal by the game's logic is `status` 400 with `error.data.reason`.
func rpc(name: String, payload: Dictionary = {}):
	var call := {"jsonrpc": "2.0", "id": "godot-" + name, "method": "custom." + name, "params": payload}
	var r = await _core.request("POST", "/api/v1/rpc", call)
	# A JSON-RPC answer: {"jsonrpc", "id", "result": {"success": true, "data": ...}}.
	if r.success and r.data is Dictionary:
		var result = r.data.get("result", {})
		r.data = result.get("data") if result is Dictionary else null
	return r

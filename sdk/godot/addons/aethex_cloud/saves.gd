extends RefCounted
## `AeThexCloud.saves`: cloud saves per slot, versioned. A save names the version it was
## based on (the last one this client saved or loaded); when another device wrote the
## slot since, the result fails with status 409 and `error.data.current` holds the
## server's copy, and the `conflict` signal fires. `on_conflict` chooses otherwise:
## "overwrite", "keep_both" (the server's copy stays, this one goes to a new slot) or
## "merge" (three-way JSON merge; `merge_prefer` "ours"/"theirs" settles clashes).
## With auto sync on, saves that could not reach the backend are kept and sent again.

signal conflict(slot: String, local_data: Variant, server_copy: Variant)
signal synced(slot: String, version: int)

var _core
## Slot -> version this client last saved or loaded.
var versions: Dictionary = {}
var _auto_sync := false
var _pending: Dictionary = {}


func _init(core) -> void:
	_core = core


## The seed's `save("slot1", data)`: `data` is the new version's metadata (`version`,
## `checksum`, `merged`, ...). `options`: `on_conflict`, `merge_prefer`, `metadata`.
func save(slot: String, data: Variant, options: Dictionary = {}):
	var body := {"slot_name": slot, "data": data}
	if versions.has(slot):
		body["base_version"] = versions[slot]
	for k in ["on_conflict", "merge_prefer", "metadata"]:
		if options.has(k):
			body[k] = options[k]
	var r = await _core.request("POST", "/api/v1/saves/me", body)
	if r.success:
		versions[slot] = int(r.data["version"])
		_pending.erase(slot)
		synced.emit(slot, versions[slot])
	elif r.status == 409:
		conflict.emit(slot, data, r.error.get("data", {}).get("current"))
	elif r.status == 0 and _auto_sync:
		_pending[slot] = [data, options]
	return r


## The seed's `load("slot1")`: `data` is the saved value (the newest version, or `version`).
func load(slot: String, version: int = 0):
	var path = "/api/v1/saves/me/" + _core.enc(slot)
	if version > 0:
		path += "?version=%d" % version
	var r = await _core.request("GET", path)
	if r.success:
		versions[slot] = int(r.data["metadata"]["version"])
		var answer: Dictionary = r.data
		r.data = answer.get("data")
		if r.data == null and answer.has("data_base64"):
			r.data = Marshalls.base64_to_raw(str(answer["data_base64"]))
	return r


## The seed's `list()`: `data.saves` (newest version of each slot), `used_bytes`, `quota_bytes`.
func list():
	return await _core.request("GET", "/api/v1/saves/me")


## Kept versions of a slot, newest first.
func history(slot: String):
	return await _core.request("GET", "/api/v1/saves/me/history?slot_name=" + _core.enc(slot))


func delete(slot: String):
	var r = await _core.request("DELETE", "/api/v1/saves/me/" + _core.enc(slot))
	if r.success:
		versions.erase(slot)
	return r


## The seed's `enable_auto_sync(true)`: saves made while the backend cannot be reached are
## kept (the newest per slot) and sent every `interval_sec` until they land.
func enable_auto_sync(enabled: bool, interval_sec: float = 10.0) -> void:
	var first := not _auto_sync and enabled
	_auto_sync = enabled
	if first:
		var node: Node = await _core.runtime()
		node.every(interval_sec, _sync_pending)


## Saves waiting to be sent (auto sync).
func pending() -> Array:
	return _pending.keys()


func _sync_pending() -> void:
	if not _auto_sync:
		return
	for slot in _pending.keys():
		var p: Array = _pending[slot]
		await save(slot, p[0], p[1])

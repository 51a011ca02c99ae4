extends RefCounted
## `AeThexCloud.cdn`: DLC updates. `check_for_updates` asks whether a newer release is
## on a channel; `download` fetches files of a release through the edge (which checks
## every chunk against the signed manifest's blake3 ids before answering) into `user://`.

var _core


func _init(core) -> void:
	_core = core


## `data`: `update_available`, `version`, `download_bytes`, ... for `channel` ("stable").
func check_for_updates(channel: String = "stable", current_version: String = ""):
	var path = "/api/v1/dlc/%s/%s/update" % [_core.enc(_core.game_id), _core.enc(channel)]
	if current_version != "":
		path += "?current=" + _core.enc(current_version)
	return await _core.request("GET", path)


## The channel's current signed manifest (`data.manifest` lists the files).
func get_manifest(channel: String = "stable"):
	return await _core.request("GET", "/api/v1/dlc/%s/%s/manifest" % [_core.enc(_core.game_id), _core.enc(channel)])


## Downloads the files of the channel's current release (all, or those in `only`) into
## `dest_dir` (default `user://dlc/<channel>`). `data`: `{"version", "files": [paths]}`.
func download(channel: String = "stable", dest_dir: String = "", only: Array = []):
	if dest_dir == "":
		dest_dir = "user://dlc/" + channel
	var m = await get_manifest(channel)
	if not m.success:
		return m
	var manifest = m.data.get("manifest")
	if manifest is String:
		manifest = JSON.parse_string(manifest)
	if not manifest is Dictionary:
		return _core.fail("the manifest is not readable")
	var written: Array = []
	for f in manifest.get("files", []):
		var rel = str(f.get("path", ""))
		if rel == "" or rel.contains("..") or (not only.is_empty() and not rel in only):
			continue
		var r = await _fetch(channel, rel)
		if not r.success:
			return r
		var target := dest_dir.path_join(rel)
		DirAccess.make_dir_recursive_absolute(target.get_base_dir())
		var out := FileAccess.open(target, FileAccess.WRITE)
		if out == null:
			return _core.fail("cannot write " + target)
		out.store_buffer(r.data)
		written.append(rel)
	return _core.ok({"version": manifest.get("version", ""), "files": written})


## One file's bytes (`data` is a PackedByteArray).
func _fetch(channel: String, rel: String):
	var segments = Array(rel.split("/")).map(func(seg): return _core.enc(seg))
	var path = "/api/v1/dlc/%s/%s/files/%s" % [_core.enc(_core.game_id), _core.enc(channel), "/".join(segments)]
	return await _core.request("GET", path, null, true, true)

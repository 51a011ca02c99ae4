extends RefCounted
## HTTP to the backend: JSON bodies, the client key, the bearer token (refreshed on
## expiry, and once more on a 401), the replication position for read-your-writes, and
## results as AeThexResult.

const Result = preload("res://addons/aethex_cloud/result.gd")
const RUNTIME_NAME := "AeThexCloudRuntime"
const RUNTIME_SCRIPT := "res://addons/aethex_cloud/runtime.gd"

signal signed_in(user: Dictionary)
signal signed_out()

var base_url := "http://127.0.0.1:8080"
var client_key := ""
var game_id := ""
var timeout_sec := 15.0
var token := ""
var refresh_token := ""
## Unix seconds the access token expires at.
var token_expires := 0.0
var user: Dictionary = {}
## Newest replication position this client wrote (edges answer reads after it).
var position := 0
var _refreshing := false


## The runtime node (the autoload, or one made on first use).
func runtime() -> Node:
	var tree := Engine.get_main_loop() as SceneTree
	var node := tree.root.get_node_or_null(RUNTIME_NAME)
	if node == null:
		node = load(RUNTIME_SCRIPT).new()
		node.name = RUNTIME_NAME
		tree.root.add_child.call_deferred(node)
		await tree.process_frame
	return node


func ok(value: Variant, http_status: int = 200) -> Result:
	var r := Result.new()
	r.success = true
	r.data = value
	r.status = http_status
	return r


func fail(message: String, http_status: int = 0, code: int = -32000, extra: Dictionary = {}) -> Result:
	var r := Result.new()
	r.success = false
	r.status = http_status
	r.error = {"code": code, "message": message, "data": extra}
	return r


func signed_in_as(answer: Dictionary) -> void:
	token = str(answer.get("token", ""))
	refresh_token = str(answer.get("refresh_token", refresh_token))
	token_expires = Time.get_unix_time_from_system() + float(answer.get("expires_in", 900))
	user = answer.get("user", {})
	signed_in.emit(user)


func sign_out() -> void:
	token = ""
	refresh_token = ""
	token_expires = 0.0
	user = {}
	signed_out.emit()


## One call. `body`: a Dictionary/Array (sent as JSON) or null. `authed`: send the token
## (refreshing it first when it is about to expire, and once more after a 401). `raw`: a
## file download: `data` is the answer's bytes (PackedByteArray), with 4x the timeout.
func request(method: String, path: String, body: Variant = null, authed: bool = true, raw: bool = false) -> Result:
	if authed and refresh_token != "" and Time.get_unix_time_from_system() > token_expires - 30.0:
		await refresh()
	var r: Result = await _send(method, path, body, authed, raw)
	if authed and r.status == 401 and refresh_token != "":
		var refreshed: Result = await refresh()
		if refreshed.success:
			r = await _send(method, path, body, authed, raw)
	return r


## Trades the refresh token for new tokens (one at a time).
func refresh() -> Result:
	while _refreshing:
		await (Engine.get_main_loop() as SceneTree).process_frame
	if refresh_token == "":
		return fail("not signed in", 401, -32001)
	_refreshing = true
	var r: Result = await _send("POST", "/api/v1/auth/refresh", {"refresh_token": refresh_token}, false)
	_refreshing = false
	if r.success:
		signed_in_as(r.data)
	elif r.status == 401:
		sign_out()
	return r


func _send(method: String, path: String, body: Variant, authed: bool, raw: bool = false) -> Result:
	var node: Node = await runtime()
	var http := HTTPRequest.new()
	http.timeout = timeout_sec * (4.0 if raw else 1.0)
	node.add_child(http)
	var headers := PackedStringArray(["Accept: application/json"])
	if client_key != "":
		headers.append("x-aethex-client-key: " + client_key)
	if authed and token != "":
		headers.append("Authorization: Bearer " + token)
	if position > 0:
		headers.append("x-aethex-position: " + str(position))
	var text := ""
	if body != null:
		headers.append("Content-Type: application/json")
		text = JSON.stringify(body)
	var methods := {"GET": HTTPClient.METHOD_GET, "POST": HTTPClient.METHOD_POST, "PUT": HTTPClient.METHOD_PUT,
		"PATCH": HTTPClient.METHOD_PATCH, "DELETE": HTTPClient.METHOD_DELETE}
	var err = http.request(base_url + path, headers, methods.get(method, HTTPClient.METHOD_GET), text)
	if err != OK:
		http.queue_free()
		return fail("request not sent (error %d)" % err)
	var done: Array = await http.request_completed
	http.queue_free()
	var outcome: int = done[0]
	var code: int = done[1]
	var response_headers: PackedStringArray = done[2]
	var bytes: PackedByteArray = done[3]
	if outcome != HTTPRequest.RESULT_SUCCESS:
		return fail("no answer from %s (HTTPRequest result %d)" % [base_url, outcome])
	for h in response_headers:
		if h.to_lower().begins_with("x-aethex-position:"):
			position = maxi(position, int(h.get_slice(":", 1).strip_edges()))
	if raw and code >= 200 and code < 300:
		return ok(bytes, code)
	var parsed: Variant = null
	if bytes.size() > 0:
		parsed = JSON.parse_string(bytes.get_string_from_utf8())
	if code >= 200 and code < 300:
		return ok(parsed, code)
	if parsed is Dictionary and parsed.has("error"):
		var e: Dictionary = parsed["error"]
		return fail(str(e.get("message", "error")), code, int(e.get("code", -32000)), e.get("data", {}) if e.get("data") is Dictionary else {})
	return fail("HTTP %d" % code, code)


## A random UUID (version 4), for event and report ids.
static func uuid4() -> String:
	var rng := RandomNumberGenerator.new()
	rng.randomize()
	var b := PackedByteArray()
	for i in 16:
		b.append(rng.randi() & 0xff)
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	var h := b.hex_encode()
	return "%s-%s-%s-%s-%s" % [h.substr(0, 8), h.substr(8, 4), h.substr(12, 4), h.substr(16, 4), h.substr(20, 12)]


## `s` for a URL path segment or query value.
static func enc(s: String) -> String:
	return s.uri_encode()

extends RefCounted
## `AeThexCloud.analytics`: events in the seed's format, queued and sent in batches
## (`flush`, and every `flush_interval_sec` by the runtime). A batch that cannot reach
## the backend stays queued (also on disk, `user://aethex_analytics_queue.json`) and is
## sent again later; the backend keeps each event once (by `event_id`). Nothing is kept
## for a player who has not opted in (`set_consent`).

const QUEUE_FILE := "user://aethex_analytics_queue.json"
const MAX_QUEUE := 5000
const BATCH := 100

var flush_interval_sec := 30.0
var session_id := ""
var crash_reporting := false
var _core
var _queue: Array = []
var _timer_started := false
var _flushing := false


func _init(core) -> void:
	_core = core
	session_id = core.uuid4()
	if FileAccess.file_exists(QUEUE_FILE):
		var saved = JSON.parse_string(FileAccess.get_file_as_string(QUEUE_FILE))
		if saved is Array:
			_queue = saved


## The seed's `track_event("level_completed", {...})`.
func track_event(event_type: String, properties: Dictionary = {}) -> void:
	_enqueue(event_type, "event", properties)


## The seed's `track_metric("fps", 60.0)`.
func track_metric(name: String, value: float) -> void:
	_enqueue(name, "metric", {"value": value})


## The seed's `track_screen("main_menu")`.
func track_screen(screen: String) -> void:
	_enqueue("screen_view", "screen", {"screen": screen})


## The seed's `set_user_property("vip_status", true)`.
func set_user_property(name: String, value: Variant) -> void:
	_enqueue("user_property", "user_property", {"name": name, "value": value})


## The seed's `enable_crash_reporting(true)`: `report_crash` sends reports while on.
func enable_crash_reporting(enabled: bool) -> void:
	crash_reporting = enabled


## Sends a crash report (stack trace one frame per line, innermost first; `logs_tail`).
func report_crash(message: String, stack_trace: String, logs_tail: String = ""):
	if not crash_reporting:
		return _core.fail("crash reporting is off")
	var body = {"report_id": _core.uuid4(), "message": message, "stack_trace": stack_trace,
		"game_version": str(ProjectSettings.get_setting("application/config/version", "0")), "device": _device()}
	if logs_tail != "":
		body["logs_tail"] = logs_tail
	return await _core.request("POST", "/api/v1/analytics/crashes", body)


## Opt in (or out) of analytics for this game.
func set_consent(analytics: bool):
	return await _core.request("PUT", "/api/v1/analytics/consent", {"analytics": analytics})


## Events waiting to be sent.
func queued() -> int:
	return _queue.size()


## Sends the queue in batches of 100. `data` sums the answers (`accepted`,
## `duplicates`, `dropped_no_consent`, `rejected`); on failure what was not sent stays.
func flush():
	if _flushing:
		return _core.fail("a flush is running")
	_flushing = true
	var total := {"accepted": 0, "duplicates": 0, "dropped_no_consent": 0, "rejected": []}
	var last = _core.ok(total)
	while not _queue.is_empty():
		var batch := _queue.slice(0, BATCH)
		last = await _core.request("POST", "/api/v1/analytics/events", {"events": batch})
		if not last.success:
			if last.status >= 400 and last.status < 500 and last.status != 401 and last.status != 429:
				_queue = _queue.slice(batch.size())  # refused as a whole: it would be refused again
			break
		_queue = _queue.slice(batch.size())
		for k in ["accepted", "duplicates", "dropped_no_consent"]:
			total[k] += int(last.data.get(k, 0))
		total["rejected"].append_array(last.data.get("rejected", []))
	_save_queue()
	_flushing = false
	if last.success:
		return _core.ok(total)
	return last


func _enqueue(event_type: String, kind: String, properties: Dictionary) -> void:
	var e = {"event_id": _core.uuid4(), "event_type": event_type, "kind": kind,
		"timestamp": Time.get_datetime_string_from_system(true) + "Z", "session_id": session_id,
		"properties": properties, "device": _device()}
	_queue.append(e)
	if _queue.size() > MAX_QUEUE:
		_queue = _queue.slice(_queue.size() - MAX_QUEUE)
	_save_queue()
	if not _timer_started:
		_timer_started = true
		_start_timer()


func _start_timer() -> void:
	var node: Node = await _core.runtime()
	node.every(flush_interval_sec, func():
		if not _queue.is_empty() and _core.token != "":
			flush())


func _save_queue() -> void:
	var f := FileAccess.open(QUEUE_FILE, FileAccess.WRITE)
	if f != null:
		f.store_string(JSON.stringify(_queue))


func _device() -> Dictionary:
	var v := Engine.get_version_info()
	return {"os": OS.get_name(), "engine_version": "%d.%d.%d" % [v["major"], v["minor"], v["patch"]],
		"game_version": str(ProjectSettings.get_setting("application/config/version", "0"))}

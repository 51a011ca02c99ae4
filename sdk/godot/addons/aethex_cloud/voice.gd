extends RefCounted
## `AeThexCloud.multiplayer.voice`: voice in the current room (the relay carries WebRTC
## signalling and, when enabled, opaque voice frames). `enable_e2e()` encrypts relayed
## frames end to end, as the Rust SDK does: `send_audio` seals a frame for the room's
## members and `frame_received` hands out the decrypted audio.

const E2eVoice = preload("res://addons/aethex_cloud/e2e_voice.gd")

signal signal_received(from: String, kind: String, payload: Variant)
signal frame_received(from: String, data: PackedByteArray)

var enabled := false
var muted: Dictionary = {}
## End-to-end keys of the current room (null: off).
var e2e = null
var _e2e_wanted := false
## The room's other members (kept whether or not end-to-end voice is on).
var _members: Dictionary = {}
var _host := ""
var _mp


func _init(mp) -> void:
	_mp = mp
	mp.message_received.connect(_on_message)


## The seed's `voice.enable(true)`.
func enable(on: bool) -> void:
	enabled = on
	_mp._send({"type": "voice_enable", "enabled": on})


## The seed's `voice.mute_player(player_id, true)`.
func mute_player(player_id: String, mute: bool) -> void:
	muted[player_id] = mute
	_mp._send({"type": "voice_mute", "player_id": player_id, "muted": mute})


## Sends one encoded voice frame to the room (relayed to members who enabled voice).
func send_frame(data: PackedByteArray) -> void:
	if enabled:
		_mp._send({"type": "voice_frame", "data": Marshalls.raw_to_base64(data)})


## Turns on relayed voice encrypted end to end (in this room and the ones joined later).
## Returns this member's key fingerprint, to compare out of band.
func enable_e2e() -> String:
	_e2e_wanted = true
	return _start_e2e()


func _start_e2e() -> String:
	if _mp.room.is_empty():
		return ""
	e2e = E2eVoice.new()
	var others: Array = _members.keys()
	var out: Array = e2e.start(str(_mp.room.get("room_id")), _mp.player_id, _host, others)
	enable(true)
	_send_signals(out)
	return e2e.fingerprint()


## Sends one frame of audio sealed for the room's members; false (nothing sent) while the
## room key has not arrived, or after a departure until the next one.
func send_audio(audio: PackedByteArray) -> bool:
	if e2e == null:
		return false
	var data: String = e2e.seal_frame(audio)
	if data == "":
		return false
	_mp._send({"type": "voice_frame", "data": data})
	return true


func _send_signals(signals: Array) -> void:
	for s in signals:
		send_signal(s["to"], s["kind"], s["payload"])


## WebRTC signalling (offer / answer / candidate) to one player.
func send_signal(to: String, kind: String, payload: Variant) -> void:
	_mp._send({"type": "voice_signal", "to": to, "kind": kind, "payload": payload})


func _on_message(msg: Dictionary) -> void:
	match str(msg.get("type", "")):
		"room_joined":
			e2e = null
			_members = {}
			_host = str(msg.get("host", ""))
			for p in msg.get("players", []):
				if str(p.get("player_id")) != _mp.player_id:
					_members[str(p.get("player_id"))] = true
			if _e2e_wanted:
				_start_e2e()
		"room_left":
			e2e = null
			_members = {}
		"player_joined":
			var joined := str(msg.get("player", {}).get("player_id", ""))
			if joined != _mp.player_id:
				_members[joined] = true
			if e2e != null:
				_send_signals(e2e.player_joined(str(msg.get("player", {}).get("player_id", ""))))
		"player_left":
			_members.erase(str(msg.get("player_id")))
			if e2e != null:
				_send_signals(e2e.player_left(str(msg.get("player_id"))))
		"host_changed":
			_host = str(msg.get("host"))
			if e2e != null:
				_send_signals(e2e.host_changed(str(msg.get("host"))))
		"voice_signal":
			if e2e != null:
				var out = e2e.signal_in(str(msg.get("from")), str(msg.get("kind")), msg.get("payload"))
				if out != null:
					_send_signals(out)
					return
			signal_received.emit(str(msg.get("from")), str(msg.get("kind")), msg.get("payload"))
		"voice_frame":
			if e2e != null:
				var audio = e2e.open_frame(str(msg.get("from")), str(msg.get("data", "")))
				if audio != null:
					frame_received.emit(str(msg.get("from")), audio)
				return
			frame_received.emit(str(msg.get("from")), Marshalls.base64_to_raw(str(msg.get("data", ""))))

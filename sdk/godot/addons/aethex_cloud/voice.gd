extends RefCounted
## `AeThexCloud.multiplayer.voice`: voice in the current room (the relay carries WebRTC
## signalling and, when enabled, opaque voice frames).

signal signal_received(from: String, kind: String, payload: Variant)
signal frame_received(from: String, data: PackedByteArray)

var enabled := false
var muted: Dictionary = {}
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


## WebRTC signalling (offer / answer / candidate) to one player.
func send_signal(to: String, kind: String, payload: Variant) -> void:
	_mp._send({"type": "voice_signal", "to": to, "kind": kind, "payload": payload})


func _on_message(msg: Dictionary) -> void:
	match str(msg.get("type", "")):
		"voice_signal":
			signal_received.emit(str(msg.get("from")), str(msg.get("kind")), msg.get("payload"))
		"voice_frame":
			frame_received.emit(str(msg.get("from")), Marshalls.base64_to_raw(str(msg.get("data", ""))))

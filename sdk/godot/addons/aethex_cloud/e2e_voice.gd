extends RefCounted
## End-to-end voice keys of one room: the same protocol, byte for byte, as the Rust SDK's
## `voice.rs` (see docs/multiplayer.md, "End-to-end encrypted voice").
## - Each member sends its X25519 public key to the others (`voice_signal` `e2e-pub`).
## - The host seals a random room key for each member it has a key of (`e2e-key`), under
##   ChaCha20-Poly1305 with a key from HKDF-SHA256 of the pair's X25519 secret, bound to
##   the room, the epoch, both ids and the holders; it makes a new one on every join and
##   departure. Members take room keys only from the host, with a newer epoch.
## - A frame is epoch (4 bytes, big-endian) + counter (8) + ciphertext and tag, under a
##   key derived per sender and epoch; the counter is the nonce.

const C = preload("res://addons/aethex_cloud/e2e_crypto.gd")
const KIND_PUBLIC_KEY := "e2e-pub"
const KIND_ROOM_KEY := "e2e-key"
const MAX_HOLDERS := 64

var room := ""
var me := ""
var host := ""
var secret := PackedByteArray()
var public := PackedByteArray()
var members: Dictionary = {}  # id -> true
var keys: Dictionary = {}  # id -> PackedByteArray (their public key)
var _pairs: Dictionary = {}  # id -> pair key (an X25519 product is slow in GDScript)
var current: Dictionary = {}  # {epoch, key, holders (sorted Array)}
var epoch := 0
var counter := 0
var paused := false
var seen: Dictionary = {}  # sender -> [epoch, counter]
var dropped := 0


## Starts the room's voice keys; returns the signals to send ({to, kind, payload}).
func start(room_id: String, my_id: String, host_id: String, others: Array) -> Array:
	room = room_id
	me = my_id
	host = host_id
	secret = C.random_bytes(32)
	public = C.x25519_public(secret)
	for o in others:
		if str(o) != me:
			members[str(o)] = true
	var out := []
	for m in members:
		out.append(_public_key_for(m))
	if host == me:
		out.append_array(_rekey())
	return out


func fingerprint() -> String:
	var h := HashingContext.new()
	h.start(HashingContext.HASH_SHA256)
	h.update(public)
	return h.finish().slice(0, 6).hex_encode()


func sending_epoch() -> int:
	if current.is_empty() or paused:
		return -1
	return int(current["epoch"])


static func _bytes(parts: Array, sep: int) -> PackedByteArray:
	var out := PackedByteArray()
	for i in parts.size():
		if i > 0:
			out.append(sep)
		out.append_array(str(parts[i]).to_utf8_buffer())
	return out


func _public_key_for(to: String) -> Dictionary:
	return {"to": to, "kind": KIND_PUBLIC_KEY, "payload": {"key": Marshalls.raw_to_base64(public)}}


func _pair_key(other: String) -> PackedByteArray:
	if not keys.has(other):
		return PackedByteArray()
	if _pairs.has(other):
		return _pairs[other]
	var pair := _derive_pair(other)
	_pairs[other] = pair
	return pair


func _derive_pair(other: String) -> PackedByteArray:
	var shared := C.x25519(secret, keys[other])
	var zero := true
	for b in shared:
		if b != 0:
			zero = false
	if zero:
		return PackedByteArray()
	var ab := [me, other] if me < other else [other, me]
	return C.hkdf32(shared, room.to_utf8_buffer(), _bytes(["aethex voice pair", ab[0], ab[1]], 0))


func _key_aad(ep: int, from: String, to: String, holders: Array) -> PackedByteArray:
	var aad := _bytes(["room key", room, str(ep), from, to], 0)
	aad.append(0)
	aad.append_array(_bytes(holders, 1))
	return aad


func _seal_room_key(to: String) -> Dictionary:
	var pair := _pair_key(to)
	if current.is_empty() or pair.is_empty():
		return {}
	var nonce := C.random_bytes(12)
	var sealed := C.seal(pair, nonce, current["key"], _key_aad(current["epoch"], me, to, current["holders"]))
	return {"to": to, "kind": KIND_ROOM_KEY, "payload": {
		"epoch": current["epoch"], "holders": current["holders"],
		"nonce": Marshalls.raw_to_base64(nonce), "sealed": Marshalls.raw_to_base64(sealed)}}


func _rekey() -> Array:
	epoch += 1
	var holders := [me]
	for m in members:
		if not _pair_key(m).is_empty():
			holders.append(m)
	holders.sort()
	current = {"epoch": epoch, "key": C.random_bytes(32), "holders": holders}
	counter = 0
	paused = false
	var out := []
	for h in holders:
		if h != me:
			var s := _seal_room_key(h)
			if not s.is_empty():
				out.append(s)
	return out


func player_joined(id: String) -> Array:
	if id == me:
		return []
	members[id] = true
	return [_public_key_for(id)]


func player_left(id: String) -> Array:
	if not members.erase(id):
		return []
	keys.erase(id)
	_pairs.erase(id)
	seen.erase(id)
	if not current.is_empty() and id in current["holders"]:
		paused = true
	return _rekey() if host == me else []


func host_changed(id: String) -> Array:
	host = id
	return _rekey() if host == me else []


## A voice_signal of one of these kinds: the signals to send; `null` for other kinds.
func signal_in(from: String, kind: String, payload: Variant) -> Variant:
	if kind == KIND_PUBLIC_KEY:
		if not (payload is Dictionary) or not members.has(from):
			return []
		var key := Marshalls.base64_to_raw(str(payload.get("key", "")))
		if key.size() != 32:
			return []
		if keys.has(from) and keys[from] == key:
			return []
		_pairs.erase(from)
		keys[from] = key
		# A member that turned voice on after this one announced itself never saw this
		# one's key: answer each new key with ours (an answer to an answer is a key already
		# known, so it stops there), ahead of any room key sealed for it.
		var out := [_public_key_for(from)]
		if host == me:
			out.append_array(_rekey())
		return out
	if kind == KIND_ROOM_KEY:
		if payload is Dictionary:
			_accept_room_key(from, payload)
		return []
	return null


func _accept_room_key(from: String, p: Dictionary) -> void:
	if from != host or not (p.get("epoch") is float or p.get("epoch") is int):
		return
	var ep := int(p["epoch"])
	if ep < 1 or (not current.is_empty() and ep <= int(current["epoch"])):
		return
	var list = p.get("holders")
	if not (list is Array) or list.size() > MAX_HOLDERS:
		return
	var holders := []
	for h in list:
		if not (h is String) or h in holders:
			return
		holders.append(h)
	holders.sort()
	if not (me in holders) or not (from in holders):
		return
	var nonce := Marshalls.base64_to_raw(str(p.get("nonce", "")))
	var sealed := Marshalls.base64_to_raw(str(p.get("sealed", "")))
	var pair := _pair_key(from)
	if nonce.size() != 12 or pair.is_empty():
		return
	var key = C.open(pair, nonce, sealed, _key_aad(ep, from, me, holders))
	if key == null or key.size() != 32:
		return
	current = {"epoch": ep, "key": key, "holders": holders}
	epoch = maxi(epoch, ep)
	counter = 0
	paused = false


## A frame's key (per sender and epoch), nonce (the counter) and associated data.
func _frame_params(ep: int, key: PackedByteArray, sender: String, n: int) -> Array:
	var frame_key := C.hkdf32(key, room.to_utf8_buffer(), _bytes(["aethex voice frame", str(ep), sender], 0))
	return [frame_key, PackedByteArray([0, 0, 0, 0]) + _be(n, 8), _bytes(["frame", room, str(ep), sender], 0)]


static func _be(v: int, n: int) -> PackedByteArray:
	var out := PackedByteArray()
	for i in range(n - 1, -1, -1):
		out.append((v >> (8 * i)) & 0xff)
	return out


static func _from_be(b: PackedByteArray, at: int, n: int) -> int:
	var v := 0
	for i in n:
		v = (v << 8) | b[at + i]
	return v


## The voice_frame `data` (base64) for one frame of audio; "" while there is no key.
func seal_frame(audio: PackedByteArray) -> String:
	if current.is_empty() or paused:
		return ""
	counter += 1
	var ep: int = current["epoch"]
	var f := _frame_params(ep, current["key"], me, counter)
	var sealed := C.seal(f[0], f[1], audio, f[2])
	return Marshalls.raw_to_base64(_be(ep, 4) + _be(counter, 8) + sealed)


## The audio of a frame from `from`, or `null` (counted in `dropped`).
func open_frame(from: String, data: String) -> Variant:
	var out = _open(from, data)
	if out == null:
		dropped += 1
	return out


func _open(from: String, data: String) -> Variant:
	var raw := Marshalls.base64_to_raw(data)
	if raw.size() < 28 or not members.has(from) or current.is_empty():
		return null
	var ep := _from_be(raw, 0, 4)
	var n := _from_be(raw, 4, 8)
	if ep != int(current["epoch"]):
		return null
	if seen.has(from) and seen[from][0] == ep and n <= seen[from][1]:
		return null
	var f := _frame_params(ep, current["key"], from, n)
	var audio = C.open(f[0], f[1], raw.slice(12), f[2])
	if audio == null:
		return null
	seen[from] = [ep, n]
	return audio

extends RefCounted
## The primitives of end-to-end voice that Godot's `Crypto` does not have, in GDScript:
## X25519 (RFC 7748) and ChaCha20-Poly1305 (RFC 8439), plus HKDF-SHA256 over Godot's
## HMAC. Checked against the RFCs' test vectors by the addon's test suite, and against the
## Rust SDK by sharing a room with it. Not constant-time: the key pairs live for one room.

const MASK26 := 0x3ffffff
const MASK32 := 0xffffffff


# --- X25519: field elements are 16 limbs of 16 bits (TweetNaCl's layout) ---------------

static func _gf(init: Array = []) -> PackedInt64Array:
	var o := PackedInt64Array()
	o.resize(16)
	for i in init.size():
		o[i] = init[i]
	return o


static func _car(a: PackedInt64Array) -> PackedInt64Array:
	var o := a.duplicate()
	for i in 16:
		o[i] += 65536
		var c: int = o[i] >> 16
		if i < 15:
			o[i + 1] += c - 1
		else:
			o[0] += 38 * (c - 1)
		o[i] -= c << 16
	return o


static func _add(a: PackedInt64Array, b: PackedInt64Array) -> PackedInt64Array:
	var o := _gf()
	for i in 16:
		o[i] = a[i] + b[i]
	return o


static func _sub(a: PackedInt64Array, b: PackedInt64Array) -> PackedInt64Array:
	var o := _gf()
	for i in 16:
		o[i] = a[i] - b[i]
	return o


static func _mul(a: PackedInt64Array, b: PackedInt64Array) -> PackedInt64Array:
	var t := PackedInt64Array()
	t.resize(31)
	for i in 16:
		var ai: int = a[i]
		for j in 16:
			t[i + j] += ai * b[j]
	var o := _gf()
	for i in 15:
		o[i] = t[i] + 38 * t[i + 16]
	o[15] = t[15]
	return _car(_car(o))


static func _sq(a: PackedInt64Array) -> PackedInt64Array:
	return _mul(a, a)


static func _inv(i: PackedInt64Array) -> PackedInt64Array:
	var c := i.duplicate()
	for a in range(253, -1, -1):
		c = _sq(c)
		if a != 2 and a != 4:
			c = _mul(c, i)
	return c


## Swaps p and q when b is 1: returns [p, q] (or [q, p]).
static func _sel(p: PackedInt64Array, q: PackedInt64Array, b: int) -> Array:
	if b == 1:
		return [q, p]
	return [p, q]


static func _unpack(n: PackedByteArray) -> PackedInt64Array:
	var o := _gf()
	for i in 16:
		o[i] = n[2 * i] + (n[2 * i + 1] << 8)
	o[15] &= 0x7fff
	return o


static func _pack(n: PackedInt64Array) -> PackedByteArray:
	var t := _car(_car(_car(n)))
	for _j in 2:
		var m := _gf()
		m[0] = t[0] - 0xffed
		for i in range(1, 15):
			m[i] = t[i] - 0xffff - ((m[i - 1] >> 16) & 1)
			m[i - 1] &= 0xffff
		m[15] = t[15] - 0x7fff - ((m[14] >> 16) & 1)
		var b: int = (m[15] >> 16) & 1
		m[14] &= 0xffff
		if b == 0:
			t = m
	var o := PackedByteArray()
	o.resize(32)
	for i in 16:
		o[2 * i] = t[i] & 0xff
		o[2 * i + 1] = (t[i] >> 8) & 0xff
	return o


## X25519(scalar, u-coordinate): 32 bytes each, 32 bytes out.
static func x25519(scalar: PackedByteArray, point: PackedByteArray) -> PackedByteArray:
	var z := scalar.duplicate()
	z[31] = (z[31] & 127) | 64
	z[0] &= 248
	var x := _unpack(point)
	var a := _gf([1])
	var b := x.duplicate()
	var c := _gf()
	var d := _gf([1])
	var k121665 := _gf([0xdb41, 1])
	for i in range(254, -1, -1):
		var r: int = (z[i >> 3] >> (i & 7)) & 1
		var s := _sel(a, b, r)
		a = s[0]
		b = s[1]
		s = _sel(c, d, r)
		c = s[0]
		d = s[1]
		var e := _add(a, c)
		a = _sub(a, c)
		c = _add(b, d)
		b = _sub(b, d)
		d = _sq(e)
		var f := _sq(a)
		a = _mul(c, a)
		c = _mul(b, e)
		e = _add(a, c)
		a = _sub(a, c)
		b = _sq(a)
		c = _sub(d, f)
		a = _mul(c, k121665)
		a = _add(a, d)
		c = _mul(c, a)
		a = _mul(d, f)
		d = _mul(b, x)
		b = _sq(e)
		s = _sel(a, b, r)
		a = s[0]
		b = s[1]
		s = _sel(c, d, r)
		c = s[0]
		d = s[1]
	return _pack(_mul(a, _inv(c)))


## The public key of a 32-byte secret.
static func x25519_public(secret: PackedByteArray) -> PackedByteArray:
	var nine := PackedByteArray()
	nine.resize(32)
	nine[0] = 9
	return x25519(secret, nine)


# --- ChaCha20 and Poly1305 ---------------------------------------------------------------

static func _le32(b: PackedByteArray, at: int) -> int:
	return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)


static func _put32(out: PackedByteArray, v: int) -> void:
	out.append(v & 0xff)
	out.append((v >> 8) & 0xff)
	out.append((v >> 16) & 0xff)
	out.append((v >> 24) & 0xff)


static func _rotl(v: int, n: int) -> int:
	return ((v << n) | (v >> (32 - n))) & MASK32


static func _block(key: PackedByteArray, counter: int, nonce: PackedByteArray) -> PackedByteArray:
	var s := PackedInt64Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574])
	for i in 8:
		s.append(_le32(key, 4 * i))
	s.append(counter & MASK32)
	for i in 3:
		s.append(_le32(nonce, 4 * i))
	var w := s.duplicate()
	for _round in 10:
		for q in [[0, 4, 8, 12], [1, 5, 9, 13], [2, 6, 10, 14], [3, 7, 11, 15], [0, 5, 10, 15], [1, 6, 11, 12], [2, 7, 8, 13], [3, 4, 9, 14]]:
			var a: int = q[0]
			var b: int = q[1]
			var c: int = q[2]
			var d: int = q[3]
			w[a] = (w[a] + w[b]) & MASK32
			w[d] = _rotl(w[d] ^ w[a], 16)
			w[c] = (w[c] + w[d]) & MASK32
			w[b] = _rotl(w[b] ^ w[c], 12)
			w[a] = (w[a] + w[b]) & MASK32
			w[d] = _rotl(w[d] ^ w[a], 8)
			w[c] = (w[c] + w[d]) & MASK32
			w[b] = _rotl(w[b] ^ w[c], 7)
	var out := PackedByteArray()
	for i in 16:
		_put32(out, (w[i] + s[i]) & MASK32)
	return out


## ChaCha20 from block `counter` (RFC 8439 2.4).
static func chacha20(key: PackedByteArray, counter: int, nonce: PackedByteArray, data: PackedByteArray) -> PackedByteArray:
	var out := PackedByteArray()
	out.resize(data.size())
	var at := 0
	while at < data.size():
		var ks := _block(key, counter, nonce)
		counter += 1
		for i in mini(64, data.size() - at):
			out[at + i] = data[at + i] ^ ks[i]
		at += 64
	return out


## Poly1305 of `msg` (a multiple of 16 bytes, as the AEAD pads it) under a 32-byte key.
static func _poly1305(key: PackedByteArray, msg: PackedByteArray) -> PackedByteArray:
	var t0 := _le32(key, 0)
	var t1 := _le32(key, 4)
	var t2 := _le32(key, 8)
	var t3 := _le32(key, 12)
	var r0 := t0 & 0x3ffffff
	var r1 := ((t0 >> 26) | (t1 << 6)) & 0x3ffff03
	var r2 := ((t1 >> 20) | (t2 << 12)) & 0x3ffc0ff
	var r3 := ((t2 >> 14) | (t3 << 18)) & 0x3f03fff
	var r4 := (t3 >> 8) & 0x00fffff
	var s1 := r1 * 5
	var s2 := r2 * 5
	var s3 := r3 * 5
	var s4 := r4 * 5
	var h0 := 0
	var h1 := 0
	var h2 := 0
	var h3 := 0
	var h4 := 0
	var at := 0
	while at < msg.size():
		h0 += _le32(msg, at) & MASK26
		h1 += (_le32(msg, at + 3) >> 2) & MASK26
		h2 += (_le32(msg, at + 6) >> 4) & MASK26
		h3 += (_le32(msg, at + 9) >> 6) & MASK26
		h4 += (_le32(msg, at + 12) >> 8) | (1 << 24)
		var d0 := h0 * r0 + h1 * s4 + h2 * s3 + h3 * s2 + h4 * s1
		var d1 := h0 * r1 + h1 * r0 + h2 * s4 + h3 * s3 + h4 * s2
		var d2 := h0 * r2 + h1 * r1 + h2 * r0 + h3 * s4 + h4 * s3
		var d3 := h0 * r3 + h1 * r2 + h2 * r1 + h3 * r0 + h4 * s4
		var d4 := h0 * r4 + h1 * r3 + h2 * r2 + h3 * r1 + h4 * r0
		var c := d0 >> 26
		h0 = d0 & MASK26
		d1 += c
		c = d1 >> 26
		h1 = d1 & MASK26
		d2 += c
		c = d2 >> 26
		h2 = d2 & MASK26
		d3 += c
		c = d3 >> 26
		h3 = d3 & MASK26
		d4 += c
		c = d4 >> 26
		h4 = d4 & MASK26
		h0 += c * 5
		c = h0 >> 26
		h0 &= MASK26
		h1 += c
		at += 16
	var c := h1 >> 26
	h1 &= MASK26
	h2 += c
	c = h2 >> 26
	h2 &= MASK26
	h3 += c
	c = h3 >> 26
	h3 &= MASK26
	h4 += c
	c = h4 >> 26
	h4 &= MASK26
	h0 += c * 5
	c = h0 >> 26
	h0 &= MASK26
	h1 += c
	# h - p: taken when it does not go below zero.
	var g0 := h0 + 5
	c = g0 >> 26
	g0 &= MASK26
	var g1 := h1 + c
	c = g1 >> 26
	g1 &= MASK26
	var g2 := h2 + c
	c = g2 >> 26
	g2 &= MASK26
	var g3 := h3 + c
	c = g3 >> 26
	g3 &= MASK26
	var g4 := h4 + c - (1 << 26)
	if g4 >= 0:
		h0 = g0
		h1 = g1
		h2 = g2
		h3 = g3
		h4 = g4
	var w0 := (h0 | (h1 << 26)) & MASK32
	var w1 := ((h1 >> 6) | (h2 << 20)) & MASK32
	var w2 := ((h2 >> 12) | (h3 << 14)) & MASK32
	var w3 := ((h3 >> 18) | (h4 << 8)) & MASK32
	var f := w0 + _le32(key, 16)
	var out := PackedByteArray()
	_put32(out, f & MASK32)
	f = w1 + _le32(key, 20) + (f >> 32)
	_put32(out, f & MASK32)
	f = w2 + _le32(key, 24) + (f >> 32)
	_put32(out, f & MASK32)
	f = w3 + _le32(key, 28) + (f >> 32)
	_put32(out, f & MASK32)
	return out


static func _pad16(b: PackedByteArray) -> PackedByteArray:
	var o := b.duplicate()
	while o.size() % 16 != 0:
		o.append(0)
	return o


static func _mac(key: PackedByteArray, nonce: PackedByteArray, aad: PackedByteArray, ct: PackedByteArray) -> PackedByteArray:
	var zero := PackedByteArray()
	zero.resize(32)
	var otk := chacha20(key, 0, nonce, zero)
	var data := _pad16(aad) + _pad16(ct)
	var lens := PackedByteArray()
	_put32(lens, aad.size())
	_put32(lens, 0)
	_put32(lens, ct.size())
	_put32(lens, 0)
	return _poly1305(otk, data + lens)


## ChaCha20-Poly1305 (RFC 8439 2.8): ciphertext followed by the 16-byte tag.
static func seal(key: PackedByteArray, nonce: PackedByteArray, plaintext: PackedByteArray, aad: PackedByteArray) -> PackedByteArray:
	var ct := chacha20(key, 1, nonce, plaintext)
	return ct + _mac(key, nonce, aad, ct)


## The plaintext, or `null` when the tag does not match.
static func open(key: PackedByteArray, nonce: PackedByteArray, sealed: PackedByteArray, aad: PackedByteArray) -> Variant:
	if sealed.size() < 16:
		return null
	var ct := sealed.slice(0, sealed.size() - 16)
	var tag := sealed.slice(sealed.size() - 16)
	var want := _mac(key, nonce, aad, ct)
	var diff := 0
	for i in 16:
		diff |= want[i] ^ tag[i]
	if diff != 0:
		return null
	return chacha20(key, 1, nonce, ct)


## HKDF-SHA256 (RFC 5869) with 32 bytes out.
static func hkdf32(ikm: PackedByteArray, salt: PackedByteArray, info: PackedByteArray) -> PackedByteArray:
	var crypto := Crypto.new()
	var prk := crypto.hmac_digest(HashingContext.HASH_SHA256, salt, ikm)
	var t := info.duplicate()
	t.append(1)
	return crypto.hmac_digest(HashingContext.HASH_SHA256, prk, t)


static func random_bytes(n: int) -> PackedByteArray:
	return Crypto.new().generate_random_bytes(n)

extends RefCounted
## `AeThexCloud.auth`: accounts and sessions.

var _core


func _init(core) -> void:
	_core = core


## Creates an account (email, password, username) and signs in.
func register(email: String, password: String, username: String):
	var r = await _core.request("POST", "/api/v1/auth/register", {"email": email, "password": password, "username": username}, false)
	if r.success:
		_core.signed_in_as(r.data)
	return r


## The seed's `login_email`.
func login_email(email: String, password: String):
	var r = await _core.request("POST", "/api/v1/auth/login", {"email": email, "password": password}, false)
	if r.success:
		_core.signed_in_as(r.data)
	return r


## Guest login by a device id the game keeps (the same id signs in the same player).
func login_device(device_id: String = "", username: String = ""):
	if device_id == "":
		device_id = OS.get_unique_id()
	var body := {"device_id": device_id}
	if username != "":
		body["username"] = username
	var r = await _core.request("POST", "/api/v1/auth/device", body, false)
	if r.success:
		_core.signed_in_as(r.data)
	return r


## The seed's `login_oauth("google")`: starts the provider's sign-in. `data` holds the
## `authorize_url` to open (in a browser tab on the web, `OS.shell_open` elsewhere),
## `state` and `poll_token`. Without `redirect_uri` it also holds `user_code`: show it;
## the player types it on the page the browser lands on, then `complete_oauth` succeeds.
## With a loopback `redirect_uri`, the browser comes back there with `code`: pass it too.
func login_oauth(provider: String, redirect_uri: String = ""):
	var body := {}
	if redirect_uri != "":
		body["redirect_uri"] = redirect_uri
	var r = await _core.request("POST", "/api/v1/auth/oauth/" + _core.enc(provider), body, false)
	if r.success and r.data is Dictionary and r.data.has("authorize_url") and not OS.has_feature("web") and not OS.has_feature("headless"):
		OS.shell_open(str(r.data["authorize_url"]))
	return r


## Finishes an OAuth login: `{state, poll_token}` from `login_oauth`, plus `code` from the
## redirect when one was used. Answers 409 while the player has not finished in the browser.
func complete_oauth(params: Dictionary):
	var r = await _core.request("POST", "/api/v1/auth/oauth/complete", params, false)
	if r.success and r.data is Dictionary and r.data.has("token"):
		_core.signed_in_as(r.data)
	return r


## The signed-in player (`user_id`, `username`, ...) or an empty Dictionary. No call.
func get_current_user() -> Dictionary:
	return _core.user


func is_signed_in() -> bool:
	return _core.token != ""


## Fresh profile from the backend.
func get_profile():
	var r = await _core.request("GET", "/api/v1/auth/profile")
	if r.success:
		_core.user = r.data
	return r


## Ends the session at the backend and forgets the tokens.
func logout():
	var r = await _core.request("POST", "/api/v1/auth/logout", {"refresh_token": _core.refresh_token})
	_core.sign_out()
	return r


## Trades the refresh token for a new access token now (calls do it on their own).
func refresh():
	return await _core.refresh()

class_name AeThexCloud
extends RefCounted
## The AeThex Cloud client API (the seed's shape): `AeThexCloud.auth`, `.saves`,
## `.multiplayer`, `.analytics`, `.social`, `.cdn`, and `.logic` (the game's custom RPCs). Calls that reach the backend are
## coroutines returning an AeThexResult (`success`, `data` / `error`): `await` them.
##
##     AeThexCloud.configure("https://api.mygame.example", "aethex_ck_...")
##     var r = await AeThexCloud.auth.login_email("user@example.com", "password")
##     if r.success: print(AeThexCloud.auth.get_current_user().username)
##
## The runtime autoload (AeThexCloudRuntime, added by the plugin) polls sockets and
## timers: automatic token refresh, relay reconnect, and the offline queues of analytics
## events and saves.

const Core = preload("res://addons/aethex_cloud/core.gd")
const Auth = preload("res://addons/aethex_cloud/auth.gd")
const Saves = preload("res://addons/aethex_cloud/saves.gd")
const Multiplayer = preload("res://addons/aethex_cloud/multiplayer.gd")
const Analytics = preload("res://addons/aethex_cloud/analytics.gd")
const Social = preload("res://addons/aethex_cloud/social.gd")
const Cdn = preload("res://addons/aethex_cloud/cdn.gd")
const Logic = preload("res://addons/aethex_cloud/logic.gd")

static var core = Core.new()
static var auth = Auth.new(core)
static var saves = Saves.new(core)
static var multiplayer = Multiplayer.new(core)
static var analytics = Analytics.new(core)
static var social = Social.new(core)
static var cdn = Cdn.new(core)
static var logic = Logic.new(core)


## Where the backend is (origin or an edge) and the game's client key. `options`:
## `game_id` (for DLC), `timeout_sec` (default 15).
static func configure(base_url: String, client_key: String, options: Dictionary = {}) -> void:
	core.base_url = base_url.rstrip("/")
	core.client_key = client_key
	core.game_id = options.get("game_id", core.game_id)
	core.timeout_sec = float(options.get("timeout_sec", core.timeout_sec))

extends Node
## The autoload the AeThexCloud API runs on: it holds HTTPRequest nodes while calls run,
## polls relay sockets every frame, and runs the timers (offline analytics queue, saves
## made offline, relay reconnect).

var _pollers: Array[Callable] = []
var _timers: Array = []


func _ready() -> void:
	process_mode = Node.PROCESS_MODE_ALWAYS


## `f` is called every frame until it returns false.
func poll_every_frame(f: Callable) -> void:
	_pollers.append(f)


## `f` is called every `seconds` (it is a coroutine or a plain function) while the game runs.
func every(seconds: float, f: Callable) -> void:
	_timers.append({"period": seconds, "left": seconds, "f": f})


func _process(delta: float) -> void:
	var keep: Array[Callable] = []
	for f in _pollers:
		if f.is_valid() and f.call():
			keep.append(f)
	_pollers = keep
	for t in _timers:
		t["left"] -= delta
		if t["left"] <= 0.0:
			t["left"] = t["period"]
			var f: Callable = t["f"]
			if f.is_valid():
				f.call()

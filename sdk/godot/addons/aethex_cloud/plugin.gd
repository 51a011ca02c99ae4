@tool
extends EditorPlugin
## Enabling the plugin registers the runtime autoload the AeThexCloud API runs on.

func _enter_tree() -> void:
	add_autoload_singleton("AeThexCloudRuntime", "res://addons/aethex_cloud/runtime.gd")


func _exit_tree() -> void:
	remove_autoload_singleton("AeThexCloudRuntime")

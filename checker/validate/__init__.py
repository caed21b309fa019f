"""The checks over a recorded history and the verdict that gathers them."""

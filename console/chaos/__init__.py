"""`etcd-console chaos`: history records and the checkers that judge a recorded history."""

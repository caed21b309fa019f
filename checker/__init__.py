"""The chaos history checker: judges a recorded history of a cluster under faults.

`checker.model` holds what a history is and how etcd's key space behaves; `checker.validate`
holds the checks (linearizability, revision order, watches, leases, durability) and the verdict.
It imports nothing of the cluster it judges, so a history saved by any workload can be checked.
"""

"""Read-only inspectors of a member's data directory (etcd's etcd-dump-logs and etcd-dump-db):
its WAL records, its snapshot files and its backend, safe beside a running member."""

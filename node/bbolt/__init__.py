"""bbolt's file format (go.etcd.io/bbolt), the database etcd keeps its backend in: a writer
that bulk-loads sorted buckets into a new file and a reader that walks one, so snapshots move
between our members and real etcd. Pure Python, no event loop."""

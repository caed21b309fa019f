"""`etcd-console chaos`: the workload and faults that drive a playground, and the run itself."""

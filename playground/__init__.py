"""The playground: a local cluster of real etcd-node processes you can break on purpose.

`playground.playground.Playground` ties the parts: the record file that lets any process
attach (`record`), the member processes (`member_process`), calls to the members through
`node.client` (`member_call`, `status`), the network faults (`faults`) and the membership
changes (`membership`). The console and the chaos run both drive a cluster through it.
"""

"""The messages client and server share, as etcd's api/ module: etcdserverpb, mvccpb, rpctypes.

The bottom of the layering: these modules import nothing else of the project, do no I/O and
run no tasks, so every layer above (mvcc, server, the doors, the client, the console) can use
them. The generated gRPC modules (gen/) and their .proto sources (proto/) live here too.
"""

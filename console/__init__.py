"""etcd-console: the playground's supervisor front ends, the command language, the REPL, the
dashboard, demos and chaos.

gRPC's C core reads GRPC_VERBOSITY once, when grpc is first imported, and by default writes
lines to the terminal for every failed TLS handshake and reconnect: over the REPL's prompt and
across the dashboard. The console says itself why a member cannot be reached, so it keeps gRPC
quiet unless the user sets GRPC_VERBOSITY.
"""

import os

os.environ.setdefault("GRPC_VERBOSITY", "NONE")

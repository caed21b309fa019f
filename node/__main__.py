"""`python -m node`: the etcd-node command, for when the entry point script is not at hand."""

import sys

from node.cli import main

sys.exit(main())

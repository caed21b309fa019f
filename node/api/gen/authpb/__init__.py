"""Generated from node/api/proto by `python -m node.api.regen_protos`."""

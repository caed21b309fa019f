"""Generated from node/messages/proto by `python -m node.messages.regen_protos`."""

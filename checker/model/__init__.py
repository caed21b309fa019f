"""What is checked: the recorded operations, watch streams and snapshots, and the key model."""

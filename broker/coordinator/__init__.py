"""Consumer groups: the coordinator state machine and the durable offsets log."""

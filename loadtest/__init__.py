"""Load, faults, game days and benchmarks: ``tidewatch load|gameday|bench`` (see README.md)."""

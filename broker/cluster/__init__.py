"""Cluster layer: partitions with their high watermark and leader epoch, the flush
policy, and the purgatory where long-polling fetches wait for data."""

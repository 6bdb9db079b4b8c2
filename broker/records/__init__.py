"""The record-batch layer: Kafka's v2 batch format, pure and shared by disk and wire."""

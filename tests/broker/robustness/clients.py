"""kafka-python, imported once with its import-time DeprecationWarning silenced
(kafka-python 3.0.12 calls ``importlib.resources.read_text``; the suite turns warnings
into errors)."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import kafka
    import kafka.errors
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

__all__ = ["KafkaConsumer", "KafkaProducer", "TopicPartition", "kafka"]

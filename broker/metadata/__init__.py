"""The cluster's metadata, sans-I/O: records, the image they build, the quorum controller.

Layers inside the package, each importing only the ones above it in this list (and the
standard library, plus ``broker.storage`` for topic-name and topic-config rules):

- ``errors``: ``MetadataRecordError`` and ``KafkaError`` (Kafka's error names and codes).
- ``codec``: the strict, canonical JSON encoding shared by records and snapshots.
- ``records``: one frozen dataclass per record type; ``encode_record``/``decode_record``.
- ``image`` / ``image_builder`` / ``snapshot`` / ``delta``: the state the records build,
  its validation, its snapshot and what changed for one broker.
- ``topic_configs``, ``placement``, ``elections``, ``offsets_topic``: pure rules the
  controller uses.
- ``replies`` and ``controller``: ``QuorumController``, run by the active controller only.

Nothing here reads a clock, a disk, a socket or a random source on its own: time comes in
as ``now_ms``, topic ids from an injected factory. Given the same inputs every node
computes the same image, which is what keeps replicas of the metadata log equal.
"""

"""Kafka wire protocol: framing, headers, the kio adapter and hand-written hot-path codecs.

Sans-I/O throughout: bytes in, messages out. Nothing here imports storage or asyncio.
"""

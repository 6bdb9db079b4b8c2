"""Network layer: the asyncio listener and per-connection protocol (framing, ordering,
back-pressure). Everything below it is sans-I/O."""

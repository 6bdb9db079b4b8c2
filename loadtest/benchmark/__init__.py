"""The parts of ``tidewatch bench``.

Pure measurement logic (``figures``, ``kafka_wire``, ``resp``) is kept apart from
process management (``processes``) and from the code that drives real clients against
real servers (``tidewatch_side``, ``redis_side``, ``raw_clients``); ``runner`` ties
them together and ``render`` prints the result.
"""

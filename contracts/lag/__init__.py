"""Consumer lag: exact lag in records and seconds, a Burrow-style status, and the
consumer-group metrics that report them.

Shared by the broker (which knows committed offsets and stored timestamps) and the
external lag monitor in ``synthetics`` (which reads them from any cluster), so both
compute and export lag the same way and one dashboard serves both. Pure.
"""

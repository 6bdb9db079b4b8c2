"""Consumer lag: exact lag in records and seconds, and a Burrow-style status.

Pure logic shared by the broker (which knows committed offsets and stored timestamps)
and the external lag monitor in ``synthetics`` (which reads them from any cluster).
"""

"""Faults for game days: broker kill/pause, consumer stop/slow, network latency and
drops through a loopback proxy, full disk on a tmpfs, retention shrink. See
:mod:`loadtest.faults.faults` and ``loadtest/README.md``."""

"""Periodic duties of the cluster layer (retention, replication timers, checkpoints),
as asyncio tasks that outlive a failing round."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

__all__ = ["cancel_and_wait", "run_every"]

log = logging.getLogger(__name__)


async def run_every(interval_ms: int, duty: Callable[[], object]) -> None:
    """Run ``duty`` (a function, or a coroutine function) every ``interval_ms``; a
    failure is logged and the next round runs anyway."""
    while True:
        await asyncio.sleep(interval_ms / 1000)
        try:
            result = duty()
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            log.exception("%s failed; will retry", getattr(duty, "__name__", duty))


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has finished unwinding."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass

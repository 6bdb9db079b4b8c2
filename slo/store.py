"""Persist the engine's history (and the sampler's counter state) to one ``.npz`` file.

Format (numpy ``savez``, version ``FORMAT_VERSION``): ``ids`` (SLO ids, one per row),
``layout`` (step, then resolution and slots of each tier), ``ring_<k>`` per tier,
``cum``, ``clock`` (start, now; -1 when unset), ``last_data`` and ``sampler_*`` arrays.
Rows are matched to SLOs by id on load, so adding or removing SLOs keeps the others'
history. The file is written to a temporary name and renamed: a crash never leaves a
half-written history.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import numpy as np

from slo.engine import Engine
from slo.sampling import Sampler

__all__ = ["FORMAT_VERSION", "StoreError", "load", "save"]

FORMAT_VERSION: Final = 1


class StoreError(ValueError):
    pass


def _layout_array(engine: Engine) -> np.ndarray:
    flat = [engine.layout.step_seconds]
    for tier in engine.layout.tiers:
        flat += [tier.resolution_seconds, tier.slots]
    return np.array(flat, dtype=np.int64)


def save(path: Path, engine: Engine, sampler: Sampler) -> None:
    h = engine.history
    arrays: dict[str, np.ndarray] = {
        "version": np.array([FORMAT_VERSION]),
        "ids": np.array([s.id for s in engine.slos], dtype=str),
        "layout": _layout_array(engine),
        "cum": h.cum,
        "clock": np.array([-1 if h.start is None else h.start, -1 if h.now is None else h.now]),
        "last_data": engine.last_data,
    }
    for k, ring in enumerate(h.rings):
        arrays[f"ring_{k}"] = ring
    for name, value in sampler.state().items():
        arrays[f"sampler_{name}"] = value
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        np.savez(f, **arrays)  # type: ignore[arg-type]
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def load(path: Path, engine: Engine, sampler: Sampler) -> int:
    """Restore history saved by :func:`save`; returns how many SLOs were found in it."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: not a history file ({exc})") from exc
    with data:
        if int(data["version"][0]) != FORMAT_VERSION:
            raise StoreError(f"{path}: history format {int(data['version'][0])} is not supported")
        if not np.array_equal(data["layout"], _layout_array(engine)):
            raise StoreError(f"{path}: history layout differs (was the --step changed?)")
        saved = {str(sid): row for row, sid in enumerate(data["ids"])}
        rows = np.array([saved.get(s.id, -1) for s in engine.slos], dtype=np.int64)
        known = rows >= 0
        h = engine.history
        for k, ring in enumerate(h.rings):
            ring[known] = data[f"ring_{k}"][rows[known]]
        h.cum[known] = data["cum"][rows[known]]
        start, now = (int(x) for x in data["clock"])
        h.start = None if start < 0 else start
        h.now = None if now < 0 else now
        engine.last_data[known] = data["last_data"][rows[known]]
        state = {
            name.removeprefix("sampler_"): data[name]
            for name in data.files
            if name.startswith("sampler_")
        }
        sampler.restore(state, rows)
    return int(known.sum())

"""Idempotent-producer state of one partition: the last batches of every producer id.

Kafka keeps the metadata of the last five batches per producer so that a retried batch
is recognised and answered with its original offset instead of being stored twice. The
rules (``check``), matching Kafka's ProducerStateManager for non-transactional producers:

- a batch with an older epoch than the one on record is fenced;
- a newer epoch must start at sequence 0;
- a producer never seen before must start at sequence 0 (its state was never lost:
  it is rebuilt from snapshots and the log on start);
- a batch equal to one of the retained five is a duplicate (original offsets returned);
- any other sequence, including a resend older than the retained five, is
  OUT_OF_ORDER_SEQUENCE_NUMBER (what current Kafka answers; the producer then resets).

Snapshots are JSON, written when a segment rolls, so restart replays only the active
segment. Not thread-safe; the owning Log serialises access.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from broker.records.batch import BatchHeader
from broker.storage.errors import (
    InvalidProducerEpochError,
    OutOfOrderSequenceError,
)

__all__ = ["BatchMetadata", "ProducerStateManager"]

RETAINED_BATCHES = 5
_SEQUENCE_SPACE = 2**31


@dataclass(frozen=True, slots=True)
class BatchMetadata:
    first_sequence: int
    last_sequence: int
    first_offset: int
    last_offset: int
    max_timestamp: int


@dataclass(slots=True)
class ProducerEntry:
    epoch: int
    batches: deque[BatchMetadata] = field(default_factory=lambda: deque(maxlen=RETAINED_BATCHES))

    @property
    def last_sequence(self) -> int:
        return self.batches[-1].last_sequence if self.batches else -1


class ProducerStateManager:
    def __init__(self) -> None:
        self._entries: dict[int, ProducerEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, header: BatchHeader) -> BatchMetadata | None:
        """Validate an incoming batch; return the original batch if it is a duplicate.

        Raises InvalidProducerEpochError or OutOfOrderSequenceError. Does not change
        state (see ``update``).
        """
        entry = self._entries.get(header.producer_id)
        first_seq = header.base_sequence
        if entry is None:
            if first_seq != 0:
                raise OutOfOrderSequenceError(
                    f"producer {header.producer_id} is new to this partition and must start "
                    f"at sequence 0, not {first_seq}"
                )
            return None
        if header.producer_epoch < entry.epoch:
            raise InvalidProducerEpochError(
                f"producer {header.producer_id} epoch {header.producer_epoch} is older than "
                f"the current epoch {entry.epoch}"
            )
        if header.producer_epoch > entry.epoch:
            if first_seq != 0:
                raise OutOfOrderSequenceError(
                    f"producer {header.producer_id} bumped its epoch to "
                    f"{header.producer_epoch} and must restart at sequence 0, not {first_seq}"
                )
            return None
        for batch in entry.batches:
            if batch.first_sequence == first_seq and batch.last_sequence == header.last_sequence:
                return batch
        expected = (entry.last_sequence + 1) % _SEQUENCE_SPACE
        if first_seq == expected:
            return None
        behind = (expected - first_seq) % _SEQUENCE_SPACE
        if 0 < behind < _SEQUENCE_SPACE // 2:
            raise OutOfOrderSequenceError(
                f"producer {header.producer_id} resent sequence {first_seq}, older than the "
                f"{RETAINED_BATCHES} batches retained for duplicate detection (expected {expected})"
            )
        raise OutOfOrderSequenceError(
            f"producer {header.producer_id} sent sequence {first_seq}, expected {expected}"
        )

    def update(self, header: BatchHeader) -> None:
        """Record a batch that was appended (offsets assigned)."""
        entry = self._entries.get(header.producer_id)
        if entry is None or header.producer_epoch > entry.epoch:
            entry = ProducerEntry(header.producer_epoch)
            self._entries[header.producer_id] = entry
        entry.batches.append(
            BatchMetadata(
                header.base_sequence,
                header.last_sequence,
                header.base_offset,
                header.last_offset,
                header.max_timestamp,
            )
        )

    def truncate_after(self, offset: int) -> None:
        """Forget batches at or beyond ``offset`` (after the log was truncated)."""
        for pid in list(self._entries):
            entry = self._entries[pid]
            kept = [b for b in entry.batches if b.last_offset < offset]
            if not kept:
                del self._entries[pid]
            else:
                entry.batches = deque(kept, maxlen=RETAINED_BATCHES)

    # -- snapshots -----------------------------------------------------------------

    def write_snapshot(self, path: Path) -> None:
        data = {
            str(pid): {"epoch": entry.epoch, "batches": [asdict(b) for b in entry.batches]}
            for pid, entry in sorted(self._entries.items())
        }
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(data, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def load_snapshot(self, path: Path) -> None:
        """Replace state with a snapshot; a corrupt snapshot raises ValueError naming the
        file and leaves the state as it was."""
        try:
            raw = json.loads(path.read_text())
            entries: dict[int, ProducerEntry] = {}
            for pid, item in raw.items():
                entry = ProducerEntry(int(item["epoch"]))
                for batch in item["batches"]:
                    entry.batches.append(BatchMetadata(**{k: int(v) for k, v in batch.items()}))
                entries[int(pid)] = entry
        # Valid JSON of the wrong shape fails with these, not ValueError: a list at the
        # top level used to escape Log.open's handler and stop the broker from starting.
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path.name} is not a producer snapshot: {exc!r}") from exc
        self._entries = entries

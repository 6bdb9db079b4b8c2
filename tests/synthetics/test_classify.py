"""The sans-I/O classifier, table-driven: a script of sends, acks, failures, reads and
sweeps (times in seconds) and the verdicts it must produce."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from synthetics.classify import LedgerConfig, Outcome, ProbeLedger
from synthetics.record import ProbeRecord, encode_value

PROBE = "00000000000000aa"
OTHER = "00000000000000bb"
NS = 1_000_000_000
CONFIG = LedgerConfig(end_to_end_seconds=1.0, lost_after_seconds=10.0)


@dataclass(frozen=True)
class Case:
    name: str
    script: str  # one event per line: "send P SEQ T", "ack P SEQ T", "fail P SEQ T",
    # "read P SEQ T" (the record as sent), "read-as P SEQ T FROM" (written to FROM),
    # "read-foreign P SEQ T", "read-corrupt P SEQ T", "sweep T"
    expected: str  # one line per read ("P/SEQ outcome") and per non-empty sweep
    memory: int = 10_000


CASES = [
    Case(
        "a record read within the SLA is on time",
        "send 0 0 0\nack 0 0 0.005\nread 0 0 0.010\nsweep 100",
        "0/0 on_time",
    ),
    Case(
        "a record read after the SLA is late",
        "send 0 0 0\nack 0 0 0.1\nread 0 0 1.5",
        "0/0 late",
    ),
    Case(
        "a second copy of a record is a duplicate",
        "send 0 0 0\nack 0 0 0.01\nread 0 0 0.02\nread 0 0 0.03",
        "0/0 on_time\n0/0 duplicate",
    ),
    Case(
        "a lower sequence number after a higher one is reordered",
        "send 0 0 0\nsend 0 1 0\nack 0 0 0.01\nack 0 1 0.01\nread 0 1 0.02\nread 0 0 0.03",
        "0/1 on_time\n0/0 reordered",
    ),
    Case(
        "a reordered record that is also late counts as reordered",
        "send 0 0 0\nsend 0 1 0\nack 0 0 0.01\nack 0 1 0.01\nread 0 1 0.02\nread 0 0 5",
        "0/1 on_time\n0/0 reordered",
    ),
    Case(
        "a gap in sequence numbers is not reordering",
        "send 0 0 0\nsend 0 1 0\nsend 0 2 0\nfail 0 1 0.5\nack 0 0 0.01\nack 0 2 0.01\n"
        "read 0 0 0.02\nread 0 2 0.03\nsweep 100",
        "0/0 on_time\n0/2 on_time",
    ),
    Case(
        "an acknowledged record never read is lost once, lost_after after its ack",
        "send 0 0 0\nack 0 0 0.5\nsweep 10.4\nsweep 10.6\nsweep 30",
        "sweep lost 0/0",
    ),
    Case(
        "a failed produce is never counted lost",
        "send 0 0 0\nfail 0 0 1\nsweep 100",
        "",
    ),
    Case(
        "a failed produce that shows up anyway is judged like any record",
        "send 0 0 0\nfail 0 0 0.5\nread 0 0 0.6",
        "0/0 on_time",
    ),
    Case(
        "a produce acknowledged after the probe's ack timeout can still be lost",
        "send 0 0 0\nack 0 0 5\nsweep 14.9\nsweep 15.1",
        "sweep lost 0/0",
    ),
    Case(
        "a record read before its acknowledgement arrives is not lost",
        "send 0 0 0\nread 0 0 0.01\nack 0 0 0.02\nsweep 100",
        "0/0 on_time",
    ),
    Case(
        "a record read after it was counted lost is late, then a duplicate",
        "send 0 0 0\nack 0 0 0.01\nsweep 11\nread 0 0 12\nread 0 0 13",
        "sweep lost 0/0\n0/0 late\n0/0 duplicate",
    ),
    Case(
        "a record acknowledged after being given up and forgotten is awaited again",
        "send 0 0 0\nfail 0 0 0.1\nsweep 11\nack 0 0 12\nsweep 22.5",
        "sweep lost 0/0",
    ),
    Case(
        "a record of another probe instance is foreign and changes nothing",
        "send 0 0 0\nack 0 0 0.01\nread-foreign 0 0 0.02\nread 0 0 0.03",
        "0/0 foreign\n0/0 on_time",
    ),
    Case(
        "a record with a bad checksum is corrupted, and the original is lost",
        "send 0 0 0\nack 0 0 0.01\nread-corrupt 0 0 0.02\nsweep 20",
        "0/- corrupted\nsweep lost 0/0",
    ),
    Case(
        "a record read from another partition than it was written to is corrupted",
        "send 1 0 0\nack 1 0 0.01\nread-as 0 0 0.02 1",
        "0/0 corrupted",
    ),
    Case(
        "sequence numbers of different partitions are independent",
        "send 0 0 0\nsend 1 0 0\nack 0 0 0.01\nack 1 0 0.01\nread 1 0 0.02\nread 0 0 0.02",
        "1/0 on_time\n0/0 on_time",
    ),
    Case(
        "a copy of a record older than the ledger's memory is still a duplicate",
        "send 0 0 0\nsend 0 1 0\nsend 0 2 0\nack 0 0 0\nack 0 1 0\nack 0 2 0\n"
        "read 0 0 0.01\nread 0 1 0.01\nread 0 2 0.01\nread 0 0 0.02",
        "0/0 on_time\n0/1 on_time\n0/2 on_time\n0/0 duplicate",
        memory=2,
    ),
]


def run(case: Case) -> str:
    ledger = ProbeLedger(PROBE, LedgerConfig(1.0, 10.0, case.memory))
    sent_at: dict[tuple[int, int], int] = {}
    out = []
    for line in case.script.splitlines():
        op, *args = line.split()
        if op == "sweep":
            lost = ledger.sweep(int(float(args[0]) * NS)).lost
            if lost:
                out.append("sweep lost " + " ".join(f"{x.partition}/{x.sequence}" for x in lost))
            continue
        p, seq, t = int(args[0]), int(args[1]), int(float(args[2]) * NS)
        if op == "send":
            sent_at[(p, seq)] = t
            ledger.sent(p, seq, t)
        elif op == "ack":
            ledger.acked(p, seq, t)
        elif op == "fail":
            ledger.failed(p, seq, t)
        else:
            written_to = int(args[3]) if op == "read-as" else p
            probe = OTHER if op == "read-foreign" else PROBE
            value = encode_value(
                ProbeRecord(probe, written_to, seq, sent_at.get((written_to, seq), 0))
            )
            if op == "read-corrupt":  # checksum off by one
                value = value[:12] + b"%08x" % ((int(value[12:20], 16) + 1) % 2**32) + value[20:]
            verdict = ledger.consumed(p, value, t)
            shown = "-" if verdict.sequence is None else verdict.sequence
            out.append(f"{verdict.partition}/{shown} {verdict.outcome}")
    return "\n".join(out)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_classification(case: Case) -> None:
    assert run(case) == case.expected


def test_latency_is_read_time_minus_the_send_time_the_record_carries() -> None:
    ledger = ProbeLedger(PROBE, CONFIG)
    ledger.sent(0, 0, 10 * NS)
    verdict = ledger.consumed(
        0, encode_value(ProbeRecord(PROBE, 0, 0, 10 * NS)), 10 * NS + 2_500_000
    )
    assert verdict.outcome is Outcome.ON_TIME
    assert verdict.latency_seconds == pytest.approx(0.0025)


def test_a_record_stamped_in_the_future_has_zero_latency_not_negative() -> None:
    ledger = ProbeLedger(PROBE, CONFIG)
    verdict = ledger.consumed(0, encode_value(ProbeRecord(PROBE, 0, 0, 20 * NS)), 10 * NS)
    assert verdict.latency_seconds == 0.0


def test_duplicates_and_corrupted_records_carry_no_latency() -> None:
    ledger = ProbeLedger(PROBE, CONFIG)
    value = encode_value(ProbeRecord(PROBE, 0, 0, 0))
    ledger.consumed(0, value, NS)
    assert ledger.consumed(0, value, NS).latency_seconds is None
    assert ledger.consumed(0, b"junk", NS).latency_seconds is None


def test_overdue_records_fail_the_consume_check_until_read() -> None:
    ledger = ProbeLedger(PROBE, CONFIG)
    ledger.sent(0, 0, 0)
    ledger.sent(1, 0, 0)
    ledger.acked(0, 0, NS // 100)
    ledger.acked(1, 0, NS // 100)
    ledger.consumed(1, encode_value(ProbeRecord(PROBE, 1, 0, 0)), NS // 50)
    assert dict(ledger.sweep(NS // 2).overdue) == {0: 0, 1: 0}
    assert dict(ledger.sweep(2 * NS).overdue) == {0: 1, 1: 0}
    ledger.consumed(0, encode_value(ProbeRecord(PROBE, 0, 0, 0)), 3 * NS)
    assert dict(ledger.sweep(4 * NS).overdue) == {0: 0, 1: 0}


def test_summary_counts_records_in_flight_and_awaiting_a_read() -> None:
    ledger = ProbeLedger(PROBE, CONFIG)
    for seq in range(3):
        ledger.sent(0, seq, 0)
    ledger.acked(0, 0, 1)
    ledger.consumed(0, encode_value(ProbeRecord(PROBE, 0, 1, 0)), 2)
    (summary,) = ledger.summary()
    assert (summary.highest_sequence_read, summary.in_flight, summary.awaiting) == (1, 1, 1)


@pytest.mark.parametrize(
    ("end_to_end", "lost_after", "memory"),
    [(0, 10, 1), (10, 10, 1), (1, 10, 0)],
    ids=["zero SLA", "lost_after not above the SLA", "no memory"],
)
def test_nonsensical_ledger_configs_are_refused(
    end_to_end: float, lost_after: float, memory: int
) -> None:
    with pytest.raises(ValueError):
        LedgerConfig(end_to_end, lost_after, memory)

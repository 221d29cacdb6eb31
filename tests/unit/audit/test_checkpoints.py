"""Signed checkpoints: made when records wait and the last is old enough, by one process at a
time under a lease, chained, and the only thing that lets Redis drop records (retention)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.approvals.audit import Audit
from app.audit.checkpointer import Checkpointer
from app.audit.checkpoints import Checkpoint, stored
from app.audit.merkle import root_of
from app.audit.verify import verify_file
from app.foundations.clock import shifted

pytestmark = pytest.mark.server_and_cluster


def test_a_checkpoint_signs_the_root_of_every_record_so_far(
    audit: Audit, checkpointer: Checkpointer, signing_key: Ed25519PrivateKey
) -> None:
    for n in range(5):
        audit.record("request.created", request=f"R-{n}")
    made = checkpointer.checkpoint()
    assert made is not None and made.size == 5 and made.previous == ""
    assert made.root == root_of([e.leaf for e in audit.log.entries()]).hex()
    assert made.valid(signing_key.public_key())
    assert checkpointer.checkpoint() is None  # nothing waits


def test_checkpoints_are_due_when_records_wait_and_the_last_is_older_than_the_setting(
    audit: Audit, checkpointer: Checkpointer
) -> None:
    assert not checkpointer.due()  # nothing recorded
    audit.record("a")
    assert checkpointer.due()  # never signed: at once
    first = checkpointer.tick()
    audit.record("b")
    assert not checkpointer.due() and checkpointer.tick() is None  # signed under 10 min ago
    with shifted(601):
        second = checkpointer.tick()
    assert first is not None and second is not None
    assert second.size == 2 and second.previous == first.hash


def test_no_checkpoint_while_another_process_holds_the_lease(
    redis, audit: Audit, checkpointer: Checkpointer
) -> None:
    audit.record("a")
    redis.set(checkpointer.keys.lease, "another-worker", ex=60)
    assert checkpointer.checkpoint() is None
    assert list(stored(redis, checkpointer.keys)) == []
    redis.delete(checkpointer.keys.lease)
    assert checkpointer.checkpoint() is not None


def test_a_pass_that_lost_its_lease_commits_nothing(
    redis, key_prefix: str, audit: Audit, signing_key: Ed25519PrivateKey
) -> None:
    """A pass slower than its lease: another worker took over meanwhile; the slow one's
    checkpoint is refused by the commit script, so two never fork the chain."""

    def key_while_the_lease_moves() -> Ed25519PrivateKey:
        redis.set(slow.keys.lease, "the-next-holder")
        return signing_key

    slow = Checkpointer(
        redis,
        prefix=key_prefix,
        key=key_while_the_lease_moves,
        every=600,
        retention=86400,
        maxlen=1000,
    )
    audit.record("a")
    assert slow.checkpoint() is None
    assert list(stored(redis, slow.keys)) == []
    assert slow.tree().frontier.size == 0


def test_checkpointers_racing_in_threads_make_one_chain(
    redis, key_prefix: str, audit: Audit, signing_key: Ed25519PrivateKey, exported, tmp_path: Path
) -> None:
    """Four workers' checkpointers and writers all at once: every checkpoint extends the one
    before, and the export of it all verifies."""
    stop = threading.Event()
    made: list[Checkpoint] = []

    def work(n: int) -> None:
        mine = Checkpointer(
            redis,
            prefix=key_prefix,
            key=lambda: signing_key,
            every=0,
            retention=86400,
            maxlen=100_000,
        )
        while not stop.is_set():
            audit.record("request.created", request=f"R-{n}")
            found = mine.tick()
            if found is not None:
                made.append(found)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    threading.Event().wait(1.0)
    stop.set()
    for thread in threads:
        thread.join()
    Checkpointer(
        redis, prefix=key_prefix, key=lambda: signing_key, every=0, retention=86400, maxlen=100_000
    ).checkpoint()
    chain = [s.checkpoint for s in stored(redis, audit.log.keys)]
    assert len(chain) >= 2 and len(chain) in (len(made), len(made) + 1)
    assert all(b.previous == a.hash and b.size > a.size for a, b in zip(chain, chain[1:]))
    summary = verify_file(exported(), signing_key.public_key())
    assert summary.size == audit.log.next_seq() == chain[-1].size


def test_retention_drops_whole_checkpointed_intervals_and_appends_go_on(
    redis, key_prefix: str, audit: Audit, signing_key: Ed25519PrivateKey, signed, exported
) -> None:
    """Over MAXLEN, Redis drops the oldest intervals a checkpoint covers, never an uncovered
    record; the frontier kept lets the tree grow on and an export of what is left verify."""
    keep_15 = Checkpointer(
        redis, prefix=key_prefix, key=lambda: signing_key, every=0, retention=86400, maxlen=15
    )
    for _ in range(3):
        for n in range(10):
            audit.record("x", n=n)
        keep_15.checkpoint()
    audit.record("waiting")  # seq 30: no checkpoint covers it yet
    assert keep_15.trim() == 0  # done already at the last checkpoint
    left = [e.seq for e in audit.log.entries()]
    assert left == list(range(10, 31))  # 0-9 went (through the checkpoint at 10): 21 > 15 kept
    assert [s.checkpoint.size for s in stored(redis, audit.log.keys)] == [10, 20, 30]
    signed(4)
    summary = verify_file(exported(), signing_key.public_key())
    assert (summary.first, summary.size) == (10, 35)


def test_retention_by_age_keeps_what_no_checkpoint_covers(
    redis, audit: Audit, checkpointer: Checkpointer, signed
) -> None:
    signed(5)
    audit.record("waiting")
    with shifted(31 * 86400):
        checkpointer.trim()
    assert [e.seq for e in audit.log.entries()] == [5]
    assert [s.checkpoint.size for s in stored(redis, audit.log.keys)] == [5]  # the anchor


def test_a_record_deleted_before_its_checkpoint_stops_signing_there(
    redis, audit: Audit, checkpointer: Checkpointer, caplog: pytest.LogCaptureFixture
) -> None:
    """Someone with Redis deletes seq 2 before a checkpoint covered it: records 0-1 are
    signed, nothing at or after the gap ever is, and the error says which seq is missing."""
    for n in range(5):
        audit.record("x", n=n)
    (victim,) = [e.stream_id for e in audit.log.entries() if e.seq == 2]
    redis.xdel(audit.key, victim)
    made = checkpointer.checkpoint()
    assert made is not None and made.size == 2
    assert checkpointer.checkpoint() is None
    gaps = [r for r in caplog.records if getattr(r, "event", "") == "audit.gap"]
    assert len(gaps) == 1 and gaps[0].expected == 2

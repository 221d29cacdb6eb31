"""Sequence numbers are assigned in the step that appends the record, across processes: many
writers at once on one Redis server and on a 3-node Redis Cluster get contiguous, unique
numbers, in stream order, and the act's record costs no more round trips than before."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis as redis_py
from redis.connection import AbstractConnection

from app.approvals.audit import Audit
from app.audit.log import AuditLog, canonical, entry_of

pytestmark = pytest.mark.server_and_cluster


def seqs_in_stream_order(log: AuditLog) -> list[int]:
    return [entry.seq for entry in log.entries()]


def test_threads_appending_at_once_get_contiguous_unique_seqs_in_stream_order(
    redis, key_prefix: str
) -> None:
    audits = [Audit(redis, prefix=key_prefix) for _ in range(4)]  # four "processes'" objects
    with ThreadPoolExecutor(8) as pool:
        returned = list(
            pool.map(lambda n: audits[n % 4].log.append({"event": "t", "n": str(n)}), range(400))
        )
    assert sorted(returned) == list(range(400))
    assert seqs_in_stream_order(audits[0].log) == list(range(400))


WRITER = """
import sys
from app.approvals.audit import Audit
from app.foundations.storage import connect
audit = Audit(connect(sys.argv[1]), prefix=sys.argv[2])
for n in range(int(sys.argv[3])):
    audit.record("test.append", actor=sys.argv[4], n=n)
"""


@pytest.mark.slow
def test_processes_appending_at_once_get_contiguous_unique_seqs(
    redis, redis_url: str, key_prefix: str
) -> None:
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, redis_url, key_prefix, "150", f"P{i}"])
        for i in range(4)
    ]
    assert [w.wait(timeout=60) for w in writers] == [0, 0, 0, 0]
    log = AuditLog(redis, prefix=key_prefix)
    assert seqs_in_stream_order(log) == list(range(600))
    assert log.next_seq() == 600


def test_a_record_in_a_pipeline_gets_its_seq_when_the_pipeline_runs(redis, key_prefix: str) -> None:
    """The sweep audits a batch of expiries in one pipeline: still one seq each, in order
    (on a Cluster, which refuses scripts in a pipeline, each goes at once instead)."""
    audit = Audit(redis, prefix=key_prefix)
    audit.record("first")
    pipe = redis.pipeline(transaction=False)
    for n in range(3):
        audit.record("request.expired", request=f"R-{n}", pipe=pipe)
    pipe.execute()
    assert [(r.seq, r.event) for r in audit.read()] == [
        (0, "first"),
        (1, "request.expired"),
        (2, "request.expired"),
        (3, "request.expired"),
    ]


def test_the_record_hashed_is_its_fields_and_seq_in_canonical_json(redis, key_prefix: str) -> None:
    audit = Audit(redis, prefix=key_prefix)
    audit.record("request.created", request="R-ABCDE", actor="U1", reason='a "quoted" é\n')
    ((stream_id, fields),) = redis.xrange(audit.key)
    entry = entry_of(stream_id, fields)
    assert entry is not None and entry.seq == 0
    assert entry.body == canonical({**fields, "seq": 0})
    assert entry.body.startswith(
        b'{"actor":"U1","event":"request.created","reason":"a \\"quoted\\" \xc3\xa9\\n"'
    )
    assert b'"seq":0,' in entry.body


def test_a_fact_named_seq_is_refused(redis, key_prefix: str) -> None:
    with pytest.raises(ValueError, match="seq"):
        Audit(redis, prefix=key_prefix).record("x", seq=3)


def test_an_append_is_one_round_trip(redis, key_prefix: str) -> None:
    """The act pays one call for its record, as it did for the plain XADD before."""
    audit = Audit(redis, prefix=key_prefix)
    audit.record("warm")  # the script is loaded once per process
    sent: list[object] = []
    original = redis.execute_command

    def counting(*args, **kwargs):
        sent.append(args[0])
        return original(*args, **kwargs)

    redis.execute_command = counting
    try:
        audit.record("counted", request="R-1")
    finally:
        redis.execute_command = original
    assert sent == ["EVALSHA"]


def test_an_append_whose_answer_was_lost_and_sent_again_is_in_the_log_once(
    redis, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis ran the script, then the connection broke before its answer arrived (a restart):
    redis-py sends the same command again on a new connection. The record's id, sent with it,
    makes the second a no-op."""
    audit = Audit(redis, prefix=key_prefix)
    audit.record("warm")
    original = AbstractConnection.read_response
    cut = []

    def lost(connection: AbstractConnection, *args, **kwargs):
        answer = original(connection, *args, **kwargs)
        if not cut:
            cut.append(answer)
            connection.disconnect()
            raise redis_py.ConnectionError("connection lost before the answer was read")
        return answer

    monkeypatch.setattr(AbstractConnection, "read_response", lost)
    audit.record("request.created", request="R-ONCE", actor="U1")
    monkeypatch.undo()
    assert cut == [1]  # the first send appended seq 1; its answer never reached the caller
    assert [(r.seq, r.event) for r in audit.read()] == [(0, "warm"), (1, "request.created")]
    assert audit.log.next_seq() == 2


def test_a_record_sent_again_with_its_id_is_appended_once(redis, key_prefix: str) -> None:
    """An act that waited out a Redis restart sends its record again with the same id."""
    log = AuditLog(redis, prefix=key_prefix)
    fields = {"event": "request.created", "request": "R-1"}
    assert log.append(fields, rid="act-1") == 0
    assert log.append(fields, rid="act-1") is None
    assert log.append(fields, rid="act-2") == 1
    assert log.append_many([("act-2", fields), ("act-3", fields)]) == [None, 2]
    assert [entry.seq for entry in log.entries()] == [0, 1, 2]


def test_record_ids_are_forgotten_once_their_time_is_up(redis, key_prefix: str) -> None:
    """The index of ids holds only those still remembered: it does not grow with the log."""
    log = AuditLog(redis, prefix=key_prefix)
    for n in range(5):
        log.append({"event": "old"}, now=1000.0 + n, remember=10)
    log.append({"event": "new"}, now=5000.0, remember=10)
    assert redis.zcard(log.keys.ids) == 1

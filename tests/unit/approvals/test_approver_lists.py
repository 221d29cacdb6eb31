"""A long approver list is kept once, apart from the requests it governs
(app/approvals/approver_lists.py): a request stays small and still reads back whole."""

from __future__ import annotations

import json
import time

import pytest

from app.approvals.approver_lists import NOBODY
from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Change, Verb
from app.approvals.machine import State
from app.approvals.store import ApprovalStore
from app.mysafe.models import Kind

MANY = frozenset(f"UAPPR{n:03d}" for n in range(200))


pytestmark = pytest.mark.server_and_cluster


def made(store: ApprovalStore, approvers: frozenset[str], n: int = 1) -> str:
    now = time.time()
    record = ChangeRequest(
        id="",
        change=Change(Verb.SHARE, Kind.PASSWORD, n),
        state=State.PENDING,
        requester="UALICE",
        requester_name="alice",
        created=now,
        expires=now + 3600,
        required=2,
        rule="production",
        approvers=approvers,
    )
    request_id, created = store.create(
        record.to_redis(), requester="UALICE", created=now, expires=now + 3600
    )
    assert created
    return request_id


def test_a_request_under_a_rule_of_200_approvers_stays_small_and_reads_back_whole(
    redis, key_prefix: str
) -> None:
    store = ApprovalStore(redis, prefix=key_prefix)
    first, second = made(store, MANY, 1), made(store, MANY, 2)
    few = made(store, frozenset({"UCAROL", "UDAVE"}), 3)

    def size(request_id: str) -> int:
        return int(redis.memory_usage(store.request_keys(request_id)[0], samples=0))

    for request_id in (first, second):
        # The list alone is 2,400 B of JSON; its reference costs a digest, allocator rounding
        # and maybe the hash's larger encoding (one field past 64 bytes): 400 B was measured
        # once at 416. Half the list still tells a reference from the list itself.
        assert size(request_id) < size(few) + 1200
        assert store.get(request_id).approvers == MANY
    assert len(list(redis.scan_iter(match=f"{key_prefix}:approvers:*"))) == 1  # kept once
    fresh = ApprovalStore(redis, prefix=key_prefix)  # another process: nothing remembered
    assert [r.approvers for r in fresh.get_many([first, second])] == [MANY, MANY]
    waiting = fresh.waiting_for("UAPPR007", ["UAPPR007"], may_decide=lambda a: "UAPPR007" in a)
    assert waiting == [second, first]


def test_the_list_outlives_every_request_that_names_it(redis, key_prefix: str) -> None:
    store = ApprovalStore(redis, prefix=key_prefix)
    request_id = made(store, MANY)
    (list_key,) = redis.scan_iter(match=f"{key_prefix}:approvers:*")
    assert redis.ttl(list_key) > redis.ttl(store.request_keys(request_id)[0])


def test_a_short_list_and_a_list_stored_in_the_request_before_stay_as_they_were(
    redis, key_prefix: str
) -> None:
    store = ApprovalStore(redis, prefix=key_prefix)
    one = made(store, frozenset({"UCAROL"}))
    assert redis.hget(store.request_keys(one)[0], "approvers") == '["UCAROL"]'
    older = made(store, frozenset({"UCAROL"}), 2)
    redis.hset(store.request_keys(older)[0], "approvers", json.dumps(sorted(MANY)))
    assert store.get(older).approvers == MANY


def test_a_lost_list_lets_nobody_decide(redis, key_prefix: str) -> None:
    """Never whoever the settings name: `Approvers` falls back to them on an empty list."""
    request_id = made(ApprovalStore(redis, prefix=key_prefix), MANY)
    redis.delete(*redis.scan_iter(match=f"{key_prefix}:approvers:*"))
    fresh = ApprovalStore(redis, prefix=key_prefix)
    assert fresh.get(request_id).approvers == frozenset({NOBODY})
    assert fresh.waiting_for("UAPPR007", ["UAPPR007"], may_decide=lambda a: "UAPPR007" in a) == []

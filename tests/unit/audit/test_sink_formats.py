"""The sinks' formats: each audit record as an OCSF event of its class that validates against
the pinned schema, and as a CEF line a strict parser reads back whole."""

from __future__ import annotations

import json

import pytest

from app.audit.log import Entry, canonical
from app.audit.sinks import cef, ocsf
from tests.support.cef import parse as parse_cef
from tests.support.ocsf import validate

TS = "2026-12-05T14:02:11.204+00:00"


def entry(seq: int, **fields: str) -> Entry:
    record = {"seq": seq, "ts": TS, "request": "R-7K2QF", "actor": "U0ALICE", **fields}
    return Entry(f"{seq + 1}-0", seq, canonical(record))


#: One record of each kind the SIEM classes tell apart, and the class and activity each maps to.
MAPPED = [
    (
        dict(
            event="request.applied", verb="share", kind="password", entry="312", users="bob", edit="yes"
        ),
        3005,
        1,
    ),
    (
        dict(event="request.applied", verb="unshare", kind="password", entry="312", groups="Ops"),
        3005,
        2,
    ),
    (dict(event="revoke.done", entry="password:312", removed="user:bob"), 3005, 2),
    (dict(event="request.applied", verb="create", kind="secret", entry="9"), 3004, 1),
    (dict(event="request.applied", verb="update", kind="password", entry="312"), 3004, 3),
    (
        dict(event="request.failed", verb="disable", kind="password", entry="312", error="no access"),
        3004,
        9,
    ),
    (dict(event="request.applied", verb="enable", kind="password", entry="312"), 3004, 8),
    (dict(event="policy.reloaded", path="/etc/policy.yml"), 3004, 3),
    (dict(event="account.linked", via="login", mysafe_username="alice", client_id="c1"), 3002, 1),
    (dict(event="account.unlinked", via="logout"), 3002, 2),
    (dict(event="request.created", verb="share", kind="password", entry="312", channel="mcp"), 6003, 1),
    (dict(event="request.approve", verb="share"), 6003, 3),
    (dict(event="click.refused", why="self-approval"), 6003, 99),
]


@pytest.mark.parametrize(
    ("fields", "class_uid", "activity"),
    MAPPED,
    ids=[f["event"] + ":" + f.get("verb", "") for f, *_ in MAPPED],
)
def test_each_record_is_an_ocsf_event_of_its_class_that_validates_against_the_pinned_schema(
    fields, class_uid, activity
):
    event = ocsf.event(entry(41, **fields))
    assert (event["class_uid"], event["activity_id"]) == (class_uid, activity)
    assert validate(event) == []
    assert event["metadata"]["version"] == "1.8.0"
    assert event["metadata"]["uid"] == "41" and event["metadata"]["sequence"] == 41
    assert event["metadata"]["correlation_uid"] == "R-7K2QF"
    # nothing the record says is dropped: what no attribute holds is in `unmapped`
    record = json.loads(entry(41, **fields).body)
    assert {
        k: v for k, v in record.items() if k not in ("seq", "ts", "event", "request", "actor")
    } == event.get("unmapped", {})


def test_the_validator_refuses_what_the_schema_refuses():
    event = ocsf.event(entry(1, **MAPPED[0][0]))
    del event["privileges"]
    event["activity_id"] = 7
    event["metadata"]["product"] = "a string"
    problems = validate(event)
    assert "privileges: required" in problems
    assert any(p.startswith("activity_id: 7 is not one of") for p in problems)
    assert "metadata.product: an object (product)" in problems


def test_cef_round_trips_through_a_strict_parser_whatever_the_values_hold():
    nasty = "a|b = c \\ d\nforged=line\r key=x"
    e = entry(7, event="request.created", verb="share", kind="password", entry="312", reason=nasty)
    line = cef.line(e)
    assert "\n" not in line and "\r" not in line
    parsed = parse_cef(line)
    assert (parsed.vendor, parsed.product, parsed.signature) == (
        "MySafe ChatOps bot",
        "mysafe-bot",
        "request.created",
    )
    assert parsed.extension["externalId"] == "7"
    assert parsed.extension["suser"] == "U0ALICE" and parsed.extension["cs1"] == "R-7K2QF"
    assert parsed.extension["cs6"].encode() == e.body  # the whole record, byte for byte
    assert json.loads(parsed.extension["cs6"])["reason"] == nasty
    assert "forged" not in parsed.extension


#: Verbs an export names only as API Activity "Other": OCSF has no activity for them yet.
GENERIC_IN_OCSF = {"reduce"}


def test_the_ocsf_verb_table_names_only_verbs_and_misses_none_by_accident() -> None:
    """The audit sink may not import the engine, so its table is keyed by `Verb`'s values:
    a verb renamed or added without a decision here fails this test."""
    from app.approvals.changes import Verb

    verbs = {verb.value for verb in Verb}
    assert set(ocsf.VERBS) <= verbs
    assert verbs - set(ocsf.VERBS) == GENERIC_IN_OCSF

"""The stored request is defined in one place: `ChangeRequest.to_redis` writes what
`from_redis` reads back, and the transition script reads and writes only the fields the
record declares."""

from __future__ import annotations

import re
from importlib.resources import files

from app.approvals.change_diff import DiffLine
from app.approvals.change_request import ChangeRequest
from app.approvals.changes import Change, Verb
from app.approvals.machine import State
from app.mysafe.models import Kind

_CALL = re.compile(r"redis\.call\('(HMGET|HGET|HSET|HDEL|HINCRBY)',\s*req,|(?<![\w.])(set|finalise)\(")
_LITERAL = re.compile(r"^'([a-z_]+)'$")


def _arguments(text: str, start: int) -> list[str]:
    """The comma-separated arguments from `start` to the call's closing parenthesis."""
    args, depth, current = [], 0, ""
    for char in text[start:]:
        if char == ")" and depth == 0:
            break
        depth += {"(": 1, ")": -1, "{": 1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            args.append(current.strip())
            current = ""
        else:
            current += char
    return [*args, current.strip()]


def script_fields(text: str) -> set[str]:
    """The request-hash field names the script names: every literal of HMGET, the first of
    HGET/HDEL/HINCRBY, and the names (even places) of HSET and its `set`/`finalise` helpers,
    whose first argument is the new state."""
    text = re.sub(r"--[^\n]*", "", text)
    names: set[str] = set()
    for call in _CALL.finditer(text):
        args = _arguments(text, call.end())
        command = call.group(1)
        if command == "HMGET":
            chosen = args
        elif command in ("HGET", "HDEL", "HINCRBY"):
            chosen = args[:1]
        elif command == "HSET":
            chosen = args[::2]
        else:
            chosen = args[1::2]
        names |= {m.group(1) for a in chosen if (m := _LITERAL.match(a))}
    return names


def test_the_transition_script_names_only_fields_the_record_declares() -> None:
    script = files("app.approvals").joinpath("lua/transition.lua").read_text(encoding="utf-8")
    named = script_fields(script)
    assert {"state", "lease", "beneficiaries", "deny_reason", "confirming", "untold"} <= named
    assert named - ChangeRequest.stored_fields() == set()


def test_a_new_request_reads_back_as_it_was_stored() -> None:
    record = ChangeRequest(
        id="R-ABC123",
        change=Change(Verb.ROTATE, Kind.PASSWORD, 7),
        state=State.PENDING,
        requester="UALICE",
        requester_name="alice",
        created=1_000.5,
        expires=2_000.25,
        required=2,
        diff=(DiffLine("password", "", "(new)"),),
        entry_name="db",
        reason="on-call",
        ticket={"key": "OPS-1"},
        notify=("UBOB",),
        people={"bob": "UBOB"},
        encrypted_secrets="gAAA",
        preexisting=frozenset({3, 1}),
        rule="prod",
        approvers=frozenset({"UAPP"}),
        rule_channel="C1",
        policy_version=4,
        policy="abc",
        remind_after=60,
        escalate_to=("UESC",),
        step_up="passkey",
        step_up_max_age=300,
        break_glass={"rule": "prod"},
    )
    stored = record.to_redis()
    assert set(stored) <= ChangeRequest.stored_fields()
    assert ChangeRequest.from_redis({**stored, "id": record.id, "shown": "0"}, set()) == record

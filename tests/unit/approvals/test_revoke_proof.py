"""Proof of revoke: after every end of a time-bound share the entry is read back, and what it
shows is audited — verified, or drift told to the owner and the channels, never silently; a
rotate-after is proven by digests of the password, never by the value.

Real Redis, the MySafe emulator over HTTP and, for what people are told, the recording Slack
fake. The clock is the worker's: `Revoker.sweep(now=…)`.
"""

from __future__ import annotations

import json

import pytest

from app.approvals.changes import Change, Verb
from app.approvals.engine import Engine
from app.approvals.machine import State
from app.approvals.revoker import Revoker
from app.foundations.settings import Scope, Settings
from app.mysafe.models import Kind, UserShare
from app.ops.runtime import build_runtime
from app.sandbox.emulator import Emulator
from tests.support.slack_fake import SlackFake

HOUR = 3600


@pytest.fixture
def engine(services) -> Engine:
    return Engine(services)


@pytest.fixture
def revoker(engine: Engine) -> Revoker:
    return engine.new_revoker(jitter=lambda: 1.0)


@pytest.fixture
def entry(emulator: Emulator, link) -> int:
    """A password alices (UALICE) owns, shared read-only with bobm; carol has nothing."""
    link("UALICE", "alices")
    for name in ("bobm", "carol"):
        emulator.add_user(name)
    return emulator.add_password(
        "alices",
        name="GCP console",
        username="ops@example.com",
        password="old-password-1",
        users_allowed=[{"username": "bobm"}],
    )


def share(
    engine: Engine, entry: int, *users: UserShare, rotate_after: bool = False
) -> tuple[str, float]:
    change = Change(
        Verb.SHARE,
        Kind.PASSWORD,
        entry,
        add_users=users,
        duration=HOUR,
        rotate_after=rotate_after,
    )
    request = engine.submit(change, requester="UALICE", reason="on-call")
    applied = engine.approve(request.id, "UAPPROVER1").request
    assert applied.state is State.APPLIED
    return request.id, float(applied.result["ends"])


def audited(engine: Engine, request_id: str, event: str) -> list[dict[str, str]]:
    return [r.facts for r in engine.audit.read(request=request_id) if r.event == event]


def test_an_end_is_read_back_and_audited_verified(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    request_id, ends = share(engine, entry, UserShare("carol", True))
    gets = len(emulator.calls_to("GET", f"/api/mysafe/password/{entry}"))
    assert revoker.sweep(now=ends + 1) == 1
    (verified,) = audited(engine, request_id, "share.revoke_verified")
    assert verified["entry"] == f"password:{entry}" and verified["checked"] == "carol (edit)"
    assert audited(engine, request_id, "share.drift_detected") == []
    # Read back after the end was recorded: a read of its own, beyond the end's own reads.
    assert len(emulator.calls_to("GET", f"/api/mysafe/password/{entry}")) >= gets + 3


def test_access_given_again_by_hand_is_drift_audited_and_kept_on_the_record(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    request_id, ends = share(engine, entry, UserShare("carol"))
    # During the window alices raises carol to edit by hand in MySafe.
    emulator.update_entry(
        "password",
        entry,
        users_allowed=[{"username": "bobm"}, {"username": "carol", "can_edit": True}],
    )
    revoker.sweep(now=ends + 1)
    (drift,) = audited(engine, request_id, "share.drift_detected")
    assert drift["differs"] == "carol still has edit (had no access before the share; given outside it)"
    assert audited(engine, request_id, "share.revoke_verified") == []
    revoke = revoker.store.get(request_id)
    assert revoke is not None and revoke.state == "done" and len(revoke.drift) == 1


def test_another_running_share_is_not_drift(engine: Engine, revoker: Revoker, entry: int) -> None:
    first, ends = share(engine, entry, UserShare("carol"))
    change = Change(
        Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("carol", True),), duration=10 * HOUR
    )
    later = engine.submit(change, requester="UALICE", reason="edit, for longer")
    engine.approve(later.id, "UAPPROVER1")
    revoker.sweep(now=ends + 1)
    assert len(audited(engine, first, "share.revoke_verified")) == 1
    assert audited(engine, first, "share.drift_detected") == []


def test_a_rotate_after_is_proven_by_digests_never_by_the_value(
    engine: Engine, revoker: Revoker, entry: int, emulator: Emulator
) -> None:
    request_id, ends = share(engine, entry, UserShare("carol"), rotate_after=True)
    revoker.sweep(now=ends + 1)
    stored = emulator.get_password(entry)
    assert stored is not None and stored["password"] != "old-password-1"
    (proven,) = audited(engine, request_id, "share.rotate_verified")
    assert proven == {
        "entry": f"password:{entry}",
        "compared": "sha256",
        "old": "differs from the new one",
    }
    trail = json.dumps([r.to_json() for r in engine.audit.read(request=request_id)])
    assert stored["password"] not in trail and "old-password-1" not in trail


def test_drift_is_told_to_the_owner_the_approvals_channel_and_the_audit_channel(
    slack_env: dict[str, str], slack: SlackFake, redis, emulator: Emulator
) -> None:
    settings = Settings.from_env(
        {**slack_env, "MYSAFE_BOT_AUDIT_CHANNEL": "C0AUDIT"}, scope=Scope.SERVICE, dotenv=None
    )
    runtime = build_runtime(settings, redis=redis, front=False)
    client_id, secret = emulator.add_user("alices")
    runtime.services.vault.link(
        "UALICE", client_id=client_id, client_secret=secret, mysafe_username="alices"
    )
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="GCP console", username="ops", password="pw-1")
    request_id, ends = share(runtime.engine, entry, UserShare("carol"))
    emulator.update_entry("password", entry, users_allowed=[{"username": "carol", "can_edit": True}])
    assert runtime.revoker is not None
    runtime.revoker.sweep(now=ends + 1)
    told = {
        c.args["channel"]
        for c in slack.calls_to("chat.postMessage")
        if "carol still has edit" in c.args.get("text", "")
    }
    assert told == {"UALICE", "C0APPROVALS", "C0AUDIT"}

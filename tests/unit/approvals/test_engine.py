"""The approval engine against a real Redis (single server and a 3-node cluster) and the emulator."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.approvals.changes import Change, Verb
from app.approvals.decision import EveryChange
from app.approvals.engine import Engine
from app.approvals.machine import TRANSITIONS, State
from app.approvals.sweeping import TELL_WITHIN
from app.foundations import errors
from app.foundations.clock import timestamp
from app.mysafe.models import GroupShare, Kind, UserShare
from app.sandbox.emulator import Emulator
from app.services import Services
from tests.support.approvers import Approving
from tests.support.redis_text import everything_stored

SECRET_PASSWORD = "N3w-Pa55word-never-shown"
PUT_PASSWORD = "/api/mysafe/password/update"


pytestmark = pytest.mark.server_and_cluster


class Told(EveryChange):
    """A listener that records what the engine announced (what Slack would be told)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def changed(self, request, event: str) -> None:
        with self.lock:
            self.events.append((request.id, event))

    def count(self, event: str) -> int:
        return sum(1 for _, e in self.events if e == event)


@pytest.fixture
def told() -> Told:
    return Told()


@pytest.fixture
def engine(services: Services, told: Told) -> Engine:
    return Engine(services, listeners=[told], approvers=APPROVING)


#: Everyone a test has click approves, save a stranger.
APPROVING = Approving("URANDOM")


@pytest.fixture
def entry(emulator: Emulator, link) -> int:
    """A password owned by alice (linked as UALICE), already shared with bob."""
    link("UALICE", "alices")
    for name in ("bobm", "carol", "dave"):
        emulator.add_user(name)
    emulator.add_group("Ops", ["dave"])
    return emulator.add_password(
        "alices",
        name="GCP console",
        username="ops@example.com",
        password="old-password-1",
        users_allowed=[{"username": "bobm"}],
    )


def share(identifier: int, *users: str, edit: bool = False) -> Change:
    return Change(
        Verb.SHARE, Kind.PASSWORD, identifier, add_users=tuple(UserShare(u, edit) for u in users)
    )


def with_required(engine: Engine, n: int) -> Engine:
    """An engine as `engine`, whose settings' one rule needs `n` approvals."""
    from dataclasses import replace

    from app.approvals.policy import PolicyBook

    services = replace(engine.services, settings=replace(engine.settings, approvals_required=n))
    return Engine(
        services,
        listeners=engine.listeners,
        approvers=engine.approvers,
        policy=PolicyBook(services.settings),  # no policy file: the settings are the rule
    )


def puts(emulator: Emulator) -> int:
    return len(emulator.calls_to("PUT", PUT_PASSWORD))


# --- submit -----------------------------------------------------------------------------------


def test_submit_stores_a_pending_request_with_a_diff(engine: Engine, entry: int, told: Told) -> None:
    request = engine.submit(share(entry, "carol"), requester="UALICE", reason="on-call")
    assert request.id.startswith("R-") and len(request.id) == 7
    assert request.state is State.PENDING and request.entry_name == "GCP console"
    assert request.requester_name == "alices"
    assert [d.to_json() for d in request.diff] == [["users_allowed", "", "view", "carol"]]
    assert told.events == [(request.id, "created")]
    assert [r.id for r in engine.open_for("UALICE")] == [request.id]
    assert [r.id for r in engine.queue()] == [request.id]


@pytest.mark.parametrize(("identifier", "error"), [(999, errors.NotFound)])
def test_submit_for_a_missing_entry_stores_nothing(
    engine: Engine, entry: int, redis, key_prefix: str, identifier, error
) -> None:
    before = set(redis.scan_iter(match=f"{key_prefix}:*"))
    with pytest.raises(error):
        engine.submit(share(identifier, "carol"), requester="UALICE")
    after = set(redis.scan_iter(match=f"{key_prefix}:*"))
    # The key's cached token, and the refusal's audit record: no request.
    assert after - before <= {engine.services.mysafe.tokens.key("UALICE"), engine.audit.key}
    assert [r.event for r in engine.audit.read()] == ["request.refused"]


def test_submit_without_a_linked_key(engine: Engine, entry: int) -> None:
    with pytest.raises(errors.CredentialsMissing):
        engine.submit(share(entry, "carol"), requester="UNOKEY")


def test_idempotency_key_gives_one_request(engine: Engine, entry: int) -> None:
    first = engine.submit(share(entry, "carol"), requester="UALICE", idempotency_key="slack:abc")
    again = engine.submit(share(entry, "carol"), requester="UALICE", idempotency_key="slack:abc")
    assert first.id == again.id and len(engine.queue()) == 1


# --- the rules, one test each -------------------------------------------------------------------


def test_self_approval_is_refused(engine: Engine, entry: int, emulator: Emulator) -> None:
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    with pytest.raises(errors.SelfApproval):
        engine.approve(request.id, "UALICE")
    assert engine.get(request.id).state is State.PENDING and puts(emulator) == 0


def test_non_approver_is_refused(engine: Engine, entry: int, emulator: Emulator) -> None:
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    with pytest.raises(errors.NotAnApprover):
        engine.approve(request.id, "URANDOM")
    with pytest.raises(errors.NotAnApprover):
        engine.deny(request.id, "URANDOM")
    assert engine.get(request.id).state is State.PENDING and puts(emulator) == 0


def test_one_persons_approval_counts_once(engine: Engine, entry: int, services: Services) -> None:
    engine = with_required(engine, 2)
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    assert engine.approve(request.id, "UAPPROVER1").changed
    again = engine.approve(request.id, "UAPPROVER1")
    assert not again.changed and again.status == "already"
    assert again.request.state is State.PENDING and again.request.approvals == {"UAPPROVER1"}


def test_two_of_n_applies_on_the_second_distinct_approval(
    engine: Engine, entry: int, services: Services, emulator: Emulator, told: Told
) -> None:
    engine = with_required(engine, 2)
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    first = engine.approve(request.id, "UAPPROVER1")
    assert first.request.state is State.PENDING and puts(emulator) == 0
    second = engine.approve(request.id, "UAPPROVER2")
    assert second.request.state is State.APPLIED and puts(emulator) == 1
    assert second.request.result["message"] == "Password successfully updated"
    assert told.count("applied") == 1 and engine.queue() == []


def test_deny_then_approve(engine: Engine, entry: int, emulator: Emulator) -> None:
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    denied = engine.deny(request.id, "UAPPROVER1", reason="not on call")
    assert denied.request.state is State.DENIED and denied.request.deny_reason == "not on call"
    late = engine.approve(request.id, "UAPPROVER2")
    assert not late.changed and late.request.state is State.DENIED and puts(emulator) == 0


def test_click_after_final_changes_nothing(engine: Engine, entry: int, emulator: Emulator) -> None:
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    engine.approve(request.id, "UAPPROVER1")
    for click in (
        lambda: engine.approve(request.id, "UAPPROVER2"),
        lambda: engine.deny(request.id, "UAPPROVER2"),
        lambda: engine.retry(request.id, "UAPPROVER2"),
        lambda: engine.cancel(request.id, "UALICE"),
    ):
        decision = click()
        assert not decision.changed and decision.status == "final"
        assert decision.request.state is State.APPLIED
    assert puts(emulator) == 1


def test_cancel_only_by_the_requester(engine: Engine, entry: int) -> None:
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    with pytest.raises(errors.NotRequester):
        engine.cancel(request.id, "UAPPROVER1")
    assert engine.cancel(request.id, "UALICE").request.state is State.CANCELLED


def test_unknown_request(engine: Engine) -> None:
    with pytest.raises(errors.RequestNotFound):
        engine.approve("R-ZZZZZ", "UAPPROVER1")


# --- apply --------------------------------------------------------------------------------------


def test_merge_at_apply_keeps_a_change_made_meanwhile(
    engine: Engine, entry: int, emulator: Emulator
) -> None:
    request = engine.submit(
        Change(
            Verb.SHARE,
            Kind.PASSWORD,
            entry,
            add_users=(UserShare("carol", True),),
            add_groups=(GroupShare("Ops"),),
        ),
        requester="UALICE",
    )
    # Someone shares with dave directly in MySafe while the request waits.
    emulator.update_entry(
        "password", entry, users_allowed=[{"username": "bobm"}, {"username": "dave", "can_edit": True}]
    )
    engine.approve(request.id, "UAPPROVER1")
    (put,) = emulator.calls_to("PUT", PUT_PASSWORD)
    assert put.user == "alices"  # the requester's own token
    assert put.json["users_allowed"] == [
        {"username": "bobm", "can_edit": False},
        {"username": "dave", "can_edit": True},
        {"username": "carol", "can_edit": True},
    ]
    assert put.json["groups_allowed"] == [{"name": "Ops", "can_edit": False}]
    assert set(put.json) == {"users_allowed", "groups_allowed"}


def test_unshare_removes_only_the_named(engine: Engine, entry: int, emulator: Emulator) -> None:
    emulator.update_entry(
        "password", entry, users_allowed=[{"username": "bobm"}, {"username": "carol"}]
    )
    request = engine.submit(
        Change(Verb.UNSHARE, Kind.PASSWORD, entry, remove_users=("BobM",)), requester="UALICE"
    )
    engine.approve(request.id, "UAPPROVER1")
    assert [u["username"] for u in emulator.get_password(entry)["users_allowed"]] == ["carol"]


def test_update_changes_plain_fields(engine: Engine, entry: int, emulator: Emulator) -> None:
    request = engine.submit(
        Change(Verb.UPDATE, Kind.PASSWORD, entry, fields={"url": "https://console.cloud.google.com"}),
        requester="UALICE",
    )
    assert [(d.field, d.before, d.after) for d in request.diff] == [
        ("url", "", "https://console.cloud.google.com")
    ]
    engine.approve(request.id, "UAPPROVER1")
    assert emulator.get_password(entry)["url"] == "https://console.cloud.google.com"


def test_typed_secret_in_an_update_is_refused(engine: Engine, entry: int) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        engine.submit(
            Change(Verb.UPDATE, Kind.PASSWORD, entry, fields={"password": "typed!"}), requester="UALICE"
        )
    assert "rotate" in str(caught.value) and "typed!" not in str(caught.value)
    assert engine.queue() == []


def test_failed_apply_keeps_the_error_and_retry_works(
    engine: Engine, entry: int, emulator: Emulator, told: Told
) -> None:
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    emulator.inject(status=503, method="PUT", path_prefix=PUT_PASSWORD, times=3)
    failed = engine.approve(request.id, "UAPPROVER1")
    assert failed.request.state is State.FAILED and "unavailable" in failed.request.error
    assert told.count("failed") == 1
    with pytest.raises(errors.SelfApproval):
        engine.retry(request.id, "UALICE")
    retried = engine.retry(request.id, "UAPPROVER2")
    assert retried.request.state is State.APPLIED and retried.request.attempts == 2
    assert "carol" in [u["username"] for u in emulator.get_password(entry)["users_allowed"]]


def test_shared_error_is_kept_in_the_outcome(engine: Engine, entry: int) -> None:
    request = engine.submit(share(entry, "ghost"), requester="UALICE")
    applied = engine.approve(request.id, "UAPPROVER1").request
    assert applied.state is State.APPLIED and "ghost" in applied.result["shared_error"][0]


def test_create_applies_with_secrets(engine: Engine, entry: int, emulator: Emulator) -> None:
    change = Change(
        Verb.CREATE,
        Kind.PASSWORD,
        None,
        fields={"name": "New DB", "username": "root"},
        add_groups=(GroupShare("Ops"),),
    )
    request = engine.submit(change, requester="UALICE", secrets={"password": SECRET_PASSWORD})
    assert ("password", "", "(set)") in [(d.field, d.before, d.after) for d in request.diff]
    applied = engine.approve(request.id, "UAPPROVER1").request
    created = emulator.get_password(applied.result["identifier"])
    assert created["password"] == SECRET_PASSWORD and created["owner"] == "alices"


# --- concurrency --------------------------------------------------------------------------------


def test_fifty_approvers_at_once_make_one_put(
    engine: Engine, entry: int, emulator: Emulator, told: Told
) -> None:
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    barrier = threading.Barrier(50)

    def click(n: int) -> str:
        barrier.wait()
        return engine.approve(request.id, f"UAPPROVER{n:02d}").status

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = Counter(pool.map(click, range(50)))
    assert statuses["ok"] == 1  # the one click that won `applying` and applied
    assert set(statuses) <= {"ok", "noop", "final"}
    assert puts(emulator) == 1
    assert told.count("applied") == 1
    assert engine.get(request.id).state is State.APPLIED


@pytest.mark.parametrize("round_", range(15))
def test_two_accounts_of_one_person_clicking_at_once_count_once(
    engine: Engine, entry: int, services: Services, emulator: Emulator, round_: int
) -> None:
    """The check and the count are one script: whichever account's click runs first counts,
    the other finds the person already counted, whatever the interleaving."""
    engine = with_required(engine, 2)
    for account in ("UAPPROVER1", "UAPPROVER2"):
        services.vault.map_mention(account, "secops-sam")
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    barrier = threading.Barrier(2)

    def click(account: str) -> str:
        barrier.wait()
        return engine.approve(request.id, account).status

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(click, ("UAPPROVER1", "UAPPROVER2")))
    assert statuses == ["already", "ok"]
    after = engine.get(request.id)
    assert len(after.approvals) == 1 and after.state is State.PENDING
    assert puts(emulator) == 0


def test_the_requesters_other_account_never_counts(
    engine: Engine, entry: int, services: Services
) -> None:
    services.vault.map_mention("UAPPROVER1", "alices")  # alice's second Slack account
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    with pytest.raises(errors.SelfApproval):
        engine.approve(request.id, "UAPPROVER1")
    with pytest.raises(errors.SelfApproval):
        engine.deny(request.id, "UAPPROVER1")
    assert engine.get(request.id).approvals == frozenset()


def claims(services: Services, emulator: Emulator, slack_id: str, mysafe_username: str) -> None:
    """`slack_id` logs in with a key of their own, typing `mysafe_username` (unconfirmed)."""
    client_id, client_secret = emulator.add_user(f"{slack_id.lower()}-key")
    services.vault.link(
        slack_id,
        client_id=client_id,
        client_secret=client_secret,
        mysafe_username=mysafe_username,
        confirmed=False,
    )


def test_a_claimed_name_counts_only_against_its_claimant(
    engine: Engine, entry: int, services: Services, emulator: Emulator
) -> None:
    """A claim can refuse, or count once with someone else, only the person who typed it;
    never the person whose name it is."""
    engine = with_required(engine, 2)
    services.vault.map_mention("UAPPROVER1", "secops-sam")  # confirmed
    claims(services, emulator, "UAPPROVER2", "secops-sam")
    claims(services, emulator, "UAPPROVER3", "alices")
    first = engine.submit(share(entry, "carol"), requester="UALICE")
    with pytest.raises(errors.SelfApproval):  # claims the requester's name: refused
        engine.approve(first.id, "UAPPROVER3")
    assert engine.approve(first.id, "UAPPROVER2").status == "ok"
    assert engine.approve(first.id, "UAPPROVER1").request.state is State.APPLIED
    second = engine.submit(share(entry, "dave"), requester="UALICE")
    assert engine.approve(second.id, "UAPPROVER1").status == "ok"
    assert engine.approve(second.id, "UAPPROVER2").status == "already"


def test_a_requesters_claim_of_an_approvers_name_does_not_lock_the_approver_out(
    engine: Engine, entry: int, services: Services, emulator: Emulator
) -> None:
    services.vault.map_mention("UAPPROVER1", "secops-sam")
    claims(services, emulator, "UALICE", "secops-sam")  # alices logs in again, typing sam's name
    emulator.update_entry(
        "password", entry, users_allowed=[{"username": "ualice-key", "can_edit": True}]
    )
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    assert engine.approve(request.id, "UAPPROVER1").request.state is State.APPLIED
    other = engine.submit(share(entry, "dave"), requester="UALICE")
    assert engine.deny(other.id, "UAPPROVER1").request.state is State.DENIED


def test_twenty_workers_expire_each_request_once(engine: Engine, entry: int, told: Told) -> None:
    ids = {engine.submit(share(entry, "carol"), requester="UALICE").id for _ in range(15)}
    later = timestamp() + engine.settings.request_ttl + 1
    barrier = threading.Barrier(20)

    def sweep(_: int) -> int:
        barrier.wait()
        return engine.sweep(now=later)

    with ThreadPoolExecutor(max_workers=20) as pool:
        handled = sum(pool.map(sweep, range(20)))
    assert handled == 15
    assert sorted(i for i, e in told.events if e == "expired") == sorted(ids)
    assert all(engine.get(i).state is State.EXPIRED for i in ids)
    assert engine.queue() == [] and engine.open_for("UALICE") == []


def test_an_expiry_handed_off_twice_is_told_once(engine: Engine, entry: int, told: Told) -> None:
    """Two tellers of the same expiries at once (a batch handed off again while its first job
    still waited): each expiry is told once, and none is owed afterwards."""
    ids = [engine.submit(share(entry, "carol"), requester="UALICE").id for _ in range(15)]
    handed: list[Sequence[str]] = []
    engine = Engine(engine.services, listeners=[told], approvers=APPROVING, hand_off=handed.append)
    later = timestamp() + engine.settings.request_ttl + 1
    assert engine.sweep(now=later) == 15 and told.count("expired") == 0
    barrier = threading.Barrier(2)

    def tell(batch: Sequence[str]) -> int:
        barrier.wait()
        return engine.tell_expired(batch)

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert sum(pool.map(tell, [handed[0], handed[0]])) == 15
    assert sorted(i for i, e in told.events if e == "expired") == sorted(ids)
    assert all(r.untold is None for r in engine.store.get_many(ids))
    assert engine.store.due("due", later + 10 * TELL_WITHIN) == []


# --- crash recovery -----------------------------------------------------------------------------


def test_stuck_apply_is_reapplied_once_by_the_worker(
    engine: Engine, entry: int, emulator: Emulator
) -> None:
    request = engine.submit(share(entry, "carol"), requester="UALICE")
    # The approving process wins `applying` and dies before calling MySafe.
    now = timestamp()
    won = engine.store.transition(
        request.id,
        "approve",
        actor="UAPPROVER1",
        now=now,
        approver=True,
        lease="dead-process",
        lease_until=now + 120,
    )
    engine.store.track_lease(request.id, now + 120)
    assert won.status == "apply" and puts(emulator) == 0
    assert engine.sweep(now=now + 60) == 0  # lease still valid: nobody takes over
    assert engine.sweep(now=now + 121) == 1
    assert engine.get(request.id).state is State.APPLIED and puts(emulator) == 1
    assert engine.sweep(now=now + 400) == 0 and puts(emulator) == 1
    # The dead process's late result (if it ever came back) is refused.
    late = engine.store.transition(
        request.id,
        "finish",
        actor="bot",
        now=now + 500,
        lease="dead-process",
        outcome="failed",
        error="late",
    )
    assert late.status == "final"


def test_create_is_not_repeated_after_a_crash(engine: Engine, entry: int, emulator: Emulator) -> None:
    change = Change(Verb.CREATE, Kind.PASSWORD, None, fields={"name": "Once", "username": "u"})
    request = engine.submit(change, requester="UALICE", secrets={"password": "pw-once-123"})
    now = timestamp()
    engine.store.transition(
        request.id,
        "approve",
        actor="UAPPROVER1",
        now=now,
        approver=True,
        lease="dead",
        lease_until=now + 120,
    )
    engine.store.track_lease(request.id, now + 120)
    # The dead process had made the entry in MySafe before dying.
    engine.client_for("UALICE").create(
        Kind.PASSWORD, {"name": "Once", "username": "u", "password": "pw-once-123"}
    )
    emulator.reset_calls()
    assert engine.sweep(now=now + 121) == 1
    assert engine.get(request.id).state is State.APPLIED
    assert emulator.calls_to("POST", "/api/mysafe/password") == []


def test_a_retried_create_is_not_mistaken_for_an_entry_that_already_had_its_name(
    engine: Engine, entry: int, emulator: Emulator
) -> None:
    """An entry named "GCP console" exists; creating another one whose POST got a 502 and is
    then retried must create it, not report the old one as "already created"."""
    change = Change(
        Verb.CREATE, Kind.PASSWORD, None, fields={"name": "GCP console", "username": "second"}
    )
    request = engine.submit(change, requester="UALICE", secrets={"password": "pw-second-1"})
    emulator.inject(status=502, method="POST", path_prefix="/api/mysafe/password")
    failed = engine.approve(request.id, "UAPPROVER1").request
    assert failed.state is State.FAILED
    applied = engine.retry(request.id, "UAPPROVER2").request
    assert applied.state is State.APPLIED
    made = emulator.get_password(applied.result["identifier"])
    assert applied.result["identifier"] != entry
    assert made["username"] == "second" and made["password"] == "pw-second-1"


# --- secrets and audit ---------------------------------------------------------------------------


def _rotation(engine: Engine, entry: int):
    return engine.submit(
        Change(Verb.ROTATE, Kind.PASSWORD, entry),
        requester="UALICE",
        secrets={"password": SECRET_PASSWORD},
    )


@pytest.mark.parametrize("end", ["applied", "denied", "expired", "cancelled"])
def test_secret_values_never_rest_in_clear(
    engine: Engine, entry: int, redis, key_prefix: str, emulator: Emulator, end: str
) -> None:
    request = _rotation(engine, entry)
    assert [(d.field, d.after) for d in request.diff] == [("password", "(changed)")]
    text = everything_stored(redis, key_prefix)
    assert SECRET_PASSWORD not in text and request.has_secrets
    if end == "applied":
        engine.approve(request.id, "UAPPROVER1")
        assert emulator.get_password(entry)["password"] == SECRET_PASSWORD
    elif end == "denied":
        engine.deny(request.id, "UAPPROVER1")
    elif end == "cancelled":
        engine.cancel(request.id, "UALICE")
    else:
        engine.sweep(now=timestamp() + engine.settings.request_ttl + 1)
    final = engine.get(request.id)
    assert final.state.value == end and not final.has_secrets
    assert engine.store.encrypted_secrets(request.id) is None
    assert SECRET_PASSWORD not in everything_stored(redis, key_prefix)


def test_audit_trail_records_every_step(engine: Engine, entry: int, services: Services) -> None:
    request = engine.submit(share(entry, "carol"), requester="UALICE", reason="on-call")
    with pytest.raises(errors.SelfApproval):
        engine.approve(request.id, "UALICE")
    engine.approve(request.id, "UAPPROVER1")
    records = list(engine.audit.read(request=request.id))
    assert [r.event for r in records] == [
        "request.created",
        "click.refused",
        "request.applying",
        "request.applied",
    ]
    assert records[0].facts["reason"] == "on-call" and records[-1].actor == "bot"
    # the outcome says what it was about, for a SIEM to file it (app.audit.sinks.ocsf)
    about = {k: records[-1].facts.get(k) for k in ("verb", "kind", "entry", "users")}
    assert about == {"verb": "share", "kind": "password", "entry": str(entry), "users": "carol"}
    history = engine.store.events(request.id)
    for step in history:
        if step["from"] and step["from"] != step["to"]:
            assert State(step["to"]) in TRANSITIONS[State(step["from"])]
    assert [s["to"] for s in history] == ["pending", "pending", "approved", "applying", "applied"]


@pytest.mark.slow
def test_audit_command_prints_the_trail(engine: Engine, entry: int, env: dict[str, str]) -> None:
    from tests.support.processes import run

    request = _rotation(engine, entry)
    engine.approve(request.id, "UAPPROVER1")
    printed = run(env, "audit", "--request", request.id)
    assert printed.returncode == 0, printed.stderr
    assert "request.created" in printed.stdout and "request.applied" in printed.stdout
    assert SECRET_PASSWORD not in printed.stdout
    as_json = run(env, "audit", "--since", "1h", "--json")
    assert request.id in as_json.stdout and SECRET_PASSWORD not in as_json.stdout


def test_audit_text_cannot_be_forged_by_what_people_typed(
    engine: Engine, entry: int, env: dict[str, str]
) -> None:
    """A reason with a newline, a tab and a fake record stays on its own record's line."""
    from tests.support.processes import run

    forged = "fine\n2026-01-01T00:00:00  request.applied  R-FAKE1 UBOSS\tok"
    request = engine.submit(share(entry, "carol"), requester="UALICE", reason=forged)
    printed = run(env, "audit", "--request", request.id).stdout.splitlines()
    assert len(printed) == 1 and "request.created" in printed[0]
    assert "\\n2026-01-01" in printed[0] and "\\t" in printed[0]
    assert not any(line.startswith("2026-01-01") for line in printed)

"""Races timed from outside: concurrent applies on one entry, kills between steps, duplicates,
token refreshes and logouts racing writes — against a real Redis and the emulator over HTTP.

Threads start together on a barrier and each race is repeated, so an interleaving that breaks
a promise shows up as a failed trial rather than as luck.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import redis as redis_module

from app.approvals.changes import Change, Verb
from app.approvals.engine import Engine
from app.approvals.machine import State
from app.foundations import errors
from app.foundations.clock import timestamp
from app.mysafe.models import Kind, UserShare
from app.mysafe.tokens import Credentials
from app.mysafe.transport import Transport
from app.sandbox.emulator import Emulator
from app.services import Services

PUT_PASSWORD = "/api/mysafe/password/update"
TOKEN_PATH = "/api/oauth2/token"


@pytest.fixture
def engine(services: Services) -> Engine:
    return Engine(services)


def with_lease(engine: Engine, seconds: int) -> Engine:
    """An engine as `engine` whose applies hold their lease `seconds`."""
    settings = replace(engine.settings, apply_lease=seconds)
    return Engine(replace(engine.services, settings=settings))


@pytest.fixture
def owner(emulator: Emulator, link) -> str:
    link("UALICE", "alices")
    return "UALICE"


def share(identifier: int, *users: str, edit: bool = False) -> Change:
    return Change(
        Verb.SHARE, Kind.PASSWORD, identifier, add_users=tuple(UserShare(u, edit) for u in users)
    )


def unshare(identifier: int, *users: str) -> Change:
    return Change(Verb.UNSHARE, Kind.PASSWORD, identifier, remove_users=users)


def together(*calls: Callable[[], object]) -> list[object]:
    """Run the calls on threads released at once by a barrier; return results (or errors)."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        barrier.wait()
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - the test inspects it
            return error

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def users_on(emulator: Emulator, identifier: int) -> dict[str, bool]:
    entry = emulator.get_password(identifier)
    return {u["username"]: bool(u.get("can_edit")) for u in entry["users_allowed"]}


def approve_all(engine: Engine, requests_: list) -> list[object]:
    return together(*(lambda r=r: engine.approve(r.id, "UAPPROVER1") for r in requests_))


# --- 1. one apply per entry at a time --------------------------------------------------------


@pytest.mark.parametrize("trial", range(5))
def test_ten_shares_on_two_entries_approved_in_one_second_all_land(
    engine: Engine, emulator: Emulator, owner: str, trial: int
) -> None:
    emulator.options.latency = (0.0, 0.01)
    names = [f"grantee{n}" for n in range(10)]
    for name in names:
        emulator.add_user(name)
    entries = [
        emulator.add_password("alices", name=f"DB {n}", username="ops", password="pw") for n in range(2)
    ]
    made = [engine.submit(share(entries[n % 2], name), requester=owner) for n, name in enumerate(names)]
    outcomes = approve_all(engine, made)
    assert [o.request.state for o in outcomes] == [State.APPLIED] * 10, outcomes
    assert set(users_on(emulator, entries[0])) == set(names[0::2])
    assert set(users_on(emulator, entries[1])) == set(names[1::2])


def test_twenty_approvals_on_one_entry_end_as_one_after_another(
    engine: Engine, emulator: Emulator, owner: str
) -> None:
    emulator.options.latency = (0.0, 0.005)
    names = [f"person{n}" for n in range(20)]
    for name in names:
        emulator.add_user(name)
    entry = emulator.add_password("alices", name="Prod DB", username="ops", password="pw")
    made = [
        engine.submit(share(entry, name, edit=n % 2 == 0), requester=owner)
        for n, name in enumerate(names)
    ]
    outcomes = approve_all(engine, made)
    assert all(o.request.state is State.APPLIED for o in outcomes), outcomes
    assert users_on(emulator, entry) == {name: n % 2 == 0 for n, name in enumerate(names)}
    assert len(emulator.calls_to("PUT", PUT_PASSWORD)) == 20


@pytest.mark.slow
def test_an_unshare_racing_a_share_never_restores_access(
    engine: Engine, emulator: Emulator, owner: str
) -> None:
    emulator.options.latency = (0.0, 0.005)
    for name in ("leaver", "joiner"):
        emulator.add_user(name)
    for _trial in range(50):
        entry = emulator.add_password(
            "alices",
            name="Shared",
            username="ops",
            password="pw",
            users_allowed=[{"username": "leaver"}],
        )
        offboard = engine.submit(unshare(entry, "leaver"), requester=owner)
        onboard = engine.submit(share(entry, "joiner"), requester=owner)
        outcomes = approve_all(engine, [offboard, onboard])
        assert [o.request.state for o in outcomes] == [State.APPLIED, State.APPLIED]
        assert users_on(emulator, entry) == {"joiner": False}


@pytest.mark.slow
def test_an_apply_that_cannot_wait_is_taken_over_not_failed(
    engine: Engine, emulator: Emulator, owner: str, redis
) -> None:
    """Another holder keeps the entry past this apply's patience: it queues, the sweeper's
    next pass applies it."""
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="Busy", username="ops", password="pw")
    engine = with_lease(engine, 5)
    request = engine.submit(share(entry, "carol"), requester=owner)
    held = redis.lock(engine.locks.key(Kind.PASSWORD, entry), timeout=30)
    assert held.acquire()
    decision = engine.approve(request.id, "UAPPROVER1")
    assert decision.request.state is State.APPLYING and decision.changed
    assert emulator.calls_to("PUT", PUT_PASSWORD) == []
    held.release()
    assert engine.sweep() == 1
    assert engine.get(request.id).state is State.APPLIED
    assert users_on(emulator, entry) == {"carol": False}


def test_a_write_mysafe_does_not_show_is_not_reported_applied(
    engine: Engine, emulator: Emulator, owner: str
) -> None:
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="Lossy", username="ops", password="pw")
    request = engine.submit(share(entry, "carol", edit=True), requester=owner)
    # MySafe answers the PUT with success but keeps nothing (a gateway that swallowed it).
    emulator.inject(
        status=200,
        method="PUT",
        path_prefix=PUT_PASSWORD,
        body={"response": {"status": 200, "message": "Updated", "error": False}},
    )
    failed = engine.approve(request.id, "UAPPROVER1").request
    assert failed.state is State.FAILED
    assert "carol has no access" in failed.error
    retried = engine.retry(request.id, "UAPPROVER2").request
    assert retried.state is State.APPLIED and users_on(emulator, entry) == {"carol": True}


def test_a_late_apply_never_writes_after_its_lease(
    engine: Engine, emulator: Emulator, owner: str, services: Services
) -> None:
    """MySafe asks to wait (429, Retry-After: 9) longer than the 5 s lease has left: the apply
    gives up without writing a stale body; a retry applies it."""
    from app.mysafe.transport import retry_policy

    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="Slow", username="ops", password="pw")
    engine = with_lease(engine, 5)
    services.mysafe.transport = Transport(retry=retry_policy(backoff_factor=0, backoff_jitter=0))
    request = engine.submit(share(entry, "carol"), requester=owner)
    emulator.inject(
        status=429, method="PUT", path_prefix=PUT_PASSWORD, retry_after=9, body={"message": "slow down"}
    )
    failed = engine.approve(request.id, "UAPPROVER1").request
    assert failed.state is State.FAILED and "in time" in failed.error
    assert len(emulator.calls_to("PUT", PUT_PASSWORD)) == 1  # never re-sent after the wait
    assert engine.retry(request.id, "UAPPROVER2").request.state is State.APPLIED


# --- 2. no request stuck in `applying` ---------------------------------------------------------


class Killed(BaseException):
    """The process died here: nothing after this step runs in the killed thread."""


@pytest.fixture
def killer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[int], None]]:
    """Arm a kill at the Nth step (a Redis round trip or a MySafe call) of this thread."""
    state = threading.local()
    send_redis = redis_module.connection.AbstractConnection.send_packed_command
    send_http = Transport.request

    def step() -> None:
        left = getattr(state, "left", None)
        if left is None:
            return
        state.left = left - 1
        if state.left < 0:
            raise Killed()

    def redis_step(self, *args, **kwargs):  # noqa: ANN001, ANN202
        step()
        return send_redis(self, *args, **kwargs)

    def http_step(self, *args, **kwargs):  # noqa: ANN001, ANN202
        step()
        return send_http(self, *args, **kwargs)

    monkeypatch.setattr(redis_module.connection.AbstractConnection, "send_packed_command", redis_step)
    monkeypatch.setattr(Transport, "request", http_step)

    def arm(steps: int | None) -> None:
        state.left = steps

    yield arm
    state.left = None


@pytest.mark.slow
def test_a_kill_between_any_two_steps_of_an_apply_never_strands_it(
    engine: Engine, emulator: Emulator, owner: str, redis, killer
) -> None:
    emulator.add_user("carol")
    lease = engine.settings.apply_lease
    step = 0
    while True:
        entry = emulator.add_password("alices", name=f"K{step}", username="ops", password="pw")
        request = engine.submit(share(entry, "carol"), requester=owner)
        emulator.reset_calls()
        killer(step)
        try:
            engine.approve(request.id, "UAPPROVER1")
            survived = True
        except Killed:
            survived = False
        finally:
            killer(None)
        if survived:
            break
        # Two leases later: the entry lock the dead process held has expired by itself, and
        # the worker runs its passes (the index sweep and the scan of requests themselves).
        redis.delete(engine.locks.key(Kind.PASSWORD, entry))
        later = timestamp() + 2 * lease
        engine.sweep(now=later)
        engine.rescue(now=later)
        engine.sweep(now=later)
        if engine.get(request.id).state is State.PENDING:  # died before the click counted
            engine.approve(request.id, "UAPPROVER1")
        final = engine.get(request.id)
        assert final.state is State.APPLIED, (step, final)
        assert len(emulator.calls_to("PUT", PUT_PASSWORD)) == 1, step
        assert users_on(emulator, entry) == {"carol": False}
        step += 1
    assert step > 10  # the apply really was cut at every step it has


def test_a_request_applying_with_no_lease_index_is_found_from_itself(
    engine: Engine, emulator: Emulator, owner: str, redis
) -> None:
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="Lost", username="ops", password="pw")
    request = engine.submit(share(entry, "carol"), requester=owner)
    emulator.inject(status=0, method="PUT", path_prefix=PUT_PASSWORD)
    lease = engine._new_lease()
    assert (
        engine.store.transition(
            request.id, "approve", actor="UAPPROVER1", now=timestamp(), approver=True, **lease
        ).status
        == "apply"
    )
    later = timestamp() + 2 * engine.settings.apply_lease
    assert engine.sweep(now=later) == 0  # the lease index never heard of it
    engine.rescue(now=later)
    assert engine.sweep(now=later) == 1
    assert engine.get(request.id).state is State.APPLIED


# --- 3. concurrent duplicates are answered alike ----------------------------------------------


def test_concurrent_duplicates_all_get_the_one_request(
    engine: Engine, emulator: Emulator, owner: str
) -> None:
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="Dup", username="ops", password="pw")
    for trial in range(30):
        results = together(
            *(
                lambda: engine.submit_once(
                    share(entry, "carol"), requester=owner, idempotency_key=f"ticket:{trial}"
                )
                for _ in range(4)
            )
        )
        assert all(isinstance(r, tuple) for r in results), results
        assert len({r[0].id for r in results}) == 1
        assert sum(r[1] for r in results) == 1


def test_a_claim_whose_writer_died_is_taken_over(
    engine: Engine, emulator: Emulator, owner: str, redis
) -> None:
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="Dead", username="ops", password="pw")
    redis.set(engine.store.idempotency_key("slack:dead"), "R-22222")  # claimed, never written
    engine.store.lookup("slack:dead", wait=0.05)  # gives the dead claim up
    request, created = engine.submit_once(
        share(entry, "carol"), requester=owner, idempotency_key="slack:dead"
    )
    assert created and request.id != "R-22222"


# --- 5. one token fetch per person at a time ----------------------------------------------------


def test_twenty_calls_after_a_token_revoke_make_one_fetch(
    services: Services, emulator: Emulator, owner: str, settings
) -> None:
    from app.mysafe.transport import retry_policy
    from app.services import Services as Built

    emulator.options.one_token_per_key = True
    entry = emulator.add_password("alices", name="T", username="ops", password="pw")
    # Two "processes": separate clients, thread locks and transports; one Redis.
    other = Built.build(
        settings,
        redis=services.redis,
        transport=Transport(retry=retry_policy(backoff_factor=0, backoff_jitter=0)),
    )
    credentials = services.vault.credentials(owner)
    clients = [s.mysafe.session_for(owner, credentials) for s in (services, other)]
    clients[0].get(Kind.PASSWORD, entry)
    for _trial in range(5):
        emulator.expire_tokens()
        emulator.reset_calls()
        results = together(*(lambda c=clients[n % 2]: c.get(Kind.PASSWORD, entry) for n in range(20)))
        assert not [r for r in results if isinstance(r, Exception)], results
        assert len(emulator.calls_to("POST", TOKEN_PATH)) == 1
    other.mysafe.transport.close()


def test_a_token_no_key_decrypts_is_fetched_again(
    services: Services, emulator: Emulator, owner: str, redis
) -> None:
    entry = emulator.add_password("alices", name="T", username="ops", password="pw")
    client = services.mysafe.session_for(owner, services.vault.credentials(owner))
    client.get(Kind.PASSWORD, entry)
    redis.set(services.mysafe.tokens.key(owner), "gAAAA-not-ours")
    assert client.get(Kind.PASSWORD, entry).name == "T"


# --- 6. logout and key rotation are atomic with what they race ----------------------------------


def test_logout_during_an_apply_stops_the_write(
    engine: Engine, emulator: Emulator, owner: str, services: Services
) -> None:
    emulator.add_user("carol")
    entry = emulator.add_password("alices", name="L", username="ops", password="pw")
    request = engine.submit(share(entry, "carol"), requester=owner)
    gate = emulator.hold(method="GET", path_prefix=f"/api/mysafe/password/{entry}")
    with ThreadPoolExecutor(1) as pool:
        applying = pool.submit(engine.approve, request.id, "UAPPROVER1")
        assert gate.arrived.wait(10)
        assert services.vault.unlink(owner)
        gate.release()
        failed = applying.result(10).request
    assert failed.state is State.FAILED and "unlinked" in failed.error
    assert emulator.calls_to("PUT", PUT_PASSWORD) == []
    assert services.redis.get(services.mysafe.tokens.key(owner)) is None


def test_no_token_is_cached_for_someone_unlinked_meanwhile(
    services: Services, emulator: Emulator, owner: str
) -> None:
    entry = emulator.add_password("alices", name="T", username="ops", password="pw")
    credentials = services.vault.credentials(owner)
    gate = emulator.hold(method="POST", path_prefix=TOKEN_PATH)
    client = services.mysafe.session_for(owner, credentials)
    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(client.get, Kind.PASSWORD, entry)
        assert gate.arrived.wait(10)
        services.vault.unlink(owner)
        gate.release()
        reading.result(10)
    assert services.redis.get(services.mysafe.tokens.key(owner)) is None


def test_rotate_keys_racing_relinks_and_unlinks_keeps_each_account_whole(
    services: Services, settings, redis
) -> None:
    from app.accounts.linked_keys import Vault
    from app.foundations.crypto import Keyring, generate_key

    old = services.vault
    ids = [f"UROT{n:04d}" for n in range(200)]
    for slack_id in ids:
        old.link(
            slack_id,
            client_id=f"id-{slack_id}-0",
            client_secret=f"s-{slack_id}-0",
            mysafe_username=slack_id.lower(),
        )
    keys = [generate_key(), *settings.encryption_keys]
    rotating = Vault(redis, Keyring(keys), prefix=settings.key_prefix)
    relinked, unlinked = ids[0::2], ids[1::2]

    def relink() -> None:
        for slack_id in relinked:
            rotating.link(
                slack_id,
                client_id=f"id-{slack_id}-1",
                client_secret=f"s-{slack_id}-1",
                mysafe_username=slack_id.lower(),
            )

    def unlink() -> None:
        for slack_id in unlinked:
            rotating.unlink(slack_id)

    together(rotating.rotate_keys, relink, unlink, rotating.rotate_keys)
    for slack_id in relinked:
        assert rotating.credentials(slack_id) == Credentials(f"id-{slack_id}-1", f"s-{slack_id}-1")
    for slack_id in unlinked:
        with pytest.raises(errors.CredentialsMissing):
            rotating.credentials(slack_id)

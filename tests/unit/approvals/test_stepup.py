"""Step-up with a passkey: the engine counts an approval only after a verified assertion of
that approver, made for that click, within the rule's age; every refusal of issue 31, with
real WebAuthn payloads (tests/support/authenticator.py), a real Redis and the emulator."""

from __future__ import annotations

import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.accounts.passkeys import Passkeys
from app.approvals.changes import Change, Verb
from app.approvals.engine import Engine
from app.approvals.machine import Action, Outcome, State
from app.approvals.stepup import Purpose, StepUp, StepUpRefused, b64url
from app.foundations.clock import timestamp
from app.foundations.errors import ConfigError, StepUpStale
from app.mysafe.models import Kind, UserShare
from app.ops.runtime import load_settings
from app.sandbox.emulator import Emulator
from app.services import Services
from tests.support.authenticator import SoftAuthenticator

ORIGIN = "https://bot.example.com"
RP_ID = "bot.example.com"
POLICY = textwrap.dedent("""
    rules:
      - name: production
        approvals: 2
        approvers: [UAPPROVER1, UAPPROVER2, UAPPROVER3]
        step_up: passkey
        step_up_max_age: 5m
""")
PUT_PASSWORD = "/api/mysafe/password/update"


@pytest.fixture
def env(env: dict[str, str], tmp_path) -> dict[str, str]:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    return {**env, "MYSAFE_BOT_PUBLIC_URL": ORIGIN, "MYSAFE_BOT_POLICY": str(policy)}


@pytest.fixture
def engine(services: Services) -> Engine:
    return Engine(services, listeners=[])


@pytest.fixture
def entry(emulator: Emulator, link) -> int:
    link("UALICE", "alices")
    emulator.add_user("carol")
    return emulator.add_password("alices", name="GCP console", username="ops", password="old-1")


@pytest.fixture
def request_id(engine: Engine, entry: int) -> str:
    change = Change(Verb.SHARE, Kind.PASSWORD, entry, add_users=(UserShare("carol", False),))
    return engine.submit(change, requester="UALICE").id


def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN, rp_id=RP_ID)


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def register(engine: Engine, user: str, auth: SoftAuthenticator | None = None) -> SoftAuthenticator:
    auth = auth or authenticator()
    token = token_of(engine.stepup.register_link(user))
    _, options = engine.stepup.begin(token, Purpose.REGISTER)
    engine.stepup.register(token, auth.register(options))
    return auth


def click(engine: Engine, request_id: str, user: str) -> str:
    """Approve as `user`: the click waits for step-up; the token of the link they are sent."""
    decision = engine.approve(request_id, user)
    assert decision.status is Outcome.STEP_UP
    return token_of(engine.step_up_link(decision.request, user))


def confirm(engine: Engine, token: str, auth: SoftAuthenticator, **payload):
    """What the step-up page does: options, the browser's assertion, verify, count."""
    link, options = engine.stepup.begin(token, Purpose.CONFIRM)
    confirmed = engine.stepup.verify(token, auth.assert_(options, **payload))
    return engine.confirm(
        link.request,
        link.user,
        clicked=link.clicked,
        credential=confirmed.credential_id,
    )


def test_a_step_up_rule_needs_the_public_url(env: dict[str, str]) -> None:
    del env["MYSAFE_BOT_PUBLIC_URL"]
    with pytest.raises(ConfigError) as caught:
        load_settings(env, dotenv=None)
    assert caught.value.variable == "MYSAFE_BOT_PUBLIC_URL"
    assert "policy rule “production” asks for step-up" in str(caught.value)


# --- the engine counts only verified approvals --------------------------------------------------


def test_a_click_waits_for_its_passkey_and_counts_after(engine: Engine, request_id: str) -> None:
    auth = register(engine, "UAPPROVER1")
    token = click(engine, request_id, "UAPPROVER1")
    waiting = engine.get(request_id)
    assert waiting.approvals == frozenset() and waiting.state is State.PENDING
    assert waiting.confirming_now(timestamp()) == ["UAPPROVER1"]
    (pending,) = [
        r for r in engine.audit.read(request=request_id) if r.event == "request.step_up_pending"
    ]
    assert (pending.actor, pending.facts["state"]) == ("UAPPROVER1", "pending")

    decision = confirm(engine, token, auth)
    assert decision.status is Outcome.OK
    counted = engine.get(request_id)
    assert counted.approvals == {"UAPPROVER1"} and counted.confirming_now(timestamp()) == []
    verified = [
        r for r in engine.audit.read(request=request_id) if r.event == "request.step_up_verified"
    ]
    assert [r.actor for r in verified] == ["UAPPROVER1"]
    assert verified[0].facts["method"] == "passkey"
    assert verified[0].facts["credential"] == b64url(auth.credential_id)  # its id, no key
    # As docs/audit.md lists them: the click (counting nothing yet), the check, the count.
    events = [(r.event, r.facts) for r in engine.audit.read(request=request_id)]
    assert [e for e, _ in events] == [
        "request.created",
        "request.step_up_pending",
        "request.step_up_verified",
        "request.confirm",
    ]


def test_two_confirmed_approvals_apply_once(
    engine: Engine, request_id: str, emulator: Emulator
) -> None:
    one, two = register(engine, "UAPPROVER1"), register(engine, "UAPPROVER2")
    confirm(engine, click(engine, request_id, "UAPPROVER1"), one)
    assert len(emulator.calls_to("PUT", PUT_PASSWORD)) == 0
    confirm(engine, click(engine, request_id, "UAPPROVER2"), two)
    assert engine.get(request_id).state is State.APPLIED
    assert len(emulator.calls_to("PUT", PUT_PASSWORD)) == 1


def test_clicks_alone_never_reach_the_quorum_even_at_once(engine: Engine, request_id: str) -> None:
    barrier = threading.Barrier(3)

    def approve(user: str) -> Outcome:
        barrier.wait()
        return engine.approve(request_id, user).status

    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = list(pool.map(approve, ["UAPPROVER1", "UAPPROVER2", "UAPPROVER3"]))
    assert statuses == [Outcome.STEP_UP] * 3
    request = engine.get(request_id)
    assert request.approvals == frozenset() and request.state is State.PENDING
    assert request.confirming_now(timestamp()) == ["UAPPROVER1", "UAPPROVER2", "UAPPROVER3"]


def test_a_deny_needs_no_step_up_and_ends_a_pending_one(engine: Engine, request_id: str) -> None:
    auth = register(engine, "UAPPROVER1")
    token = click(engine, request_id, "UAPPROVER1")
    decision = engine.deny(request_id, "UAPPROVER2")
    assert decision.status is Outcome.OK and decision.request.state is State.DENIED
    assert confirm(engine, token, auth).status is Outcome.FINAL  # counted for nothing
    assert engine.get(request_id).approvals == frozenset()


def test_confirm_without_a_click_or_for_an_old_click_is_refused(
    engine: Engine, request_id: str
) -> None:
    with pytest.raises(StepUpStale):
        engine.confirm(request_id, "UAPPROVER1", clicked="1.0", credential="x")
    engine.approve(request_id, "UAPPROVER1")
    clicked = engine.get(request_id).confirming["UAPPROVER1"]
    late = engine.store.transition(
        request_id,
        Action.CONFIRM,
        actor="UAPPROVER1",
        now=float(clicked) + 301,
        approver=True,
        ids=["slack:UAPPROVER1"],
        clicked=clicked,
        lease="l",
        lease_until=0,
    )
    assert late.status is Outcome.STEP_UP_STALE
    assert engine.get(request_id).approvals == frozenset()


# --- the refusals --------------------------------------------------------------------------------


def test_no_passkey_registered(engine: Engine, request_id: str) -> None:
    token = click(engine, request_id, "UAPPROVER1")
    with pytest.raises(StepUpRefused, match="no passkey registered"):
        engine.stepup.begin(token, Purpose.CONFIRM)


def test_another_persons_link_is_useless_without_their_passkey(engine: Engine, request_id: str) -> None:
    register(engine, "UAPPROVER1")
    mallory = register(engine, "UAPPROVER2")
    token = click(engine, request_id, "UAPPROVER1")  # UAPPROVER2 got hold of the link
    with pytest.raises(StepUpRefused, match="not one you registered"):
        confirm(engine, token, mallory)
    assert engine.get(request_id).approvals == frozenset()


def test_a_link_works_once(engine: Engine, request_id: str) -> None:
    register(engine, "UAPPROVER1")
    token = click(engine, request_id, "UAPPROVER1")
    engine.stepup.begin(token, Purpose.CONFIRM)
    with pytest.raises(StepUpRefused):
        engine.stepup.begin(token, Purpose.CONFIRM)
    with pytest.raises(StepUpRefused):
        engine.stepup.peek(token, Purpose.CONFIRM)


def test_a_challenge_is_used_once(engine: Engine, request_id: str) -> None:
    auth = register(engine, "UAPPROVER1")
    token = click(engine, request_id, "UAPPROVER1")
    _, options = engine.stepup.begin(token, Purpose.CONFIRM)
    assertion = auth.assert_(options)
    engine.stepup.verify(token, assertion)
    with pytest.raises(StepUpRefused, match="already used"):
        engine.stepup.verify(token, assertion)


def test_an_expired_link_is_refused(engine: Engine, request_id: str, services: Services) -> None:
    register(engine, "UAPPROVER1")
    token = click(engine, request_id, "UAPPROVER1")
    later = StepUp(
        services.redis,
        prefix=services.settings.key_prefix,
        public_url=ORIGIN,
        passkeys=Passkeys(services.redis, prefix=services.settings.key_prefix),
        clock=lambda: timestamp() + 301,
    )
    with pytest.raises(StepUpRefused, match="expired"):
        later.begin(token, Purpose.CONFIRM)


def test_a_sign_count_going_back_is_refused(engine: Engine, request_id: str) -> None:
    auth = register(engine, "UAPPROVER1")
    confirm(engine, click(engine, request_id, "UAPPROVER1"), auth, count=7)
    other = engine.submit(
        Change(
            Verb.SHARE,
            Kind.PASSWORD,
            engine.get(request_id).change.identifier,
            add_users=(UserShare("carol", True),),
        ),
        requester="UALICE",
    )
    with pytest.raises(StepUpRefused, match="sign count|counter"):
        confirm(engine, click(engine, other.id, "UAPPROVER1"), auth, count=3)
    assert engine.get(other.id).approvals == frozenset()


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({"uv": False}, "verif"),
        ({"rp_id": "evil.example.com"}, "RP ID"),
        ({"origin": "https://evil.example.com"}, "origin"),
        ({"kind": "webauthn.create"}, "type"),
    ],
    ids=["user-verification-off", "another-rp-id", "another-origin", "wrong-ceremony"],
)
def test_a_bad_assertion_is_refused(engine: Engine, request_id: str, payload, why: str) -> None:
    auth = register(engine, "UAPPROVER1")
    token = click(engine, request_id, "UAPPROVER1")
    with pytest.raises(StepUpRefused, match=f"(?i){why}"):
        confirm(engine, token, auth, **payload)
    assert engine.get(request_id).approvals == frozenset()


def test_a_registration_without_user_verification_is_refused(engine: Engine) -> None:
    token = token_of(engine.stepup.register_link("UAPPROVER1"))
    _, options = engine.stepup.begin(token, Purpose.REGISTER)
    with pytest.raises(StepUpRefused, match="(?i)verif"):
        engine.stepup.register(token, authenticator().register(options, uv=False))
    assert engine.stepup.passkeys.of("UAPPROVER1") == []


def test_several_passkeys_per_person_each_work(engine: Engine, request_id: str) -> None:
    register(engine, "UAPPROVER1")
    laptop = register(engine, "UAPPROVER1")
    assert len(engine.stepup.passkeys.of("UAPPROVER1")) == 2
    assert confirm(engine, click(engine, request_id, "UAPPROVER1"), laptop).status is Outcome.OK

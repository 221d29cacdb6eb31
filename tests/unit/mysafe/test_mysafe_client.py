"""The MySafe client against the emulator over real HTTP: endpoints, errors, variants, tokens."""

from __future__ import annotations

import pytest

from app.foundations import errors
from app.mysafe.client import UserClient
from app.mysafe.models import Entry, Kind
from app.sandbox.emulator import Emulator, EmulatorOptions, EmulatorServer
from app.services import Services

PASSWORDS = "/api/mysafe/password"
SECRETS = "/api/mysafe/secretapi"


@pytest.fixture
def alice(services: Services, emulator: Emulator, link) -> UserClient:
    link("UALICE", "alices")
    emulator.add_user("bobm")
    emulator.add_group("Ops", ["bobm"])
    return services.mysafe.session_for("UALICE", services.vault.credentials("UALICE"))


@pytest.fixture
def github(emulator: Emulator, alice: UserClient) -> int:
    return emulator.add_password(
        "alices",
        name="Github",
        username="alice@example.com",
        password="s3cr3t-Pa55",
        url="https://github.com",
        notes="team account",
        tags="scm",
        secret_key="JBSWY3DPEHPK3PXP",
        users_allowed=[{"username": "bobm", "can_edit": False}],
    )


@pytest.fixture
def gcp(emulator: Emulator, alice: UserClient) -> int:
    return emulator.add_secret(
        "alices",
        name="GCP1",
        url="https://gcp1.com",
        client_id="gcp-client",
        client_secret="gcp-very-secret",
        identifier_code="gcp7852",
        method="get",
        tags="Cloud1",
        notes="Access details",
        users_allowed=[{"username": "bobm"}],
    )


# --- endpoints ------------------------------------------------------------------------------


def test_list_passwords_filters_and_normalises(alice: UserClient, github: int) -> None:
    items = alice.list_entries(Kind.PASSWORD, name="Git")
    assert [(i.identifier, i.name, i.can_write) for i in items] == [(github, "Github", True)]
    assert alice.list_entries(Kind.PASSWORD, name="nothing-like-this") == []


def test_list_secrets(alice: UserClient, gcp: int) -> None:
    items = alice.list_entries(Kind.SECRET, identifier_code="gcp7852")
    assert [(i.identifier, i.name) for i in items] == [(gcp, "GCP1")]


def test_get_password_has_no_secret_values(alice: UserClient, github: int) -> None:
    entry = alice.get(Kind.PASSWORD, github)
    assert (entry.identifier, entry.name, entry.notes) == (github, "Github", "team account")
    assert entry.has_password and entry.has_totp
    assert [(s.username, s.can_edit) for s in entry.users_allowed] == [("bobm", False)]
    assert "s3cr3t-Pa55" not in repr(entry) and "JBSWY3DPEHPK3PXP" not in repr(entry)


def test_get_secret_normalises_name_to_username(alice: UserClient, gcp: int) -> None:
    entry = alice.get(Kind.SECRET, gcp)
    assert (entry.client_id, entry.identifier_code, entry.method) == ("gcp-client", "gcp7852", "get")
    assert entry.has_client_secret and "gcp-very-secret" not in repr(entry)
    assert [s.username for s in entry.users_allowed] == ["bobm"]


def test_create_password_reads_note_singular(alice: UserClient, emulator: Emulator) -> None:
    outcome = alice.create(
        Kind.PASSWORD,
        {
            "name": "DB",
            "username": "root",
            "password": "pw-1",
            "notes": "prod db",
            "groups_allowed": [{"name": "Ops"}],
        },
    )
    assert outcome.message == "Password successfully registered"
    assert outcome.entry.notes == "prod db"
    stored = emulator.get_password(outcome.entry.identifier)
    assert stored["owner"] == "alices" and stored["groups_allowed"] == [
        {"name": "Ops", "can_edit": False}
    ]


def test_create_secret(alice: UserClient) -> None:
    outcome = alice.create(
        Kind.SECRET,
        {
            "name": "AWS",
            "url": "https://aws.example",
            "client_id": "id-1",
            "client_secret": "cs-1",
            "method": "POST",
        },
    )
    assert outcome.entry.name == "AWS" and outcome.entry.method == "post"


def test_update_replaces_sharing_lists(alice: UserClient, github: int, emulator: Emulator) -> None:
    outcome = alice.update(Kind.PASSWORD, github, {"users_allowed": [], "url": "https://gh.io"})
    assert outcome.message == "Password successfully updated"
    stored = emulator.get_password(github)
    assert stored["users_allowed"] == [] and stored["url"] == "https://gh.io"
    assert stored["notes"] == "team account"  # fields left out are unchanged


def test_update_secret_accepts_v4_201(alice: UserClient, gcp: int) -> None:
    outcome = alice.update(Kind.SECRET, gcp, {"tags": "Cloud2"})
    assert outcome.entry.tags == "Cloud2"


def test_shared_error_is_reported(alice: UserClient, github: int) -> None:
    outcome = alice.update(Kind.PASSWORD, github, {"users_allowed": [{"username": "ghost"}]})
    assert outcome.shared_error and "ghost" in outcome.shared_error[0]


@pytest.mark.parametrize("kind", [Kind.PASSWORD, Kind.SECRET])
def test_disable_then_enable(alice: UserClient, github: int, gcp: int, kind: Kind) -> None:
    identifier = github if kind is Kind.PASSWORD else gcp
    assert "deactivated" in alice.disable(kind, identifier).message
    with pytest.raises(errors.EntryDisabled) as caught:
        alice.get(kind, identifier)
    assert caught.value.code == 1009
    assert "already" in alice.disable(kind, identifier).message
    assert "activated" in alice.enable(kind, identifier).message
    assert alice.get(kind, identifier).identifier == identifier


@pytest.mark.parametrize("kind", [Kind.PASSWORD, Kind.SECRET])
def test_read_gives_a_disabled_entry_its_state_not_an_error(
    alice: UserClient, github: int, gcp: int, kind: Kind
) -> None:
    identifier = github if kind is Kind.PASSWORD else gcp
    assert alice.read(kind, identifier).active
    alice.disable(kind, identifier)
    assert alice.read(kind, identifier) == Entry.disabled(kind, identifier)
    with pytest.raises(errors.NotFound):  # only 1009 is a state; every other refusal stays one
        alice.read(kind, 999)


# --- errors ---------------------------------------------------------------------------------


def test_not_found_is_1005(alice: UserClient) -> None:
    with pytest.raises(errors.NotFound) as caught:
        alice.get(Kind.PASSWORD, 999)
    assert (caught.value.code, caught.value.status) == (1005, 400)
    assert "Password not found" in caught.value.message


def test_what_mysafe_said_is_told_once(alice: UserClient) -> None:
    """MySafe starts its messages with the code; the person reads the code once."""
    from app.error_messages import user_message

    with pytest.raises(errors.NotFound) as caught:
        alice.get(Kind.PASSWORD, 999)
    assert caught.value.describe() == "Password not found (MySafe code 1005)"
    assert user_message(caught.value).count("1005") == 1


def test_a_refused_key_says_refused_once(services: Services, emulator: Emulator) -> None:
    from app.error_messages import user_message
    from app.mysafe.tokens import Credentials

    client_id, _ = emulator.add_user("dora")
    client = services.mysafe.session_for("UDORA", Credentials(client_id, "wrong-secret-value"))
    with pytest.raises(errors.CredentialsRejected) as caught:
        client.check()
    told = user_message(caught.value).lower()
    assert told.count("refused") + told.count("rejected") == 1, told
    assert "mysafe said:" in told


def test_no_access_is_1006(alice: UserClient, emulator: Emulator) -> None:
    emulator.add_user("carol")
    private = emulator.add_password("carol", name="Carol's", username="c", password="p")
    with pytest.raises(errors.NoAccess) as caught:
        alice.get(Kind.PASSWORD, private)
    assert caught.value.code == 1006


def test_view_only_cannot_update(services: Services, emulator: Emulator, link, github: int) -> None:
    link("UBOB", "bobm")
    bob = services.mysafe.session_for("UBOB", services.vault.credentials("UBOB"))
    assert bob.get(Kind.PASSWORD, github).name == "Github"
    with pytest.raises(errors.NoAccess):
        bob.update(Kind.PASSWORD, github, {"notes": "mine now"})


def test_bad_identifier_is_1010(alice: UserClient) -> None:
    with pytest.raises(errors.BadIdentifier) as caught:
        alice.get(Kind.PASSWORD, "abc")  # type: ignore[arg-type]
    assert caught.value.code == 1010


def test_duplicate_identifier_code_is_1001(alice: UserClient, gcp: int) -> None:
    body = {
        "name": "X",
        "url": "https://x",
        "client_id": "i",
        "client_secret": "s",
        "identifier_code": "gcp7852",
    }
    with pytest.raises(errors.InvalidRequest) as caught:
        alice.create(Kind.SECRET, body)
    assert caught.value.code == 1001 and "already found" in caught.value.message


def test_invalid_body_is_refused_before_sending(alice: UserClient, emulator: Emulator) -> None:
    emulator.reset_calls()
    with pytest.raises(errors.ValidationError) as caught:
        alice.create(Kind.PASSWORD, {"name": "x", "password": "hunter2-secret"})
    assert "username" in caught.value.errors
    assert "hunter2-secret" not in str(caught.value)
    assert emulator.calls_to("POST", PASSWORDS) == []


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (
            502,
            "An invalid response was received from the upstream server",
            errors.MySafeUnavailable,
            "invalid response",
        ),
        (
            503,
            {"message": "The upstream server is currently unavailable"},
            errors.MySafeUnavailable,
            "currently unavailable",
        ),
        (504, {"message": "The upstream server is timing out"}, errors.MySafeUnavailable, "timing out"),
        (500, {"message": "Unexpected error."}, errors.MySafeUnavailable, "Unexpected error"),
        (
            404,
            {"message": "No route matched with those values"},
            errors.UnexpectedAnswer,
            "No route matched",
        ),
        (200, "<html>login page</html>", errors.UnexpectedAnswer, "not JSON"),
    ],
)
def test_gateway_failures_are_clear_errors(
    alice: UserClient, github: int, emulator: Emulator, status, body, error, words
) -> None:
    emulator.inject(status=status, body=body, method="GET", path_prefix=PASSWORDS, times=5)
    with pytest.raises(error) as caught:
        alice.get(Kind.PASSWORD, github)
    assert words in str(caught.value)
    assert caught.value.status == status


def test_unreachable_server_is_unavailable(services: Services, emulator: Emulator) -> None:
    with EmulatorServer(emulator) as server:
        url = server.url
    services.mysafe.base_url = url  # the server has stopped: connection refused
    client = services.mysafe.session_for("UX", _creds(emulator, "zed"))
    with pytest.raises(errors.MySafeUnavailable) as caught:
        client.list_entries(Kind.PASSWORD)
    assert "cannot reach MySafe" in str(caught.value)  # refused at once: not a timeout


def test_timeout_is_unavailable(
    alice: UserClient, github: int, emulator: Emulator, services: Services
) -> None:
    services.mysafe.timeout = 0.2
    emulator.inject(status=0, delay=1.0, method="GET", path_prefix=PASSWORDS, times=3)
    with pytest.raises(errors.MySafeUnavailable) as caught:
        alice.get(Kind.PASSWORD, github)
    assert "in time" in str(caught.value)


# --- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_get_and_put_are_retried(
    alice: UserClient, github: int, emulator: Emulator, status: int
) -> None:
    emulator.inject(status=status, body="upstream trouble", method="GET", path_prefix=PASSWORDS)
    assert alice.get(Kind.PASSWORD, github).name == "Github"
    emulator.inject(
        status=status, body="upstream trouble", method="PUT", path_prefix=PASSWORDS, times=2
    )
    emulator.reset_calls()
    alice.update(Kind.PASSWORD, github, {"tags": "retried"})
    assert len(emulator.calls_to("PUT", PASSWORDS)) == 3
    assert emulator.get_password(github)["tags"] == "retried"


def test_retries_give_up_after_three_tries(alice: UserClient, github: int, emulator: Emulator) -> None:
    alice.get(Kind.PASSWORD, github)  # token fetched
    emulator.reset_calls()
    emulator.inject(status=503, body="down", method="GET", path_prefix=PASSWORDS, times=10)
    with pytest.raises(errors.MySafeUnavailable):
        alice.get(Kind.PASSWORD, github)
    assert len(emulator.calls_to("GET", PASSWORDS)) == 3


@pytest.mark.parametrize("status", [502, 503, 504])
def test_create_is_never_retried(alice: UserClient, emulator: Emulator, status: int) -> None:
    alice.list_entries(Kind.PASSWORD)  # token fetched
    emulator.reset_calls()
    emulator.inject(status=status, body="gateway", method="POST", path_prefix=PASSWORDS)
    with pytest.raises(errors.MySafeUnavailable):
        alice.create(Kind.PASSWORD, {"name": "n", "username": "u", "password": "p"})
    assert len([c for c in emulator.calls_to("POST", PASSWORDS) if c.path == PASSWORDS]) == 1


def test_create_timeout_is_not_retried(
    alice: UserClient, emulator: Emulator, services: Services
) -> None:
    alice.list_entries(Kind.PASSWORD)
    services.mysafe.timeout = 0.2
    emulator.reset_calls()
    emulator.inject(status=0, delay=0.6, method="POST", path_prefix=PASSWORDS)
    with pytest.raises(errors.MySafeUnavailable) as caught:
        alice.create(Kind.PASSWORD, {"name": "n", "username": "u", "password": "p"})
    assert "may have been created" in str(caught.value)
    assert len(emulator.calls_to("POST", PASSWORDS)) == 1


# --- tokens ---------------------------------------------------------------------------------


def test_many_calls_one_token_fetch(
    alice: UserClient, github: int, emulator: Emulator, services: Services
) -> None:
    emulator.reset_calls()
    for _ in range(20):
        alice.get(Kind.PASSWORD, github)
    # A second client object (another request, another worker) reuses the cached token too.
    again = services.mysafe.session_for("UALICE", services.vault.credentials("UALICE"))
    again.list_entries(Kind.PASSWORD)
    assert len(emulator.calls_to("POST", "/api/oauth2/token")) == 1


def test_a_client_reads_the_cached_token_once(
    alice: UserClient, github: int, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A share reads the entry and then the listing with one client: one cache read (a Redis
    GET and a decrypt) serves both."""
    alice.get(Kind.PASSWORD, github)  # the token is fetched and cached
    reads: list[str] = []
    cache_get = services.mysafe.tokens.get
    monkeypatch.setattr(
        services.mysafe.tokens, "get", lambda user: reads.append(user) or cache_get(user)
    )
    client = services.mysafe.session_for("UALICE", services.vault.credentials("UALICE"))
    client.get(Kind.PASSWORD, github)
    client.list_entries(Kind.PASSWORD, name="Github")
    assert reads == ["UALICE"]


def test_token_is_cached_encrypted(alice: UserClient, github: int, services: Services, redis) -> None:
    alice.get(Kind.PASSWORD, github)
    stored = redis.get(services.mysafe.tokens.key("UALICE"))
    assert stored and stored.startswith("gAAAA")  # a Fernet token, not the bearer token
    assert 0 < redis.ttl(services.mysafe.tokens.key("UALICE")) < 3600


def test_expired_token_is_refreshed_once(alice: UserClient, github: int, emulator: Emulator) -> None:
    alice.get(Kind.PASSWORD, github)
    emulator.expire_tokens()
    emulator.reset_calls()
    assert alice.get(Kind.PASSWORD, github).name == "Github"
    assert len(emulator.calls_to("POST", "/api/oauth2/token")) == 1
    assert len(emulator.calls_to("GET", PASSWORDS)) == 2  # the 401, then the replay


def test_revoked_key_is_credentials_rejected(
    alice: UserClient, github: int, emulator: Emulator
) -> None:
    alice.get(Kind.PASSWORD, github)
    emulator.expire_tokens()
    emulator.revoke_user("alices")
    with pytest.raises(errors.CredentialsRejected) as caught:
        alice.get(Kind.PASSWORD, github)
    assert "Refused" in str(caught.value) or "refused" in str(caught.value)


def test_wrong_secret_never_appears_in_the_error(services: Services, emulator: Emulator) -> None:
    client_id, _ = emulator.add_user("dora")
    from app.mysafe.tokens import Credentials

    client = services.mysafe.session_for("UDORA", Credentials(client_id, "wrong-secret-value"))
    with pytest.raises(errors.CredentialsRejected) as caught:
        client.check()
    assert "wrong-secret-value" not in str(caught.value) and caught.value.status == 401


# --- server variants ------------------------------------------------------------------------


def test_variant_installation(services: Services, redis) -> None:
    """/iso token path, Basic auth, lower-case bearer, `Message`, no `code`, v3 secret answers."""
    options = EmulatorOptions(
        token_path="/iso/oauth2/token",
        basic_auth=True,
        lowercase_token_type=True,
        capital_message=True,
        omit_code=True,
        secret_update_status=200,
    )
    emulator = Emulator(options)
    with EmulatorServer(emulator) as server:
        services.mysafe.base_url = server.url
        services.mysafe.token_path = "/iso/oauth2/token"
        services.mysafe.basic_auth = True
        client = services.mysafe.session_for("UVAR", _creds(emulator, "vic"))
        ident = emulator.add_secret("vic", name="S", url="https://s", client_id="c", client_secret="cs")
        outcome = client.update(Kind.SECRET, ident, {"notes": "v3"})
        assert outcome.message == "Api secret updated successfully"
        assert client.get(Kind.SECRET, ident).notes == "v3"
        with pytest.raises(errors.NotFound):
            client.get(Kind.SECRET, ident + 100)


def _creds(emulator: Emulator, username: str):
    from app.mysafe.tokens import Credentials

    return Credentials(*emulator.add_user(username))

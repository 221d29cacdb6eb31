"""The credential vault: encrypted at rest, rotatable, verified before it is stored."""

from __future__ import annotations

import pytest

from app.accounts.linked_keys import Vault, link_verified
from app.foundations import errors
from app.foundations.crypto import Keyring, generate_key
from app.sandbox.emulator import Emulator
from app.services import Services
from tests.support.redis_text import everything_stored
from tests.support.redis_wire import Wire


def test_secret_is_encrypted_at_rest(services: Services, redis, key_prefix: str) -> None:
    services.vault.link(
        "UALICE", client_id="cid-1", client_secret="very-secret-value-1", mysafe_username="alices"
    )
    assert "very-secret-value-1" not in everything_stored(redis, key_prefix)
    assert services.vault.credentials("UALICE").client_secret == "very-secret-value-1"
    assert "very-secret-value-1" not in repr(services.vault.credentials("UALICE"))


def test_accounts_hold_no_secret(services: Services) -> None:
    services.vault.link(
        "UALICE", client_id="cid-1", client_secret="s3cret-xyz", mysafe_username="alices"
    )
    accounts = services.vault.accounts()
    assert [(a.slack_id, a.mysafe_username, a.client_id) for a in accounts] == [
        ("UALICE", "alices", "cid-1")
    ]
    assert "s3cret-xyz" not in repr(accounts)


def test_unlinked_person_gets_credentials_missing(services: Services) -> None:
    with pytest.raises(errors.CredentialsMissing):
        services.vault.credentials("UNOBODY")


def test_key_rotation(redis, key_prefix: str) -> None:
    old, new = generate_key(), generate_key()
    Vault(redis, Keyring([old]), prefix=key_prefix).link(
        "UALICE", client_id="c", client_secret="rotate-me", mysafe_username="alices"
    )
    rotated = Vault(redis, Keyring([new, old]), prefix=key_prefix)
    assert rotated.credentials("UALICE").client_secret == "rotate-me"  # old key still reads
    assert rotated.rotate_keys() == 1
    only_new = Vault(redis, Keyring([new]), prefix=key_prefix)
    assert only_new.credentials("UALICE").client_secret == "rotate-me"
    with pytest.raises(errors.ConfigError):
        Vault(redis, Keyring([old]), prefix=key_prefix).credentials("UALICE")


def test_link_verifies_the_key_with_mysafe(services: Services, emulator: Emulator) -> None:
    client_id, client_secret = emulator.add_user("alices")
    with pytest.raises(errors.CredentialsRejected):
        link_verified(
            services.vault,
            services.mysafe,
            "UALICE",
            client_id=client_id,
            client_secret="wrong",
            mysafe_username="alices",
            confirmed=True,
        )
    assert services.vault.account("UALICE") is None
    link_verified(
        services.vault,
        services.mysafe,
        "UALICE",
        client_id=client_id,
        client_secret=client_secret,
        mysafe_username="alices",
        confirmed=True,
    )
    assert services.vault.account("UALICE").mysafe_username == "alices"


def test_link_refuses_a_bad_slack_id(services: Services) -> None:
    with pytest.raises(errors.ValidationError):
        services.vault.link("alice", client_id="c", client_secret="s", mysafe_username="a")


def test_mention_map_and_linked_account(services: Services) -> None:
    services.vault.map_mention("UBOB", "bobm")
    services.vault.link("UALICE", client_id="c", client_secret="s", mysafe_username="alices")
    assert services.vault.mysafe_username("UBOB") == "bobm"
    assert services.vault.mysafe_username("UALICE") == "alices"
    assert services.vault.mysafe_username("UNOBODY") is None
    assert services.vault.unlink("UALICE") and services.vault.account("UALICE") is None


def named(vault: Vault) -> list[str]:
    """Bob mapped by an administrator and claiming another name, Alice confirmed, Carol only
    claiming, Dave mapped with no key, and nobody."""
    vault.map_mention("UBOB", "bobm")
    vault.link("UBOB", client_id="c", client_secret="s", mysafe_username="bobby", confirmed=False)
    vault.link("UALICE", client_id="c", client_secret="s", mysafe_username="alices")
    vault.link("UCAROL", client_id="c", client_secret="s", mysafe_username="carol", confirmed=False)
    vault.map_mention("UDAVE", "daved")
    return ["UBOB", "UALICE", "UCAROL", "UDAVE", "UNOBODY"]


def test_usernames_tell_a_confirmed_name_from_a_claimed_one(services: Services) -> None:
    """The one-round-trip read says what `mysafe_username` and `claimed_username` say."""
    vault = services.vault
    people = named(vault)
    assert [vault.usernames(p) for p in people] == [
        ("bobm", None),  # the administrators' map wins over what was typed
        ("alices", None),
        (None, "carol"),
        ("daved", None),
        (None, None),
    ]
    assert [(vault.mysafe_username(p), vault.claimed_username(p)) for p in people] == [
        vault.usernames(p) for p in people
    ]


def test_whoamis_read_is_one_round_trip_and_says_what_the_two_reads_say(services: Services) -> None:
    """`/mysafe whoami`'s job reads the account and the name together: one round trip."""
    vault = services.vault
    people = named(vault)
    with Wire() as wire:
        together = [vault.account_and_name(p) for p in people]
    assert len(wire.trips) == len(people)
    assert together == [(vault.account(p), vault.mysafe_username(p)) for p in people]
    assert [name for _, name in together] == ["bobm", "alices", None, "daved", None]


@pytest.mark.parametrize(
    "name",
    ["al\x1b[2Kice", "alice\x1b]0;x\x07", "bob\x7f", "bob\x85", "ev\u202eil", "a\u200bb", "x\ufeff"],
)
def test_a_username_with_control_or_format_characters_is_refused(services: Services, name: str) -> None:
    """An ESC sequence or a bidi override in a claimed name could hide its "unconfirmed"
    marker or rewrite lines on an administrator's terminal."""
    with pytest.raises(errors.ValidationError):
        services.vault.link("UALICE", client_id="c", client_secret="s", mysafe_username=name)
    with pytest.raises(errors.ValidationError):
        services.vault.map_mention("UBOB", name)
    assert services.vault.account("UALICE") is None


def test_link_stores_the_client_id_it_checked(services: Services, emulator: Emulator) -> None:
    client_id, client_secret = emulator.add_user("alices")
    link_verified(
        services.vault,
        services.mysafe,
        "UALICE",
        client_id=f"  {client_id}\n",
        client_secret=client_secret,
        mysafe_username="alices",
        confirmed=False,
    )
    assert services.vault.account("UALICE").client_id == client_id
    assert services.vault.credentials("UALICE").client_id == client_id

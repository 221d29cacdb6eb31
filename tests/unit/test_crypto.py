"""`Keyring.seal`: what the ack writes on every command, opened with any configured key."""

from __future__ import annotations

import pytest

from app.foundations.crypto import SEALED, Keyring, generate_key
from app.foundations.errors import ConfigError


def test_a_sealed_record_opens_with_its_key_and_shows_nothing_of_its_text() -> None:
    keyring = Keyring([generate_key()])
    sealed = keyring.seal('{"text":"login","client_secret":"typed-Secret-9"}')
    assert sealed.startswith(SEALED) and "typed-Secret-9" not in sealed
    assert keyring.unseal(sealed) == '{"text":"login","client_secret":"typed-Secret-9"}'
    assert keyring.seal("same") != keyring.seal("same")  # a fresh nonce each time


def test_keys_rotate_a_sealed_record_opens_with_an_older_key_and_reseals_with_the_newest() -> None:
    old, new = generate_key(), generate_key()
    sealed = Keyring([old]).seal("intent")
    rotating = Keyring([new, old])
    assert rotating.unseal(sealed) == "intent"
    assert Keyring([new]).unseal(rotating.reseal(sealed)) == "intent"


def test_a_record_fernet_sealed_before_still_opens() -> None:
    keyring = Keyring([generate_key()])
    assert keyring.unseal(keyring.encrypt("put by the previous release").decode()) == (
        "put by the previous release"
    )


@pytest.mark.parametrize("damage", ["removed key", "tampered", "truncated", "not base64"])
def test_a_record_no_configured_key_opens_is_a_configuration_error(damage: str) -> None:
    keyring = Keyring([generate_key()])
    sealed = keyring.seal("intent")
    token = {
        "removed key": Keyring([generate_key()]).seal("intent"),
        "tampered": sealed[:-6] + ("AAAAAA" if not sealed.endswith("AAAAAA") else "BBBBBB"),
        "truncated": sealed[:10],
        "not base64": SEALED + "%%%",
    }[damage]
    with pytest.raises(ConfigError):
        keyring.unseal(token)

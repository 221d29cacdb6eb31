"""Encryption of what the bot keeps: client secrets, cached tokens, pending secret values.

MultiFernet over `MYSAFE_BOT_ENCRYPTION_KEY` (comma-separated, newest first): new data is
encrypted with the first key, old data still decrypts with any key, so keys can rotate.

`seal` is for what is written on every request and read once (a job's body, on the ack's
path): AES-256-GCM, one C call, under a key derived from each configured key with HKDF, where
Fernet (AES-CBC and an HMAC, with cipher objects built per call) costs about fifteen times the
CPU. `unseal` opens either kind, so records Fernet sealed before still open.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.foundations.errors import ConfigError

#: What a `seal`ed record starts with (a Fernet token never does: it starts with `gAAAAA`).
SEALED = "s1."
#: HKDF's `info`: the derived keys serve sealed records and nothing else.
_PURPOSE = b"mysafe-bot sealed records v1"
_NONCE = 12


def _sealer(key: str) -> AESGCM:
    """The AES-256-GCM key derived from one configured Fernet key."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
        base64.urlsafe_b64decode(key)
    )
    return AESGCM(derived)


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


class Keyring:
    def __init__(self, keys: Sequence[str]) -> None:
        # Commands that never touch stored secrets (audit) run without keys; use fails loudly.
        self._keys = MultiFernet([Fernet(key) for key in keys]) if keys else None
        self._sealers = [_sealer(key) for key in keys]  # newest first, as the keys

    @property
    def _fernet(self) -> MultiFernet:
        if self._keys is None:
            raise ConfigError("MYSAFE_BOT_ENCRYPTION_KEY", "is required (run `mysafe-bot keygen`)")
        return self._keys

    def encrypt(self, text: str) -> bytes:
        return self._fernet.encrypt(text.encode("utf-8"))

    def decrypt(self, token: bytes | str) -> str:
        """Decrypt with any configured key; a token no key opens is a configuration error."""
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            raise ConfigError(
                "MYSAFE_BOT_ENCRYPTION_KEY",
                "none of the configured keys decrypts stored data (was a key removed?)",
            ) from None

    def rotate(self, token: bytes | str) -> bytes:
        """Re-encrypt with the newest key (for `mysafe-bot users rotate-keys`); a token no key
        opens is a configuration error, as in `decrypt`."""
        try:
            return self._fernet.rotate(token)
        except InvalidToken:
            raise ConfigError(
                "MYSAFE_BOT_ENCRYPTION_KEY",
                "none of the configured keys decrypts stored data (was a key removed?)",
            ) from None

    def seal(self, text: str) -> str:
        """Encrypt and authenticate with the newest key (see the module's docstring)."""
        if not self._sealers:
            raise ConfigError("MYSAFE_BOT_ENCRYPTION_KEY", "is required (run `mysafe-bot keygen`)")
        nonce = os.urandom(_NONCE)
        sealed = self._sealers[0].encrypt(nonce, text.encode("utf-8"), None)
        return SEALED + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def unseal(self, token: str) -> str:
        """Open what `seal` (or `encrypt`) sealed with any configured key; a token no key
        opens is a configuration error, as in `decrypt`."""
        if not token.startswith(SEALED):
            return self.decrypt(token)
        try:
            raw = base64.urlsafe_b64decode(token[len(SEALED) :])
        except ValueError:
            raw = b""
        for sealer in self._sealers:
            try:
                return sealer.decrypt(raw[:_NONCE], raw[_NONCE:], None).decode("utf-8")
            except (InvalidTag, ValueError):
                continue
        raise ConfigError(
            "MYSAFE_BOT_ENCRYPTION_KEY",
            "none of the configured keys decrypts stored data (was a key removed?)",
        )

    def reseal(self, token: str) -> str:
        """`seal` again with the newest key (for `mysafe-bot users rotate-keys`)."""
        return self.seal(self.unseal(token))

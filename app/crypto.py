"""Encryption of what the bot keeps: client secrets, cached tokens, pending secret values.

MultiFernet over `MYSAFE_BOT_ENCRYPTION_KEY` (comma-separated, newest first): new data is
encrypted with the first key, old data still decrypts with any key, so keys can rotate.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from app.errors import ConfigError


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


class Keyring:
    def __init__(self, keys: Sequence[str]) -> None:
        # Commands that never touch stored secrets (audit) run without keys; use fails loudly.
        self._keys = MultiFernet([Fernet(key) for key in keys]) if keys else None

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

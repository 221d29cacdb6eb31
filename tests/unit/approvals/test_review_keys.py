"""Which errors say a reviewer's MySafe key no longer works (they are escalated at once), and
which say something else (MySafe down, no access to one entry: they are not)."""

from __future__ import annotations

import pytest

from app.approvals.review_survey import key_gone
from app.foundations.errors import (
    BotError,
    ConfigError,
    CredentialsMissing,
    CredentialsRejected,
    MySafeUnavailable,
    NoAccess,
)


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (CredentialsRejected("MySafe refused the access key", status=401), "key_rejected"),
        (CredentialsMissing(), "key_unlinked"),
        (
            ConfigError("MYSAFE_BOT_ENCRYPTION_KEY", "none of the configured keys decrypts"),
            "key_unreadable",
        ),
        (MySafeUnavailable("gateway timeout", status=504), ""),
        (NoAccess("no access", code=1006), ""),
    ],
)
def test_a_dead_key_is_told_from_other_errors(error: BotError, why: str) -> None:
    assert key_gone(error) == why

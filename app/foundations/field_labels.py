"""Field names as people say them (MySafe's API names otherwise), wherever a field is named.

Plain words, no markup: refusals, approval messages and the CLI name fields the same way, and
each front makes them inert where it shows them (`app.text` for Slack).
"""

from __future__ import annotations

FIELD_LABELS = {
    "secret_key": "TOTP seed",
    "client_secret": "client secret",
    "client_id": "client ID",
    "identifier_code": "identifier code",
    "users_allowed": "shared with",
    "groups_allowed": "shared with groups",
}


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name)

"""The sandbox's demo vault: people, a group and a few shared entries, the same on every start.

Keys and passwords are derived from one seed (HMAC-SHA256 of a label), so a person linked to
their demo key yesterday is still linked after a restart: `mysafe-bot serve`'s demo keeps the
seed under `MYSAFE_BOT_DATA_DIR`, and `mysafe-bot sandbox` reads the same file. Entries are
created in a fixed order, so their identifiers are the same on every start too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from app.sandbox import people
from app.sandbox.state import Emulator

#: MySafe usernames of the demo people, in the order their keys are made (`ninan`, the
#: newcomer's, is shown in the console for `/mysafe login` rather than linked at start).
USERNAMES = ("pduarte", "alices", "bobm", "carolk", "ninan")
GROUP = "Ops"


@dataclass(frozen=True)
class Sample:
    """An entry to try, with what to type: shown by `make sandbox` and the console."""

    kind: str
    identifier: int
    name: str
    owner: str


def _derive(seed: bytes, label: str, length: int) -> str:
    digest = hmac.new(seed, label.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:length]


def demo_keys(seed: bytes) -> dict[str, tuple[str, str]]:
    """Each demo user's (client ID, client secret), the same for one seed."""
    return {
        name: (f"demo-{name}-{_derive(seed, name, 8)}", _derive(seed, f"secret:{name}", 32))
        for name in USERNAMES
    }


def keys_to_show(seed: bytes) -> dict[str, tuple[str, str]]:
    """The keys the console shows their own people (Slack ID -> client ID, client secret):
    those of the people who are not linked at start, and link them with `/mysafe login`."""
    keys = demo_keys(seed)
    return {
        person.slack_id: keys[person.mysafe_username]
        for person in people.PEOPLE
        if not person.linked and person.mysafe_username in keys
    }


def demo_emulator(seed: bytes) -> tuple[Emulator, dict[str, tuple[str, str]], list[Sample]]:
    """A small populated vault: five users, a group, shared passwords and API secrets."""
    emulator = Emulator()
    keys = {
        name: emulator.add_user(name, client_id=client_id, client_secret=client_secret)
        for name, (client_id, client_secret) in demo_keys(seed).items()
    }
    emulator.add_group(GROUP, ["alices", "bobm"])
    samples = [
        Sample(
            "password",
            emulator.add_password(
                "pduarte",
                name="GCP console",
                url="https://console.cloud.google.com",
                username="ops@example.com",
                password=_derive(seed, "password:1", 16),
                tags="cloud",
                notes="Shared org account",
                users_allowed=[{"username": "bobm", "can_edit": True}],
            ),
            "GCP console",
            "pduarte",
        ),
        Sample(
            "password",
            emulator.add_password(
                "pduarte",
                name="Prod DB",
                url="db.internal:5432",
                username="app",
                password=_derive(seed, "password:2", 20),
                tags="db,prod",
                users_allowed=[{"username": "carolk"}],
                groups_allowed=[{"name": GROUP}],
            ),
            "Prod DB",
            "pduarte",
        ),
        Sample(
            "password",
            emulator.add_password(
                "alices",
                name="gmail corporate",
                url="www.gmail.com",
                username="corp@example.com",
                password=_derive(seed, "password:3", 16),
                secret_key="JBSWY3DPEHPK3PXP",
                tags="gmail",
            ),
            "gmail corporate",
            "alices",
        ),
        Sample(
            "secret",
            emulator.add_secret(
                "pduarte",
                name="Billing API",
                url="https://billing.example.com",
                client_id="billing",
                client_secret=_derive(seed, "client_secret:1", 24),
                identifier_code="billing",
                method="post",
                tags="finance",
                users_allowed=[{"username": "alices", "can_edit": False}],
            ),
            "Billing API",
            "pduarte",
        ),
        # Last, so every other entry keeps its identifier: the newcomer's own, which they
        # see once they have linked their key.
        Sample(
            "password",
            emulator.add_password(
                "ninan",
                name="Team wiki",
                url="https://wiki.example.com",
                username="nina@example.com",
                password=_derive(seed, "password:4", 16),
                tags="docs",
            ),
            "Team wiki",
            "ninan",
        ),
    ]
    return emulator, keys, samples

"""The demo's own secrets, made once and kept under `MYSAFE_BOT_DATA_DIR/demo.json` (mode 0600).

One seed for the sandbox's keys (so links survive a restart), the Fernet key that encrypts what
the demo stores, and the signing secret the console signs Slack requests with. They guard
nothing but a loopback demo, yet they are still random per machine rather than constants in
the source: a demo left running must not be driven by a page that knows the repository.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from app.foundations.crypto import generate_key
from app.foundations.storage import private_dir

FILE = "demo.json"


@dataclass(frozen=True)
class DemoSecrets:
    seed: bytes
    encryption_key: str
    signing_secret: str
    bot_token: str


def load(data_dir: Path) -> DemoSecrets:
    """Read the demo's secrets, making (and keeping) them on first use."""
    path = data_dir / FILE
    if not path.is_file():
        private_dir(data_dir)
        fresh = {
            "seed": secrets.token_hex(32),
            "encryption_key": generate_key(),
            "signing_secret": secrets.token_hex(32),
            "bot_token": f"xoxb-demo-{secrets.token_hex(16)}",
        }
        # Created 0600 before anything is written: the file is never readable by others.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(fresh, file)
    kept = json.loads(path.read_text())
    return DemoSecrets(
        seed=bytes.fromhex(kept["seed"]),
        encryption_key=kept["encryption_key"],
        signing_secret=kept["signing_secret"],
        bot_token=kept["bot_token"],
    )

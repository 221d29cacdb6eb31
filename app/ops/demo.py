"""`make run` with nothing set: the demo, everything on this machine.

With no Slack setting at all (`wanted`), `mysafe-bot serve` fills in every setting itself
(`environment`) before the settings are read, so the rest of the bot runs exactly as it does
for real: the Slack Web API is the console's stand-in on the bot's own port
(`app.sandbox.slack_stand_in`), MySafe is the sandbox (a supervised sibling on a loopback
port, keys derived from the seed under the data dir), and the demo people are linked to their
sandbox keys (`link_people`). The console at `/` sends signed requests to `/slack/events` as
Slack does. It binds to loopback only. Its policy (`DEMO_POLICY`) asks for step-up with a
passkey on the production entry, so a newcomer meets it in the first minute.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from collections.abc import Mapping
from importlib.resources import files
from pathlib import Path

from app.foundations.errors import ConfigError
from app.foundations.settings import DEMO, is_loopback
from app.foundations.storage import RedisClient
from app.ops.sibling import Sibling, answers
from app.sandbox import demo_secrets, people

log = logging.getLogger(__name__)

#: Any of these set means a real Slack set-up: then nothing is filled in.
SLACK_VARIABLES = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "MYSAFE_BOT_APPROVAL_CHANNEL",
    "MYSAFE_BOT_APPROVERS",
)
CLI = [sys.executable, "-m", "app.ops.cli"]
#: The demo's rules: the settings' one approval, and a passkey for entries tagged prod.
DEMO_POLICY = Path(str(files("app.sandbox") / "demo_policy.yml"))


def wanted(env: Mapping[str, str]) -> bool:
    """No Slack setting at all: the demo. One is enough to mean a real set-up."""
    return not any((env.get(name) or "").strip() for name in SLACK_VARIABLES)


def slack_variables_set(env: Mapping[str, str]) -> list[str]:
    """The Slack variables that are set: any one of them means a real set-up."""
    return [name for name in SLACK_VARIABLES if (env.get(name) or "").strip()]


def why_not(env: Mapping[str, str], error: ConfigError) -> ConfigError:
    """A stray Slack variable (an old token in a shell) leaves the demo and lists what a real
    set-up misses: first say which variable did it, and how to get the demo back."""
    stray = slack_variables_set(env)
    missing = [p.variable for p in error.problems if p.variable in SLACK_VARIABLES]
    if not stray or not any(name not in stray for name in missing):
        return error  # every Slack variable a real set-up needs is there: no stray one
    it = "it" if len(stray) == 1 else "them"
    note = ConfigError(
        ", ".join(stray),
        f"{'is' if len(stray) == 1 else 'are'} set (in the environment or .env), so this is the "
        f"real bot, not the demo, and it needs the settings below. For the demo, unset {it}: "
        f"`unset {' '.join(stray)}` (and take {it} out of .env)",
    )
    return ConfigError.of([note, *error.problems])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(env: Mapping[str, str], *, host: str, port: int) -> dict[str, str]:
    """The settings the demo fills in; what the operator set (a data dir, a key) is kept."""
    if not is_loopback(host):
        raise ConfigError(
            "--host",
            f"is {host}: the demo binds to loopback only (127.0.0.1); "
            "set the Slack variables to run for real",
        )
    data_dir = Path((env.get("MYSAFE_BOT_DATA_DIR") or "").strip() or ".mysafe-bot")
    kept = demo_secrets.load(data_dir)
    base = f"http://127.0.0.1:{port}"
    filled = {
        DEMO: base,
        "SLACK_BOT_TOKEN": kept.bot_token,
        "SLACK_SIGNING_SECRET": kept.signing_secret,
        "SLACK_API_URL": f"{base}/demo/api/",
        "MYSAFE_BOT_APPROVAL_CHANNEL": people.APPROVAL_CHANNEL,
        "MYSAFE_BOT_APPROVERS": people.APPROVER_GROUP,
        # The sandbox, never a MySafe named in the environment: the demo people's keys are
        # the sandbox's own.
        "MYSAFE_URL": f"http://127.0.0.1:{_free_port()}",
    }
    if not (env.get("MYSAFE_BOT_PUBLIC_URL") or "").strip():
        # The passkey pages (step-up): browsers allow WebAuthn on `localhost`, never on a
        # bare address, so the same loopback server is named by that name.
        filled["MYSAFE_BOT_PUBLIC_URL"] = f"http://localhost:{port}"
    if not (env.get("MYSAFE_BOT_POLICY") or "").strip():
        filled["MYSAFE_BOT_POLICY"] = str(DEMO_POLICY)
    if not (env.get("MYSAFE_BOT_ENCRYPTION_KEY") or "").strip():
        filled["MYSAFE_BOT_ENCRYPTION_KEY"] = kept.encryption_key
    if not (env.get("LOG_FORMAT") or "").strip():
        # A person reads the demo's log in their terminal; JSON is for collectors.
        filled["LOG_FORMAT"] = "text"
    return filled


def start_sandbox(mysafe_url: str, *, timeout: float = 30.0) -> Sibling:
    """The MySafe sandbox as a supervised sibling; returns once it answers."""
    address = mysafe_url.removeprefix("http://")
    port = address.rpartition(":")[2]
    sandbox = Sibling([*CLI, "sandbox", "--port", port, "--quiet"], name="sandbox").start()
    deadline = time.monotonic() + timeout
    while not answers(address):
        if time.monotonic() > deadline:
            sandbox.stop()
            raise ConfigError("MYSAFE_URL", f"the demo's MySafe sandbox did not start on {address}")
        time.sleep(0.05)  # a process starting up: nothing to wait on but its port
    return sandbox


def link_people(
    redis: RedisClient, *, key_prefix: str, encryption_keys: tuple[str, ...], data_dir: Path
) -> None:
    """Link each demo person to their sandbox key and map their mentions, on every start (a
    `/mysafe logout` in the demo lasts until the next one)."""
    from app.accounts.linked_keys import Vault
    from app.foundations.crypto import Keyring
    from app.sandbox.demo_data import demo_keys

    vault = Vault(redis, Keyring(encryption_keys), prefix=key_prefix)
    keys = demo_keys(demo_secrets.load(data_dir).seed)
    for person in people.PEOPLE:
        if person.mysafe_username is None or not person.linked:
            continue  # the outsider has no key; the newcomer links theirs with /mysafe login
        client_id, client_secret = keys[person.mysafe_username]
        vault.link(
            person.slack_id,
            client_id=client_id,
            client_secret=client_secret,
            mysafe_username=person.mysafe_username,
            confirmed=True,
        )
        vault.map_mention(person.slack_id, person.mysafe_username)


def banner(base_url: str) -> str:
    return (
        f"\n  mysafe-bot demo: open {base_url}/\n"
        "  Everything runs on this machine (loopback only): an embedded Redis, the MySafe "
        "sandbox,\n  and a console standing in for Slack. Nothing leaves the machine.\n"
        "  Set the Slack variables (see docs/slack-app.md) to run for real.\n"
    )

"""`mysafe-bot users link|map|list|unlink|rotate-keys`: each person's MySafe key, for operators.

The client secret is read from standard input only (argv is visible to every user of the
machine); what `list` prints was typed by people, so it is printed escaped for a terminal.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from app.foundations.errors import ConfigError
from app.text import for_terminal

if TYPE_CHECKING:
    from app.ops.runtime import Runtime


def add_parser(commands: argparse._SubParsersAction) -> None:
    users = commands.add_parser("users", help="link MySafe keys to Slack users")
    verbs = users.add_subparsers(dest="verb", required=True)

    link = verbs.add_parser("link", help="link a key (the client secret is read from stdin)")
    link.add_argument("slack_id")
    link.add_argument("--client-id", required=True)
    link.add_argument("--mysafe-username", required=True)
    link.set_defaults(handler=_users_link)

    mapping = verbs.add_parser("map", help="say who a mention of a Slack user means in MySafe")
    mapping.add_argument("slack_id")
    mapping.add_argument("mysafe_username")
    mapping.set_defaults(handler=_users_map)

    listing = verbs.add_parser("list", help="linked keys and mapped mentions (no secrets)")
    listing.set_defaults(handler=_users_list)

    unlink = verbs.add_parser("unlink", help="forget a person's key")
    unlink.add_argument("slack_id")
    unlink.set_defaults(handler=_users_unlink)

    rotate = verbs.add_parser("rotate-keys", help="re-encrypt stored secrets with the newest key")
    rotate.set_defaults(handler=_users_rotate)


def _runtime() -> Runtime:
    """Imported when a command runs, not when the CLI starts: `--help` stays quick."""
    from app.ops.runtime import admin_runtime

    return admin_runtime()


def _read_secret() -> str:
    """The client secret comes from stdin only: argv is visible to every user of the machine."""
    if sys.stdin.isatty():
        import getpass

        secret = getpass.getpass("MySafe client secret: ")
    else:
        secret = sys.stdin.readline()
    secret = secret.strip()
    if not secret:
        raise ConfigError("stdin", "expected the MySafe client secret on standard input")
    return secret


def _users_link(args: argparse.Namespace) -> int:
    from app.accounts.linked_keys import link_verified

    secret = _read_secret()
    runtime = _runtime()
    services = runtime.services
    try:
        account = link_verified(
            services.vault,
            services.mysafe,
            args.slack_id,
            client_id=args.client_id,
            client_secret=secret,
            mysafe_username=args.mysafe_username,
            confirmed=True,
        )
        runtime.engine.audit.record(
            "account.linked",
            actor="cli",
            slack_id=args.slack_id,
            mysafe_username=account.mysafe_username,
            client_id=account.client_id,
        )
    finally:
        runtime.close()
    print(
        f"linked {account.slack_id} to MySafe user {account.mysafe_username} "
        f"(client ID {account.client_id}); the key was verified with MySafe"
    )
    return 0


def _users_map(args: argparse.Namespace) -> int:
    runtime = _runtime()
    try:
        runtime.services.vault.map_mention(args.slack_id, args.mysafe_username)
    finally:
        runtime.close()
    print(f"mentions of {args.slack_id} now mean MySafe user {args.mysafe_username}")
    return 0


def _users_list(args: argparse.Namespace) -> int:
    runtime = _runtime()
    try:
        accounts = runtime.services.vault.accounts()
        mentions = runtime.services.vault.mentions()
    finally:
        runtime.close()
    # Names and client IDs were typed by people: printed escaped, as `audit` prints, so one
    # stored before usernames were checked cannot hide its marker or rewrite a line.
    print(f"{'SLACK ID':<14} {'MYSAFE USER':<24} {'CLIENT ID':<32} LINKED")
    for account in accounts:
        name = for_terminal(account.mysafe_username)
        if not (account.confirmed or account.slack_id in mentions):
            name += "?"  # claimed at login: `users map` confirms it
        client_id = for_terminal(account.client_id)
        print(f"{for_terminal(account.slack_id):<14} {name:<24} {client_id:<32} {account.linked_at}")
    for slack_id, username in sorted(mentions.items()):
        print(f"{for_terminal(slack_id):<14} {for_terminal(username):<24} {'(mention only)':<32}")
    if any(not a.confirmed and a.slack_id not in mentions for a in accounts):
        print(
            "? = a name claimed at /mysafe login, unconfirmed: confirm it with "
            "`mysafe-bot users map SLACK_ID NAME`"
        )
    return 0


def _users_unlink(args: argparse.Namespace) -> int:
    from app.accounts.linked_keys import unlink_person

    runtime = _runtime()
    try:
        removed = unlink_person(runtime.services.vault, args.slack_id)
        if removed:
            runtime.engine.audit.record("account.unlinked", actor="cli", slack_id=args.slack_id)
    finally:
        runtime.close()
    print(f"unlinked {args.slack_id}" if removed else f"{args.slack_id} had no linked key")
    return 0 if removed else 1


def _users_rotate(args: argparse.Namespace) -> int:
    from app.jobs.queue import JobQueue

    runtime = _runtime()
    services = runtime.services
    try:
        accounts = services.vault.rotate_keys()
        tokens = services.mysafe.tokens.rotate(services.vault.linked_ids())
        pending = runtime.engine.store.rotate_secrets(services.keyring)
        jobs = JobQueue(services.redis, services.keyring, prefix=runtime.settings.key_prefix).reseal()
    finally:
        runtime.close()
    print(
        f"re-encrypted {accounts} client secret(s), {tokens} cached token(s), the secret "
        f"values of {pending} pending request(s) and {jobs} job(s) waiting to run with the "
        "newest key"
    )
    return 0

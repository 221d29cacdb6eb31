"""Who reviews what in an access review: at a campaign's start, every user and group on every
entry some linked person can edit (or created through the bot), with those people as its
reviewers, listed with each person's own key; and which of a line's reviewers may decide it
(never the grantee themselves). A person whose key no longer works reviews nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.accounts.linked_keys import Vault
from app.approvals.grants import rights
from app.approvals.review_creators import Creators
from app.approvals.review_records import Line
from app.foundations.errors import BotError, ConfigError, CredentialsMissing, CredentialsRejected
from app.mysafe.client import UserClient
from app.mysafe.models import Kind

log = logging.getLogger(__name__)


def key_gone(error: BotError) -> str:
    """Why `error` says a person's MySafe key no longer works ("": it says something else,
    e.g. MySafe is down): MySafe refused it (401/403), it was unlinked, or no configured
    encryption key decrypts it."""
    if isinstance(error, CredentialsRejected):
        return "key_rejected"
    if isinstance(error, CredentialsMissing):
        return "key_unlinked"
    if isinstance(error, ConfigError):
        return "key_unreadable"
    return ""


@dataclass(frozen=True)
class Plan:
    """A campaign's lines, and the linked people whose key no longer works (-> why)."""

    lines: list[Line]
    gone: dict[str, str]


def survey(
    vault: Vault,
    client_for: Callable[[str], UserClient],
    creators: Creators,
    *,
    tags: Sequence[str],
    kinds: Sequence[Kind],
) -> Plan:
    """The lines, and the people whose key no longer works: they review nothing here, and
    are escalated (the bot cannot list what their key would show)."""
    wanted = {t.casefold() for t in tags}
    reviewers: dict[tuple[Kind, int], list[str]] = {}
    gone: dict[str, str] = {}
    for account in sorted(vault.accounts(), key=lambda a: a.slack_id):
        try:
            client = client_for(account.slack_id)
            for kind in kinds:
                items = [i for i in client.list_entries(kind) if i.active and _tagged(i.tags, wanted)]
                made = creators.of(kind, [i.identifier for i in items])
                for item in items:
                    if item.can_write or made.get(item.identifier) == account.slack_id:
                        reviewers.setdefault((kind, item.identifier), []).append(account.slack_id)
        except BotError as error:  # a key that no longer works reviews nothing
            if why := key_gone(error):
                gone[account.slack_id] = why
            log.warning(
                "reviewer skipped",
                extra={
                    "event": "review.reviewer_skipped",
                    "user": account.slack_id,
                    "error": type(error).__name__,
                },
            )
    lines = []
    for (kind, identifier), people in sorted(reviewers.items(), key=lambda i: (i[0][0].value, i[0][1])):
        entry = client_for(people[0]).read(kind, identifier)
        for (field, _folded), (name, right) in sorted(rights(entry).items()):
            lines.append(Line(kind, identifier, entry.name, field, name, right, tuple(people)))
    return Plan(lines, gone)


def counted(vault: Vault, lines: Sequence[Line]) -> dict[str, list[str]]:
    """For each line, the reviewers who may decide it (not the grantee themselves)."""
    names: dict[str, str] = {}
    found = {}
    for line in lines:
        for reviewer in line.reviewers:
            if reviewer not in names:
                names[reviewer] = (vault.mysafe_username(reviewer) or "").casefold()
        found[line.id] = [r for r in line.reviewers if not same(line, names[r])]
    return found


def same(line: Line, username: str) -> bool:
    """Whether `line` is about the MySafe user `username` (their own access)."""
    return bool(username) and not line.is_group and line.name.casefold() == username.casefold()


def _tagged(tags: str, wanted: set[str]) -> bool:
    if not wanted:
        return True
    have = {t.strip().casefold() for t in tags.replace(";", ",").split(",")}
    return bool(have & wanted)

"""Proof of revoke: what the entry, read back after a share's end, shows that the end did not
leave — pure functions, no I/O.

An end writes once and checks that write (`TakeBack.still_there`), but it leaves alone what was
changed outside the bot meanwhile (`app.approvals.ledger`): someone who gave the grantee the
access again by hand in MySafe keeps it. That is right for the entry and wrong to keep quiet,
so the worker reads the entry back after every end and reports each principal of the share
who now has more than they had before it and than the bot's other running shares give them.
"""

from __future__ import annotations

from app.approvals.change_diff import NO_ACCESS
from app.approvals.grants import RANK, Grant, Granted, highest, rights
from app.approvals.ledger import Ledger
from app.mysafe.models import Entry


def drift(request_id: str, grant: Grant, entry: Entry, ledger: Ledger) -> tuple[str, ...]:
    """Each principal of `grant` that `entry` shows above what this share's end should leave
    them: the right they had before the share, raised only by the bot's time-bound shares still
    running (those end, and are proven, on their own). Empty: the revoke is verified."""
    now = rights(entry)
    found = []
    for item in grant.items:
        right = now.get(item.key, (item.name, NO_ACCESS))[1]
        allowed = highest(item.before, *_running(request_id, item, ledger))
        if RANK[right] > RANK[allowed]:
            found.append(_said(item, right))
    return tuple(found)


def _running(request_id: str, item: Granted, ledger: Ledger) -> tuple[str, ...]:
    record = ledger.records.get(item.key)
    return tuple(record.without(request_id).shares.values()) if record else ()


def _said(item: Granted, right: str) -> str:
    who = f"group {item.name}" if item.is_group else item.name
    had = item.before or "no access"
    return f"{who} still has {right} (had {had} before the share; given outside it)"


def rotation_proven(*, after: str, sent: str) -> bool:
    """A rotate-after landed: the password MySafe holds now is the one sent (a fresh random one,
    so it differs from the old; `old_compared` says how the one read before the write did).
    Both are SHA-256 digests (`app.mysafe.client.digest`), never the values."""
    return bool(sent) and after == sent


def old_compared(before: str, sent: str) -> str:
    """How the password read just before the write compares with the new one, for the audit
    record (words, never a digest)."""
    if not before:
        return "not read: the write had landed before this attempt"
    if before == sent:
        return "already the new one: an earlier attempt's write had landed"
    return "differs from the new one"

"""What a time-bound share added, and how to take exactly that back — pure functions, no I/O.

At apply the engine reads the entry, then writes the merged lists; `granted` compares the two
and keeps only what the request itself gave: a user or group that had no access, or a right it
raised (view → edit). Everyone who already had at least that right is not the request's to
take back, and is never listed.

At the end, `take_back` is computed against the entry as it is *then*: a grant is undone only
where the entry still shows exactly what the request left (alice still has edit). Whatever
changed meanwhile — alice removed by hand, lowered to view, or raised by someone else after
being added with view — is someone else's decision and stays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.approvals.changes import (
    EDIT,
    GROUPS,
    NO_ACCESS,
    USERS,
    VIEW,
    Change,
    merge_groups,
    merge_users,
)
from app.mysafe.models import Entry, GroupShare, UserShare


@dataclass(frozen=True)
class Granted:
    """One principal the request gave access to: `field` is users_allowed or groups_allowed,
    `before` its right before the write ("" none, "view"), `after` the right it was given."""

    field: str
    name: str
    before: str
    after: str

    def to_json(self) -> list[str]:
        return [self.field, self.name, self.before, self.after]

    @property
    def is_group(self) -> bool:
        return self.field == GROUPS

    def describe(self) -> str:
        who = f"group {self.name}" if self.is_group else self.name
        return f"{who} ({self.after})" if not self.before else f"{who} ({self.before} → {self.after})"


@dataclass(frozen=True)
class Grant:
    items: tuple[Granted, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.items)

    def dumps(self) -> str:
        return json.dumps([g.to_json() for g in self.items])

    @classmethod
    def loads(cls, text: str | None) -> Grant:
        return cls(tuple(Granted(*item) for item in json.loads(text or "[]")))


def _right(can_edit: bool) -> str:
    return EDIT if can_edit else VIEW


def _rights(entry: Entry | None) -> dict[tuple[str, str], tuple[str, str]]:
    """(field, casefolded name) -> (name as MySafe spells it, right)."""
    if entry is None:
        return {}
    found = {
        (USERS, u.username.casefold()): (u.username, _right(u.can_edit)) for u in entry.users_allowed
    }
    found.update(
        {(GROUPS, g.name.casefold()): (g.name, _right(g.can_edit)) for g in entry.groups_allowed}
    )
    return found


def granted(change: Change, before: Entry) -> Grant:
    """What writing `change` over `before` adds: the merge's result, minus what was there."""
    had = _rights(before)
    after: list[tuple[str, str, bool]] = [
        *((USERS, u.username, u.can_edit) for u in merge_users(before.users_allowed, change.add_users)),
        *((GROUPS, g.name, g.can_edit) for g in merge_groups(before.groups_allowed, change.add_groups)),
    ]
    items = []
    for field, name, can_edit in after:
        old = had.get((field, name.casefold()))
        old_right = old[1] if old else NO_ACCESS
        if old_right != _right(can_edit):
            items.append(Granted(field, name, old_right, _right(can_edit)))
    return Grant(tuple(items))


def merged(earlier: Grant, later: Grant) -> Grant:
    """An extension's grant: what the share it extends added (its `before` is the truth about
    the time before both), then what the extension itself added beyond that."""
    seen = {(g.field, g.name.casefold()) for g in earlier.items}
    return Grant(
        (*earlier.items, *(g for g in later.items if (g.field, g.name.casefold()) not in seen))
    )


@dataclass(frozen=True)
class TakeBack:
    """The end of a grant against the entry as it is now: the body to write (None: nothing
    to write) and, for people, what was removed or lowered and what was left and why."""

    body: Mapping[str, Any] | None
    undone: tuple[Granted, ...]
    kept: tuple[tuple[Granted, str], ...]

    def still_there(self, entry: Entry) -> list[str]:
        """What of `undone` the entry still shows (verification after the write)."""
        now = _rights(entry)
        problems = []
        for item in self.undone:
            current = now.get((item.field, item.name.casefold()))
            right = current[1] if current else NO_ACCESS
            if right != item.before:
                problems.append(f"{item.describe()} is still {right or 'without access'}")
        return problems


def take_back(grant: Grant, entry: Entry) -> TakeBack:
    """Undo each granted right the entry still shows as the request left it; keep the rest."""
    now = _rights(entry)
    undone: list[Granted] = []
    kept: list[tuple[Granted, str]] = []
    for item in grant.items:
        current = now.get((item.field, item.name.casefold()))
        if current is None:
            kept.append((item, "already removed"))
        elif current[1] != item.after:
            kept.append((item, f"changed meanwhile to {current[1]}"))
        else:
            undone.append(item)
    if not undone:
        return TakeBack(None, (), tuple(kept))
    return TakeBack(_body(entry, undone), tuple(undone), tuple(kept))


def _body(entry: Entry, undone: Sequence[Granted]) -> dict[str, Any]:
    """Whole lists (MySafe's update replaces them), each principal as it is now except those
    undone: removed when they had no access before, lowered to view otherwise."""
    wanted = {(g.field, g.name.casefold()): g.before for g in undone}
    body: dict[str, Any] = {}
    if any(g.field == USERS for g in undone):
        users = [
            _lowered(UserShare(u.username, u.can_edit), wanted.get((USERS, u.username.casefold())))
            for u in entry.users_allowed
        ]
        body[USERS] = [u.body() for u in users if u is not None]
    if any(g.field == GROUPS for g in undone):
        groups = [
            _lowered(GroupShare(g.name, g.can_edit), wanted.get((GROUPS, g.name.casefold())))
            for g in entry.groups_allowed
        ]
        body[GROUPS] = [g.body() for g in groups if g is not None]
    return body


def _lowered(share: Any, before: str | None) -> Any:
    if before is None:
        return share
    if before == NO_ACCESS:
        return None
    return type(share)(share.username if isinstance(share, UserShare) else share.name, before == EDIT)

"""What a time-bound share holds and what its end writes — pure functions, no I/O.

At apply the engine reads the entry, then writes the merged lists; `granted` names every
principal the share holds from then on, with the right it gives and the right they had. Who
keeps what at the end is decided by `app.approvals.ledger`; `TakeBack` is that decision as the
owner's one write (whole lists: MySafe's update replaces them) and as people read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from app.approvals.change_diff import EDIT, GROUPS, NO_ACCESS, USERS, VIEW
from app.approvals.changes import Change
from app.mysafe.models import Entry, GroupShare, UserShare

#: Rights in order: a share never lowers one (MySafe's merge keeps edit), an end never raises.
RANK = {NO_ACCESS: 0, VIEW: 1, EDIT: 2}
#: (users_allowed | groups_allowed, casefolded name): how MySafe tells principals apart.
Key = tuple[str, str]


def highest(*found: str) -> str:
    return max(found, key=RANK.__getitem__, default=NO_ACCESS)


@dataclass(frozen=True)
class Granted:
    """One principal a request names: `field` is users_allowed or groups_allowed, `before` the
    right they had ("" none, "view"), `after` the right the request gives (or takes them to)."""

    field: str
    name: str
    before: str
    after: str

    def to_json(self) -> list[str]:
        return [self.field, self.name, self.before, self.after]

    @property
    def key(self) -> Key:
        return (self.field, self.name.casefold())

    @property
    def is_group(self) -> bool:
        return self.field == GROUPS

    def describe(self, *, who: str | None = None) -> str:
        """`bobm (view)`, `group Ops (view → edit)`; `who` names the person otherwise (a Slack
        mention, "you") where the reader knows them so."""
        who = who or (f"group {self.name}" if self.is_group else self.name)
        return f"{who} ({self.rights})"

    @property
    def rights(self) -> str:
        """The right given, or the raise (`view → edit`) when they had less before."""
        if self.before == NO_ACCESS or RANK[self.before] >= RANK[self.after]:
            return self.after
        return f"{self.before} → {self.after}"


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


def rights(entry: Entry | None) -> dict[Key, tuple[str, str]]:
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


def named(change: Change) -> dict[Key, Granted]:
    """Each principal a share or unshare names, once, with the right it asks (the higher one
    when named twice, as the merge gives it); `before` is left for the entry to say."""
    found: dict[Key, Granted] = {}
    asked = [
        *((USERS, u.username, _right(u.can_edit)) for u in change.add_users),
        *((GROUPS, g.name, _right(g.can_edit)) for g in change.add_groups),
        *((USERS, name, NO_ACCESS) for name in change.remove_users),
        *((GROUPS, name, NO_ACCESS) for name in change.remove_groups),
    ]
    for where, name, right in asked:
        item = Granted(where, name, NO_ACCESS, right)
        earlier = found.get(item.key)
        found[item.key] = (
            item if earlier is None else replace(earlier, after=highest(earlier.after, right))
        )
    return found


def granted(change: Change, before: Entry) -> Grant:
    """What a time-bound share holds once written over `before`: every principal it names, with
    the right it gives them and the right they had. Those who had it already are held too: if
    what gave it ends first, this share keeps it until its own end."""
    now = rights(before)
    items = []
    for key, item in named(change).items():
        name, right = now.get(key, (item.name, NO_ACCESS))
        items.append(replace(item, name=name, before=right))
    return Grant(tuple(items))


def merged(earlier: Grant, later: Grant) -> Grant:
    """An extension's grant: what the share it extends held (its `before` is the truth about
    the time before both), then what the extension itself holds beyond that."""
    seen = {g.key for g in earlier.items}
    return Grant((*earlier.items, *(g for g in later.items if g.key not in seen)))


# --- the end's write --------------------------------------------------------------------------


@dataclass(frozen=True)
class TakeBack:
    """The end of a grant against the entry as it is now: the body to write (None: nothing
    to write) and, for people, what was removed or lowered and what was left and why."""

    body: Mapping[str, Any] | None
    undone: tuple[Granted, ...]
    kept: tuple[tuple[Granted, str], ...]

    def still_there(self, entry: Entry) -> list[str]:
        """What of `undone` the entry still shows (verification after the write)."""
        now = rights(entry)
        problems = []
        for item in self.undone:
            current = now.get(item.key)
            right = current[1] if current else NO_ACCESS
            if right != item.before:
                problems.append(f"{item.describe()} is still {right or 'without access'}")
        return problems


def body_without(entry: Entry, undone: Sequence[Granted]) -> dict[str, Any]:
    """Whole lists (MySafe's update replaces them), each principal as it is now except those
    undone: removed when they are left without access, lowered to view otherwise."""
    wanted = {g.key: g.before for g in undone}
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

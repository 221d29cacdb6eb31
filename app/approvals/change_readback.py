"""Is the change there? What of a change the entry read back does not show, per verb: the
`unmet` of a verb's `ChangeSpec`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.approvals.change_intent import Change
from app.mysafe.models import Entry


def cannot_tell(change: Change, entry: Entry, said: str) -> list[str] | None:
    return None


def update_unmet(change: Change, entry: Entry, said: str) -> list[str] | None:
    now = entry.plain_fields()
    return [
        f"{name} is {now.get(name, '')!r}, not {value!r}"
        for name, value in change.fields.items()
        if _plain(now.get(name, "")) != _plain(value)
    ]


def share_unmet(change: Change, entry: Entry, said: str) -> list[str] | None:
    users = {u.username.casefold(): u for u in entry.users_allowed}
    groups = {g.name.casefold(): g for g in entry.groups_allowed}
    return [
        *_missing(
            [u for u in change.add_users if u.username.casefold() not in said],
            users,
            lambda u: u.username,
            "user",
        ),
        *_missing(
            [g for g in change.add_groups if g.name.casefold() not in said],
            groups,
            lambda g: g.name,
            "group",
        ),
    ]


def unshare_unmet(change: Change, entry: Entry, said: str) -> list[str] | None:
    users = {u.username.casefold() for u in entry.users_allowed}
    groups = {g.name.casefold() for g in entry.groups_allowed}
    return [
        *(f"user {name} still has access" for name in change.remove_users if name.casefold() in users),
        *(
            f"group {name} still has access"
            for name in change.remove_groups
            if name.casefold() in groups
        ),
    ]


def reduce_unmet(change: Change, entry: Entry, said: str) -> list[str] | None:
    users = {u.username.casefold() for u in entry.users_allowed if u.can_edit}
    groups = {g.name.casefold() for g in entry.groups_allowed if g.can_edit}
    return [
        *(
            f"user {u.username} can still edit"
            for u in change.add_users
            if u.username.casefold() in users
        ),
        *(f"group {g.name} can still edit" for g in change.add_groups if g.name.casefold() in groups),
    ]


def _missing(wanted: Iterable[Any], present: Mapping[str, Any], name: Any, label: str) -> list[str]:
    problems = []
    for share in wanted:
        had = present.get(name(share).casefold())
        if had is None:
            problems.append(f"{label} {name(share)} has no access")
        elif share.can_edit and not had.can_edit:
            problems.append(f"{label} {name(share)} has view, not edit")
    return problems


def _plain(value: object) -> str:
    return " ".join(str(value or "").split())


def disable_unmet(change: Change, entry: Entry, said: str) -> list[str] | None:
    return [] if not entry.active else [f"{entry.kind.label} {entry.identifier} is still enabled"]


def enable_unmet(change: Change, entry: Entry, said: str) -> list[str] | None:
    return [] if entry.active else [f"{entry.kind.label} {entry.identifier} is still disabled"]

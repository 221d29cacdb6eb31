"""The MySafe body of each verb, merged at apply time into the entry as it is then (MySafe's
update replaces whole sharing lists, so a share made in MySafe meanwhile is kept): the `body`
of a verb's `ChangeSpec`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.approvals.change_intent import Change
from app.mysafe.models import Entry, GroupShare, UserShare


def share_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    return _sharing_body(change, current, add=True)


def unshare_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    return _sharing_body(change, current, add=False)


def reduce_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    """Whole lists (MySafe's update replaces them), the named principals lowered to view."""
    assert current is not None
    users = {u.username.casefold() for u in change.add_users}
    groups = {g.name.casefold() for g in change.add_groups}
    body: dict[str, Any] = {}
    if users:
        body["users_allowed"] = [
            UserShare(u.username, u.can_edit and u.username.casefold() not in users).body()
            for u in current.users_allowed
        ]
    if groups:
        body["groups_allowed"] = [
            GroupShare(g.name, g.can_edit and g.name.casefold() not in groups).body()
            for g in current.groups_allowed
        ]
    return body


def update_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    return dict(change.fields)


def rotate_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    return dict(secrets)


def create_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {**change.fields, **secrets}
    if change.add_users:
        body["users_allowed"] = [u.body() for u in change.add_users]
    if change.add_groups:
        body["groups_allowed"] = [g.body() for g in change.add_groups]
    return body


def _sharing_body(change: Change, current: Entry | None, *, add: bool) -> dict[str, Any]:
    assert current is not None
    body: dict[str, Any] = {}
    if change.add_users or change.remove_users:
        users = (
            merge_users(current.users_allowed, change.add_users)
            if add
            else remove(current.users_allowed, change.remove_users, key=lambda u: u.username)
        )
        body["users_allowed"] = [u.body() for u in users]
    if change.add_groups or change.remove_groups:
        groups = (
            merge_groups(current.groups_allowed, change.add_groups)
            if add
            else remove(current.groups_allowed, change.remove_groups, key=lambda g: g.name)
        )
        body["groups_allowed"] = [g.body() for g in groups]
    return body


def merge_users(current: Iterable[UserShare], added: Iterable[UserShare]) -> list[UserShare]:
    """Add people; someone already there keeps edit rights they had (a share never demotes)."""
    merged = {u.username.casefold(): u for u in current}
    for user in added:
        had = merged.get(user.username.casefold())
        merged[user.username.casefold()] = UserShare(
            had.username if had else user.username, user.can_edit or bool(had and had.can_edit)
        )
    return list(merged.values())


def merge_groups(current: Iterable[GroupShare], added: Iterable[GroupShare]) -> list[GroupShare]:
    merged = {g.name.casefold(): g for g in current}
    for group in added:
        had = merged.get(group.name.casefold())
        merged[group.name.casefold()] = GroupShare(
            had.name if had else group.name, group.can_edit or bool(had and had.can_edit)
        )
    return list(merged.values())


def remove(current: Iterable[Any], names: Iterable[str], *, key: Any) -> list[Any]:
    gone = {n.casefold() for n in names}
    return [item for item in current if key(item).casefold() not in gone]


def no_body(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> dict[str, Any]:
    """MySafe's inactive and active calls take no body: the path says it all."""
    return {}

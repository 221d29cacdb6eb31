"""The lines people approve: what a request changes, one `DiffLine` per field or per person
and group, and the `diff` of each verb's `ChangeSpec`. Secret fields only say "changed"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.approvals.change_intent import Change
from app.approvals.secret_fields import SECRET_FIELDS_OF
from app.mysafe.models import Entry

USERS, GROUPS = "users_allowed", "groups_allowed"
NO_ACCESS, VIEW, EDIT = "", "view", "edit"


@dataclass(frozen=True)
class DiffLine:
    """One thing a request changes, as people read it.

    A field line: `field` goes from `before` to `after` (secret fields only say "(changed)").
    A sharing line has a `principal`: the user (`field` is `users_allowed`) or group
    (`groups_allowed`) of that name goes from right `before` to `after`, each "" (no access),
    "view" or "edit". Only what changes is listed, never whole sharing lists, so an approver
    sees a new grantee however many people the entry is shared with. Requests stored before
    sharing lines existed hold whole lists in a line with no principal; they still load.
    """

    field: str
    before: str
    after: str
    principal: str = ""

    def to_json(self) -> list[str]:
        line = [self.field, self.before, self.after]
        return [*line, self.principal] if self.principal else line

    @property
    def is_group(self) -> bool:
        return self.field == GROUPS

    @property
    def action(self) -> str:
        """add | raise | lower | remove | keep (already so) | absent (nothing to remove) |
        set (field)."""
        if not self.principal:
            return "set"
        if self.before == self.after:
            return "keep" if self.after else "absent"
        if not self.before:
            return "add"
        if self.before == EDIT and self.after == VIEW:
            return "lower"
        return "remove" if not self.after else "raise"


#: Sharing lines in the order people should read them: what grants access first.
_ACTION_ORDER = {"add": 0, "raise": 1, "lower": 2, "remove": 3, "keep": 4, "absent": 5, "set": 6}


def create_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    lines = [DiffLine(k, "", v) for k, v in change.fields.items()]
    lines += [DiffLine(k, "", "(set)") for k in secrets]
    return lines + _sharing_lines(change, None)


def rotate_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    return [DiffLine(k, "(hidden)", "(changed)") for k in SECRET_FIELDS_OF[change.kind] if k in secrets]


def update_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    assert current is not None  # an update names its entry
    before = current.plain_fields()
    return [DiffLine(k, before.get(k, ""), v) for k, v in change.fields.items()]


def sharing_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    return _sharing_lines(change, current)


def reduce_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    """One line per principal named: edit → view, or what they have (nothing to reduce)."""
    now = {
        (USERS, u.username.casefold()): (u.username, _right(u.can_edit))
        for u in (current.users_allowed if current else ())
    }
    now.update(
        {
            (GROUPS, g.name.casefold()): (g.name, _right(g.can_edit))
            for g in (current.groups_allowed if current else ())
        }
    )
    named = [(USERS, u.username) for u in change.add_users]
    named += [(GROUPS, g.name) for g in change.add_groups]
    lines = []
    for field_name, name in named:
        shown, right = now.get((field_name, name.casefold()), (name, NO_ACCESS))
        lines.append(DiffLine(field_name, right, VIEW if right == EDIT else right, shown))
    return lines


def _sharing_lines(change: Change, current: Entry | None) -> list[DiffLine]:
    """One line per user or group named, with their right now and after the change."""
    users = {
        u.username.casefold(): (u.username, u.can_edit)
        for u in (current.users_allowed if current else ())
    }
    groups = {
        g.name.casefold(): (g.name, g.can_edit) for g in (current.groups_allowed if current else ())
    }
    lines = [_added(USERS, users, u.username, u.can_edit) for u in change.add_users]
    lines += [_added(GROUPS, groups, g.name, g.can_edit) for g in change.add_groups]
    lines += [_removed(USERS, users, name) for name in change.remove_users]
    lines += [_removed(GROUPS, groups, name) for name in change.remove_groups]
    return sorted(_distinct(lines), key=lambda line: _ACTION_ORDER[line.action])


def _right(can_edit: bool) -> str:
    return EDIT if can_edit else VIEW


def _added(
    field_name: str, current: Mapping[str, tuple[str, bool]], name: str, can_edit: bool
) -> DiffLine:
    """As `merge_users` applies it: someone already there keeps edit rights they had."""
    had = current.get(name.casefold())
    before = _right(had[1]) if had else NO_ACCESS
    after = _right(can_edit or bool(had and had[1]))
    return DiffLine(field_name, before, after, had[0] if had else name)


def _removed(field_name: str, current: Mapping[str, tuple[str, bool]], name: str) -> DiffLine:
    had = current.get(name.casefold())
    return DiffLine(
        field_name, _right(had[1]) if had else NO_ACCESS, NO_ACCESS, had[0] if had else name
    )


def _distinct(lines: Iterable[DiffLine]) -> list[DiffLine]:
    """One line per principal: a name given twice grants the higher right, as the merge does."""
    found: dict[tuple[str, str], DiffLine] = {}
    for line in lines:
        key = (line.field, line.principal.casefold())
        earlier = found.get(key)
        if earlier is None or (line.after == EDIT and earlier.after != EDIT):
            found[key] = line
    return list(found.values())


ENABLED, DISABLED = "enabled", "disabled"


def _state(entry: Entry) -> str:
    return ENABLED if entry.active else DISABLED


def disable_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    return [DiffLine("state", _state(current) if current else ENABLED, DISABLED)]


def enable_diff(change: Change, current: Entry | None, secrets: Mapping[str, str]) -> list[DiffLine]:
    return [DiffLine("state", _state(current) if current else DISABLED, ENABLED)]

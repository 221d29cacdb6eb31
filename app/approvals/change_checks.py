"""What each verb requires of a change beyond what every verb does, and what the entry as it
is now refuses at submission: the `check` and `against` of a verb's `ChangeSpec`."""

from __future__ import annotations

from collections.abc import Mapping

from app.approvals.change_intent import Change
from app.approvals.secret_fields import SECRET_FIELDS_OF
from app.foundations.errors import ValidationError
from app.i18n import _
from app.mysafe.models import Entry
from app.mysafe.schemas import SECRET_FIELDS, UPDATE_SCHEMAS, validate_body


def check_share(change: Change, secrets: Mapping[str, str], found: Mapping[str, str]) -> dict[str, str]:
    if not change.add_users and not change.add_groups:
        return {"with": _('say who to share with: @someone, user:NAME or group:"Name"')}
    return {}


def check_unshare(
    change: Change, secrets: Mapping[str, str], found: Mapping[str, str]
) -> dict[str, str]:
    if not change.remove_users and not change.remove_groups:
        return {"from": _('say who to unshare from: @someone, user:NAME or group:"Name"')}
    return {}


def check_reduce(
    change: Change, secrets: Mapping[str, str], found: Mapping[str, str]
) -> dict[str, str]:
    if not change.add_users and not change.add_groups:
        return {"who": _("say whose edit right to reduce to view")}
    if any(u.can_edit for u in change.add_users) or any(g.can_edit for g in change.add_groups):
        return {"who": _("a reduction leaves view, never edit")}
    return {}


def check_update(
    change: Change, secrets: Mapping[str, str], found: Mapping[str, str]
) -> dict[str, str]:
    problems: dict[str, str] = {}
    allowed = Entry.PLAIN_FIELDS[change.kind]
    unknown = sorted(set(change.fields) - set(allowed) - SECRET_FIELDS)
    if unknown:
        problems[unknown[0]] = _("not a field of a {kind}; use {fields}").format(
            kind=_(change.kind.label), fields=", ".join(allowed)
        )
    if not change.fields:
        problems["fields"] = _("say what to change: field=value")
    elif not problems and not found:
        problems.update(_value_problems(change))
    return problems


def check_rotate(
    change: Change, secrets: Mapping[str, str], found: Mapping[str, str]
) -> dict[str, str]:
    allowed_secrets = SECRET_FIELDS_OF[change.kind]
    if not secrets or set(secrets) - set(allowed_secrets):
        return {
            "secrets": _("a rotation sets {fields}").format(fields=_(" and/or ").join(allowed_secrets))
        }
    return {}


def check_nothing_more(
    change: Change, secrets: Mapping[str, str], found: Mapping[str, str]
) -> dict[str, str]:
    return {}


def _value_problems(change: Change) -> dict[str, str]:
    """The values themselves, checked as MySafe would, so a bad one is refused before it is
    stored rather than failing after an approver's click."""
    try:
        validate_body(UPDATE_SCHEMAS[change.kind], dict(change.fields))
    except ValidationError as error:
        return {
            field: "; ".join(m) if isinstance(m, list) else str(m) for field, m in error.errors.items()
        }
    return {}


def refuse_disabled(change: Change, current: Entry) -> dict[str, str]:
    """Refused at submission, so nobody approves (or is alarmed by) a change that does nothing."""
    if current.active:
        return {}
    return {
        "entry": _("{entry} is already disabled in MySafe").format(
            entry=f"{_(current.kind.label)} {current.identifier}"
        )
    }


def refuse_enabled(change: Change, current: Entry) -> dict[str, str]:
    if not current.active:
        return {}
    return {
        "entry": _("{entry} is not disabled in MySafe: there is nothing to enable").format(
            entry=f"{_(current.kind.label)} {current.identifier}"
        )
    }


def refuse_nothing(change: Change, current: Entry) -> dict[str, str]:
    return {}

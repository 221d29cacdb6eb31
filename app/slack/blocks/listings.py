"""Lists and entries: a page of entries or requests, one entry's fields, who holds an entry,
and an entry disabled through the bot."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from app import text
from app.approvals.change_request import ChangeRequest
from app.approvals.secret_fields import SECRET_FIELDS_OF
from app.foundations.field_labels import field_label
from app.i18n import _
from app.i18n.marks import PLURALS
from app.mysafe.models import Entry, Kind, ListItem
from app.slack.blocks.asks import entry_label
from app.slack.blocks.kit import (
    SECTION_LIMIT,
    SHOW_ACCESS,
    VIEW_BLOCKS,
    Block,
    _button,
    _context,
    _section,
    _sections,
)

# --- lists and entries ----------------------------------------------------------------------


def request_line(request: ChangeRequest) -> str:
    return _("*{id}* — {verb} {entry} · {state} · approvals {count}/{required}").format(
        id=request.id,
        verb=_(request.change.verb.value),
        entry=entry_label(request),
        state=_(request.state.value),
        count=len(request.approvals),
        required=request.required,
    )


#: Entries listed on one page of `/mysafe list`.
LIST_PAGE = 50
#: Search text that can be repeated inside the next page's command as typed.
_PLAIN_SEARCH = re.compile(r"[\w .@:/,-]{1,100}")


def entries_text(kind: Kind, items: Sequence[ListItem], search: str = "", *, page: int = 1) -> str:
    """One page of the entries, counted, with the command for the next page: a long list is
    never cut without saying how to see the rest."""
    if not items:
        if search:
            return _("You can see no {kinds} matching “{search}”.").format(
                kinds=_(PLURALS[kind.value]), search=text.inline(search)
            )
        return _("You can see no {kinds}.").format(kinds=_(PLURALS[kind.value]))
    pages = -(-len(items) // LIST_PAGE)
    page = min(page, pages)
    shown = items[(page - 1) * LIST_PAGE : page * LIST_PAGE]
    lines = [
        f"• `{kind.value} {i.identifier}` {text.clip(i.name, 255)}"
        + (f" — {text.clip(i.url, 200)}" if i.url else "")
        + _list_marks(i)
        for i in shown
    ]
    head = _("*{kinds} you can see*").format(kinds=_capital(_(PLURALS[kind.value])))
    if pages > 1:
        head += _(": {count}, page {page} of {pages}").format(count=len(items), page=page, pages=pages)
    more = []
    if page < pages and (not search or _PLAIN_SEARCH.fullmatch(search)):
        typed = f' "{search}"' if search else ""
        more = [
            _("Next: `{command}` (or narrow it with text)").format(
                command=f"/mysafe list {kind.value}s{typed} page {page + 1}"
            )
        ]
    elif page < pages:
        more = [_("Next: the same command with `page {page}` at the end").format(page=page + 1)]
    return "\n".join([head, *lines, *more])


def _list_marks(item: ListItem) -> str:
    """What a person must know before using an entry: disabled, or theirs only to view."""
    if not item.active:
        return _(" — *disabled* (`/mysafe enable` to ask for it back)")
    return "" if item.can_write else _(" _(view only)_")


#: What `show` prints of one field and of each sharing list: a message holds 40,000
#: characters, and MySafe allows 200 people and 200 groups of 128 characters each.
SHOWN_ENTRY_VALUE, SHOWN_SHARES = 1500, 6000


def _capital(label: str) -> str:
    """ "API secret" -> "API secret", "password" -> "Password" (`str.capitalize` says "Api")."""
    return label[:1].upper() + label[1:]


def entry_text(entry: Entry) -> str:
    if not entry.active:
        return disabled_text(entry.kind, entry.identifier)
    kind = _capital(_(entry.kind.label))
    fields = [f"*{kind} {entry.identifier}: {text.clip(entry.name, 255)}*"]
    for name, value in entry.plain_fields().items():
        if value and name != "name":
            fields.append(f"{_(field_label(name))}: {text.clip(value, SHOWN_ENTRY_VALUE)}")
    secrets = {
        "password": entry.has_password,
        "secret_key": entry.has_totp,
        "client_secret": entry.has_client_secret,
    }
    for name in SECRET_FIELDS_OF[entry.kind]:
        fields.append(f"{_(field_label(name))}: {'••••••••' if secrets[name] else _('(not set)')}")
    edit, view = _("edit"), _("view")
    users = ", ".join(
        f"{u.username} ({edit if u.can_edit else view})" for u in entry.users_allowed
    ) or _("nobody")
    groups = ", ".join(f"{g.name} ({edit if g.can_edit else view})" for g in entry.groups_allowed) or _(
        "none"
    )
    fields += [
        _("shared with: {users}").format(users=text.clip(users, SHOWN_SHARES)),
        _("groups: {groups}").format(groups=text.clip(groups, SHOWN_SHARES)),
    ]
    return "\n".join(fields)


#: Users and groups an `/mysafe access` answer shows; the rest are one click away.
SHOWN_HOLDERS = 20


def access_message(head: str, lines: Sequence[str], *, entry: str) -> tuple[str, list[Block]]:
    """Who has access, the first `SHOWN_HOLDERS` lines, and *Show all* (value `entry`,
    `password:312`) when there are more: the count of those left out is always said."""
    shown, more = lines[:SHOWN_HOLDERS], len(lines) - SHOWN_HOLDERS
    found = [_section(head), *_sections(shown)]
    fallback = [head, *shown]
    if more > 0:
        said = _("…and {count} more not shown here: *Show all* opens the full list.").format(count=more)
        found += [
            _context(said),
            {"type": "actions", "elements": [_button(_("Show all"), SHOW_ACCESS, entry)]},
        ]
        fallback.append(said)
    return "\n".join(fallback), found


def access_modal(head: str, lines: Sequence[str], *, command: str) -> Block:
    """Every line in one modal, as many as Slack's 100 blocks hold; any left out are counted
    and `command` (the CLI's) named, which lists them all."""
    found, packed = [_section(head)], 0
    for chunk, count in _packed(lines):
        if len(found) == VIEW_BLOCKS - 1:
            break
        found.append(_section(chunk))
        packed += count
    if packed < len(lines):
        found.append(
            _context(
                _("…and {count} more not shown: `{command}` lists all.").format(
                    count=len(lines) - packed, command=text.code(command)
                )
            )
        )
    return {
        "type": "modal",
        "callback_id": SHOW_ACCESS,
        "title": {"type": "plain_text", "text": _("Who has access")},
        "close": {"type": "plain_text", "text": _("Close")},
        "blocks": found,
    }


def _packed(lines: Iterable[str]) -> Iterator[tuple[str, int]]:
    """Lines packed as `_sections` packs them, with how many lines each chunk holds."""
    chunk, count = "", 0
    for line in lines:
        if count and text.units(chunk) + 1 + text.units(line) <= SECTION_LIMIT:
            chunk, count = f"{chunk}\n{line}", count + 1
            continue
        if count:
            yield chunk, count
        chunk, count = line, 1
    if count:
        yield chunk, count


def disabled_text(kind: Kind, identifier: int) -> str:
    """A disabled entry: MySafe shows nothing of it but that, so neither does the bot."""
    return _(
        "*{entry}* is *disabled* in MySafe: nobody can read, use or change it until it is "
        "enabled again (`{command}`, which an approver decides)."
    ).format(
        entry=f"{_capital(_(kind.label))} {identifier}",
        command=f"/mysafe enable {kind.value} {identifier}",
    )

"""`/mysafe update ENTRY field=value … [reason "…"]`: ask to change an entry's plain fields.

Only the fields in `Entry.PLAIN_FIELDS` can be typed here. A secret (`password=`, `token=`…)
is refused with a pointer to `rotate`, whose modal keeps it out of Slack's history; the
refusal names the field, never the value.
"""

from __future__ import annotations

from types import MappingProxyType

from app.approvals.changes import Change, Verb
from app.i18n import N_, _
from app.i18n.marks import PLURALS
from app.mysafe.models import Entry
from commands.context import Context
from commands.grammar import (
    SECRET_NAMES,
    Args,
    clipped,
    is_reason,
    keyword,
    read_reason,
    secret_name,
    secret_refusal,
    take_entry,
    unexpected,
)
from commands.lexer import CommandError
from commands.replies import Line, Submitted, line
from commands.tickets import is_ticket, read_ticket, reference
from commands.types import EntryRef, KeyValue, Token, Update, VerbSpec

SPEC = VerbSpec(
    name="update",
    usage='/mysafe update password|secret ID field=value… [reason "…"] [ticket KEY]',
    summary=N_(
        "ask to change an entry's plain fields (name, url, username, notes, tags…); "
        "secrets go through rotate"
    ),
    examples=(
        '/mysafe update password 312 notes="two words" tags=prod',
        '/mysafe update secret 7 url=https://api.example.com method=post reason "new endpoint"',
    ),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = Update


def parse(args: list[Token]) -> Update:
    rest = Args(args)
    entry = take_entry(rest)
    fields: dict[str, str] = {}
    reason = ticket = None
    while (token := rest.take()) is not None:
        if is_reason(token):
            reason = read_reason(rest, token, reason)
        elif is_ticket(token):
            ticket = read_ticket(rest, token, ticket)
        elif isinstance(token, KeyValue):
            _add_field(fields, token, entry)
            rest.hint = _quote_hint(token)
        else:
            raise _stray(token, entry, rest.hint)
    if not fields:
        raise CommandError(
            _("say what to change, as field=value: {fields}").format(fields=_allowed(entry))
        )
    return Update(entry, MappingProxyType(fields), reason or "", ticket or "")


def _add_field(fields: dict[str, str], token: KeyValue, entry: EntryRef) -> None:
    name = token.name
    if name in SECRET_NAMES:
        raise secret_refusal(name, entry)
    if name not in Entry.PLAIN_FIELDS[entry.kind]:
        raise CommandError(
            line(
                _('{kinds} have no field "{field}": use {fields}'),
                kinds=_(PLURALS[entry.kind.value]),
                field=clipped(token.key),
                fields=_allowed(entry),
            ),
            field="fields",
        )
    if name in fields:
        raise CommandError(
            _("{field} is given twice: give each field once").format(field=name), field=name
        )
    fields[name] = token.value


def _quote_hint(token: KeyValue) -> Line:
    """After an unquoted value, the next stray word most likely belongs to it."""
    if token.quoted:
        return ()
    return (_('if it belongs to {field}, quote the value: {field}="…"').format(field=token.name),)


def _stray(token: Token, entry: EntryRef, hint: Line) -> CommandError:
    """Refuse a token that is not field=value, reading `password hunter2` as a secret."""
    word = keyword(token) or ""
    secret = secret_name(token) or (word if word in SECRET_NAMES else None)
    if secret is not None:
        return secret_refusal(secret, entry)
    if word in Entry.PLAIN_FIELDS[entry.kind]:
        return CommandError(
            _('write {field}=VALUE (in quotes if it has spaces: {field}="…")').format(field=word),
            field=word,
        )
    return unexpected(token, hint)


def _allowed(entry: EntryRef) -> str:
    return ", ".join(Entry.PLAIN_FIELDS[entry.kind])


def run(ctx: Context, command: Update) -> Submitted:
    change = Change(
        Verb.UPDATE, command.entry.kind, command.entry.identifier, fields=dict(command.fields)
    )
    request = ctx.engine.submit(
        change,
        requester=ctx.user_id,
        reason=command.reason,
        ticket=reference(command.ticket),
        idempotency_key=ctx.idempotency_key,
        source=ctx.source,
    )
    return Submitted(request)

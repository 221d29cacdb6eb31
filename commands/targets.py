"""Who an entry is shared with or unshared from: `@mention`, `user:NAME`, `group:"Name"`.

Targets may be separated by spaces, commas or `and`; a Slack channel or user group is refused
rather than guessed at, because sharing a credential with the wrong audience is the one
mistake this bot exists to prevent.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.approvals.changes import MIN_DURATION
from app.foundations.durations import PERIOD_FORM, describe, parse_period
from app.i18n import N_, _
from commands.grammar import (
    Args,
    check_name,
    clipped,
    is_reason,
    keyword,
    read_reason,
    unexpected,
)
from commands.lexer import CommandError
from commands.replies import Code, Line, line
from commands.tickets import is_ticket, read_ticket
from commands.types import (
    ChatChannel,
    ChatUser,
    ChatUserGroup,
    MySafeGroup,
    MySafeUser,
    Segment,
    Target,
    Token,
    Word,
)

MAX_TARGETS = 50
SEPARATORS = frozenset({"and", "&"})
EDIT_WORDS = frozenset({"edit", "can_edit", "can-edit"})
ROTATE_AFTER_WORDS = frozenset({"rotate-after", "rotate_after"})
BROADCASTS = frozenset({"@here", "@channel", "@everyone"})
HOW = N_('name people as @mention or user:NAME and groups as group:"Name"')


@dataclass(frozen=True)
class Audience:
    who: tuple[Target, ...]
    edit: bool = False
    reason: str = ""
    #: Seconds of a time-bound share (`for 8h`); 0 when none was given.
    duration: int = 0
    rotate_after: bool = False
    ticket: str = ""
    #: `emergency`: break-glass, where a policy rule allows it (app.approvals.break_glass).
    emergency: bool = False


def take_audience(args: Args, *, allow_edit: bool, allow_period: bool = False) -> Audience:
    """Read targets, `edit` and `for DURATION [rotate-after] [emergency]` (when allowed) and
    one reason, in any order, up to the end."""
    who: list[Target] = []
    edit, reason, duration, rotate_after, emergency = False, None, 0, False, False
    ticket: str | None = None
    while (token := args.take()) is not None:
        word = keyword(token)
        if isinstance(token, Word) and _has_bare_comma(token):
            args.put_back(_split_commas(token))
        elif word in SEPARATORS:
            continue
        elif allow_edit and word in EDIT_WORDS:
            edit = True
        elif allow_period and word == "for":
            duration = _read_period(args, duration)
        elif allow_period and word in ROTATE_AFTER_WORDS:
            rotate_after = True
        elif allow_period and word == "emergency":
            emergency = True
        elif is_reason(token):
            reason = read_reason(args, token, reason)
        elif is_ticket(token):
            ticket = read_ticket(args, token, ticket)
        else:
            _add(who, target(token, args.hint))
    if not who:
        raise CommandError(_("say who: {how}").format(how=_(HOW)))
    if rotate_after and not duration:
        raise CommandError(
            (_("rotate-after goes with a period, as in "), Code("for 8h rotate-after")),
            field="rotate-after",
        )
    if emergency and not duration:
        raise CommandError(
            (_("break-glass is always for a period, as in "), Code("for 1h emergency")),
            field="emergency",
        )
    return Audience(tuple(who), edit, reason or "", duration, rotate_after, ticket or "", emergency)


def _read_period(args: Args, previous: int) -> int:
    """The period after `for` (`8h`, `1d12h`); only one per command."""
    if previous:
        raise CommandError(
            (_("the period is given twice: give one, as in "), Code("for 8h")), field="for"
        )
    token = args.take()
    if not isinstance(token, Word) or not token.bare:
        raise CommandError(_("say how long after for: {form}").format(form=_(PERIOD_FORM)), field="for")
    try:
        seconds = parse_period(token.text)
    except ValueError:
        raise CommandError(
            line(
                _('"{word}" is not a period: write {form}'),
                word=clipped(token.text),
                form=_(PERIOD_FORM),
            ),
            field="for",
        ) from None
    if seconds < MIN_DURATION:
        raise CommandError(
            _("a share lasts at least {duration}").format(duration=describe(MIN_DURATION)), field="for"
        )
    return seconds


def _add(who: list[Target], new: Target) -> None:
    if new in who:
        return
    if len(who) >= MAX_TARGETS:
        raise CommandError(
            _(
                "too many people and groups: at most {most} in one request, "
                "so that the approval message can name every one"
            ).format(most=MAX_TARGETS)
        )
    who.append(new)


def target(token: Token, hint: Line = ()) -> Target:
    """One target from one token; anything else is refused with what to write instead."""
    if isinstance(token, ChatUser):
        return token
    if isinstance(token, ChatChannel):
        raise CommandError(
            _("a channel is not a person: instead of {word}, {how}").format(word=token.text, how=_(HOW))
        )
    if isinstance(token, ChatUserGroup):
        raise CommandError(
            _('a Slack user group is not a MySafe group: use group:"Name" instead of {word}').format(
                word=token.text
            )
        )
    if isinstance(token, Word):
        named = _named(token)
        if named is not None:
            return named
        if token.bare and token.text.startswith("@"):
            raise _not_a_mention(token.text)
    raise unexpected(token, hint)


def _named(word: Word) -> Target | None:
    """`user:NAME` or `group:NAME` (the prefix typed bare; the name may be quoted)."""
    first = word.parts[0]
    prefix, colon, rest = first.text.partition(":")
    if first.literal or not colon or prefix.lower() not in ("user", "group"):
        return None
    name = rest + "".join(part.text for part in word.parts[1:])
    if prefix.lower() == "user":
        return MySafeUser(check_name(name, what="user:", example="user:alice"))
    return MySafeGroup(check_name(name, what="group:", example='group:"Ops team"'))


def _not_a_mention(text: str) -> CommandError:
    if text.lower() in BROADCASTS:
        return CommandError(_("{word} is not a person: {how}").format(word=text, how=_(HOW)))
    return CommandError(
        line(
            _(
                '"{word}" is plain text, not a Slack mention: pick the person '
                "from Slack's suggestions, or write user:NAME"
            ),
            word=clipped(text),
        )
    )


def _has_bare_comma(word: Word) -> bool:
    return any("," in part.text for part in word.parts if not part.literal)


def _split_commas(word: Word) -> list[Word]:
    """Split a word at its unquoted commas: `@a,@b` and `group:"A, B",` read as people lists."""
    words: list[list[Segment]] = [[]]
    for part in word.parts:
        pieces = [part.text] if part.literal else part.text.split(",")
        for index, piece in enumerate(pieces):
            if index:
                words.append([])
            if piece or part.literal:
                words[-1].append(Segment(piece, part.literal))
    return [Word(tuple(parts)) for parts in words if parts]

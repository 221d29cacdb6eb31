"""Grammar pieces every verb shares: the token cursor, entry references, reasons and refusals.

Keywords (`with`, `edit`, `reason`, `password`…) are matched case-insensitively and only on bare
words, so a quoted `"edit"` is text, never the keyword. Refusals name the word that was wrong but
never a value typed after `=`: see `unexpected` and `secret_refusal`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence

from app.foundations.field_labels import field_label
from app.i18n import N_, _
from app.mysafe.models import Kind
from app.mysafe.schemas import SECRET_FIELDS
from commands.lexer import CommandError
from commands.replies import Code, Line, line
from commands.types import EntryRef, KeyValue, Token, Word

MAX_ID = 2**31 - 1
MAX_REASON = 500
MAX_NAME = 128
MAX_SHOWN = 40
REASON_HINT = N_('if it belongs to the reason, put the whole reason in quotes: reason "…"')

KIND_WORDS = {
    "password": Kind.PASSWORD,
    "passwords": Kind.PASSWORD,
    "secret": Kind.SECRET,
    "secrets": Kind.SECRET,
    "api-secret": Kind.SECRET,
    "api-secrets": Kind.SECRET,
}

#: Field names that carry secret values, with the spellings people reach for. Only names: a
#: value typed after one of them is refused before anything could repeat it.
SECRET_NAMES = SECRET_FIELDS | frozenset(
    {
        "pass",
        "passwd",
        "pwd",
        "secret",
        "totp",
        "totp_seed",
        "otp",
        "seed",
        "api_key",
        "apikey",
    }
)

_ENTRY_ID = re.compile(r"#?([0-9]{1,10})")
_LABELLED = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):")


class Args:
    """The tokens after the verb word, taken left to right.

    `hint` is advice a later refusal adds, e.g. to quote a reason of several words: the word
    that follows an unquoted reason is what the grammar trips on.
    """

    def __init__(self, tokens: Iterable[Token]) -> None:
        self._tokens = deque(tokens)
        self.hint: Line = ()

    def __bool__(self) -> bool:
        return bool(self._tokens)

    def peek(self) -> Token | None:
        return self._tokens[0] if self._tokens else None

    def take(self) -> Token | None:
        return self._tokens.popleft() if self._tokens else None

    def put_back(self, tokens: Sequence[Token]) -> None:
        """Return tokens to the front, in order (used to split `@a,@b` into two)."""
        self._tokens.extendleft(reversed(tokens))

    def end(self) -> None:
        """Refuse whatever is left: every verb names exactly what it accepts."""
        token = self.peek()
        if token is not None:
            raise unexpected(token, self.hint)


def keyword(token: Token | None) -> str | None:
    """The lower-cased word if `token` is a bare word (a candidate keyword), else None."""
    return token.text.lower() if isinstance(token, Word) and token.bare else None


def clipped(text: str) -> str:
    """A word as a refusal line quotes it: short enough for one line (the front makes it inert)."""
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "…"


def take_kind(args: Args) -> Kind:
    """`password` or `secret` (plural and `api-secret` too)."""
    token = args.take()
    if token is None:
        raise CommandError(_("say which kind of entry: password or secret"))
    kind = KIND_WORDS.get(keyword(token) or "")
    if kind is None:
        raise CommandError(
            line(_('"{word}" is not a kind of entry: say password or secret'), word=clipped(token.text))
        )
    return kind


def take_entry(args: Args) -> EntryRef:
    """`password 312`, `secret #7`: a kind and MySafe's numeric identifier."""
    kind = take_kind(args)
    token = args.take()
    example = f"{kind.value} 312"
    if token is None:
        raise CommandError(
            (_("which {kind}? add its ID, like ").format(kind=_(kind.label)), Code(example))
        )
    match = _ENTRY_ID.fullmatch(token.text) if isinstance(token, Word) else None
    if match is None:
        raise CommandError(
            (
                _('"{word}" is not an entry ID: IDs are numbers, like ').format(
                    word=clipped(token.text)
                ),
                Code(example),
            )
        )
    identifier = int(match.group(1))
    if not 1 <= identifier <= MAX_ID:
        raise CommandError(_("entry IDs are between 1 and {most}").format(most=MAX_ID))
    return EntryRef(kind, identifier)


def is_reason(token: Token) -> bool:
    return keyword(token) == "reason" or (isinstance(token, KeyValue) and token.name == "reason")


def read_reason(args: Args, token: Token, previous: str | None) -> str:
    """The reason given by `token` (`reason "…"` or `reason="…"`); only one per command."""
    if previous is not None:
        raise CommandError(_("the reason is given twice: give one reason"), field="reason")
    if isinstance(token, KeyValue):
        args.hint = () if token.quoted else (_(REASON_HINT),)
        return check_reason(token.value)
    value = args.take()
    if not isinstance(value, Word):
        raise CommandError(_('say why after reason, in quotes: reason "…"'), field="reason")
    args.hint = (_(REASON_HINT),) if value.bare else ()
    return check_reason(value.text)


def expect_keyword(args: Args, words: tuple[str, ...], example: str) -> None:
    """Take the keyword that joins an entry to the people (`with`, `from`)."""
    token = args.take()
    if keyword(token) in words:
        return
    if token is not None and (secret := secret_name(token)) is not None:
        raise secret_refusal(secret)
    raise CommandError(
        (_('write "{word}" after the entry, as in ').format(word=words[0]), Code(example))
    )


def check_reason(text: str) -> str:
    text = text.strip()
    if not text:
        raise CommandError(_('the reason is empty: reason "…"'), field="reason")
    if len(text) > MAX_REASON:
        raise CommandError(
            _("the reason is too long: at most {most} characters").format(most=MAX_REASON),
            field="reason",
        )
    return text


def check_name(text: str, *, what: str, example: str) -> str:
    """A MySafe user or group name: not blank, not longer than MySafe accepts."""
    text = text.strip()
    if not text:
        raise CommandError(_("{what} needs a name, like {example}").format(what=what, example=example))
    if len(text) > MAX_NAME:
        raise CommandError(
            _("{what} names are at most {most} characters").format(what=what, most=MAX_NAME)
        )
    return text


def secret_name(token: Token) -> str | None:
    """The field name if `token` gives a secret a value (`password=…`, `token:…`), else None."""
    if isinstance(token, KeyValue):
        return token.name if token.name in SECRET_NAMES else None
    if isinstance(token, Word) and not token.parts[0].literal:
        match = _LABELLED.match(token.parts[0].text)
        name = match.group(1).lower().replace("-", "_") if match else ""
        return name if name in SECRET_NAMES else None
    return None


def secret_refusal(name: str, entry: EntryRef | None = None) -> CommandError:
    """Refuse a secret typed in the command text, pointing to the modal that takes it. The
    field is named as people say it ("client secret"), never with the value typed after it."""
    if entry is None:
        where: Line = (
            Code("/mysafe rotate password|secret ID"),
            _(" for an existing entry, or "),
            Code("/mysafe create password|secret"),
            _(" for a new one"),
        )
    else:
        where = (
            Code(f"/mysafe rotate {entry}"),
            _(" to change it in a private form (or "),
            Code(f"/mysafe create {entry.kind.value}"),
            _(" for a new entry)"),
        )
    return CommandError(
        (
            _(
                "{field} is a secret and is never typed in a command, "
                "where it would stay in Slack's history: use "
            ).format(field=_(field_label(name))),
            *where,
        ),
        field=name,
    )


def unexpected(token: Token, hint: Line = ()) -> CommandError:
    """Refuse a token the verb does not take, naming it (a field by its key only)."""
    secret = secret_name(token)
    if secret is not None:
        return secret_refusal(secret)
    if isinstance(token, KeyValue):
        message = _('"{word}" is not expected here').format(word=f"{clipped(token.key)}=…")
    else:
        message = _('"{word}" is not expected here').format(word=clipped(token.text))
    return CommandError((message, ": ", *hint) if hint else (message,))

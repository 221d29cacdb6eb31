"""From Slack's command text to tokens: Slack's escaping undone, quotes grouped, mentions kept.

Slack sends the text after `/mysafe` with `&`, `<`, `>` escaped as entities and with mentions
and links as markup (`<@U1|alice>`, `<#C1|general>`, `<!subteam^S1|@ops>`, `<https://x|x>`).
Because a raw `<` never comes from a person, `<…>` is always markup and is read as one unit,
even inside quotes. Outside quotes a mention, channel or user group is a token of its own (even
with no space around it, as in `<@U1>,<@U2>`); inside quotes it stays text as Slack wrote it.
Links become their target. Entities are decoded once, after grouping, so `&amp;lt;` is `&lt;`.

Quoting follows the shell: quoted runs and bare runs with no space between them make one word
(`notes="two words"`, `group:"Ops team"`). Double quotes (`"…"`, and the curly `“…”` that Slack
clients type) open anywhere; single quotes (`'…'`, `‘…’`) only at the start of a word, after
`=` or `:`, or right after another quoted run, so the apostrophe in `don't` stays a letter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from app.i18n import _
from commands.replies import Line, Refusal
from commands.types import (
    KeyValue,
    Segment,
    SlackChannel,
    SlackUser,
    SlackUserGroup,
    Token,
    VerbSpec,
    Word,
)

MAX_INPUT = 4000
GENERAL_USAGE = "/mysafe help"

#: Opening quote -> the characters that close it. Phones turn `"` into `“` or `”` depending on
#: the character before it, so either curly double quote opens and either closes.
_CLOSERS = {'"': '"', "'": "'", "“": "“”", "”": "“”", "‘": "‘’"}
_APOSTROPHES = frozenset("'‘")
_ALLOWED_CONTROLS = frozenset("\t\n\r")

_MARKUP = re.compile(r"<([^<>\s][^<>\n]*)>")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_MARKUP_OR_ENTITY = re.compile(_MARKUP.pattern + "|" + _ENTITY.pattern)
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}
_USER = re.compile(r"@([UW][A-Z0-9]+)(?:\|(.*))?", re.S)
_CHANNEL = re.compile(r"#([CG][A-Z0-9]+)(?:\|(.*))?", re.S)
_SUBTEAM = re.compile(r"!subteam\^([A-Z0-9]+)(?:\|(.*))?", re.S)
_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)=")


class CommandError(Refusal):
    """A slash command the grammar refuses: says what was wrong and carries the right form.

    `verb` is the verb it was for (None when the verb itself was the problem) and `usage` the
    correct form to show. Messages may quote a word the person typed but never a value given to
    a field: a `password=…` typed by mistake must not come back in a reply or a log line.
    """

    def __init__(
        self,
        message: str | Line,
        *,
        field: str = "command",
        verb: str | None = None,
        usage: str | None = None,
    ) -> None:
        super().__init__(field, message)
        self.verb = verb
        self.usage = usage or GENERAL_USAGE

    def attach(self, spec: VerbSpec) -> CommandError:
        """Name the verb and its usage unless a more specific one is already set."""
        if self.verb is None:
            self.verb = spec.name
            self.usage = spec.usage
        return self


def unescape(text: str) -> str:
    """Undo Slack's escaping of plain text: entities decoded, links reduced to their target.

    Mentions, channels and user groups are left as Slack wrote them: only the tokenizer knows
    whether one stands as a target (a token of its own) or sits inside a quoted value.
    """
    return _MARKUP_OR_ENTITY.sub(_unescape_match, text)


def _unescape_match(match: re.Match[str]) -> str:
    if match.group(2):
        return _ENTITIES[match.group(2)]
    return _markup_text(match.group(1))


def _markup_text(inner: str) -> str:
    """The plain text a piece of markup stands for inside a value."""
    if inner.startswith(("@", "#", "!")):
        return f"<{inner}>"
    target = inner.split("|", 1)[0]
    return _decode_entities(target.removeprefix("mailto:"))


def _decode_entities(text: str) -> str:
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(1)], text)


def _special_token(inner: str) -> Token | None:
    """The token for a mention, channel or user group standing as a word; None for links."""
    if match := _USER.fullmatch(inner):
        return SlackUser(match.group(1), _label(match.group(2)))
    if match := _CHANNEL.fullmatch(inner):
        return SlackChannel(match.group(1), _label(match.group(2)))
    if match := _SUBTEAM.fullmatch(inner):
        return SlackUserGroup(match.group(1), _label(match.group(2)))
    if inner.startswith("!"):
        # <!here>, <!channel>, <!date^…|fallback>: the words a person saw.
        name, _bar, label = inner[1:].partition("|")
        return Word.of(_decode_entities(label) if label else "@" + name.split("^", 1)[0])
    return None


def _label(label: str | None) -> str:
    return _decode_entities(label or "")


def check_input(text: str) -> None:
    """Refuse text no person types: too long for Slack, or carrying control characters."""
    if len(text) > MAX_INPUT:
        raise CommandError(
            _("the command is too long: at most {most} characters").format(most=MAX_INPUT)
        )
    if any(unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROLS for c in text):
        raise CommandError(_("the command contains control characters"))


def tokenize(text: str) -> list[Token]:
    """Split command text into tokens; raise `CommandError` for an unbalanced quote."""
    check_input(text)
    return _Scanner(text).tokens()


class _Scanner:
    """One left-to-right pass over the text; `pos` only moves forward."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def tokens(self) -> list[Token]:
        found: list[Token] = []
        while self._skip_space():
            special = self._special_at_word_start()
            found.append(special if special is not None else _classify(self._word()))
        return found

    def _skip_space(self) -> bool:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.pos < len(self.text)

    def _markup_at(self, pos: int) -> re.Match[str] | None:
        return _MARKUP.match(self.text, pos) if self.text[pos] == "<" else None

    def _special_at_word_start(self) -> Token | None:
        markup = self._markup_at(self.pos)
        token = _special_token(markup.group(1)) if markup else None
        if markup and token is not None:
            self.pos = markup.end()
        return token

    def _word(self) -> Word:
        parts: list[Segment] = []
        bare: list[str] = []
        while self.pos < len(self.text) and not self.text[self.pos].isspace():
            char = self.text[self.pos]
            markup = self._markup_at(self.pos)
            if markup and _special_token(markup.group(1)) is not None:
                break  # a mention outside quotes is a token of its own: `<@U1>,<@U2>`
            if markup is None and not self._opens_quote(char, bare, parts):
                bare.append(char)
                self.pos += 1
                continue
            _flush(bare, parts)
            if markup is not None:
                parts.append(Segment(_markup_text(markup.group(1)), literal=True))
                self.pos = markup.end()
            else:
                parts.append(Segment(self._quoted(char), literal=True))
        _flush(bare, parts)
        return Word(tuple(parts))

    def _opens_quote(self, char: str, bare: list[str], parts: list[Segment]) -> bool:
        if char not in _CLOSERS:
            return False
        if char not in _APOSTROPHES:
            return True
        after_quote = not bare and (not parts or parts[-1].literal)
        return after_quote or (bool(bare) and bare[-1] in "=:")

    def _quoted(self, opener: str) -> str:
        """Read a quoted run (markup inside is one unit) and return its unescaped text."""
        start = self.pos + 1
        pos = start
        while pos < len(self.text):
            if markup := self._markup_at(pos):
                pos = markup.end()
            elif self.text[pos] in _CLOSERS[opener]:
                self.pos = pos + 1
                return unescape(self.text[start:pos])
            else:
                pos += 1
        raise CommandError(
            _("a quote ({opener}) is never closed: add the closing quote").format(opener=opener)
        )


def _flush(bare: list[str], parts: list[Segment]) -> None:
    if bare:
        parts.append(Segment(_decode_entities("".join(bare))))
        bare.clear()


def _classify(word: Word) -> Token:
    """Turn `key=value` (key typed bare) into a `KeyValue`; anything else stays a `Word`."""
    first = word.parts[0]
    match = None if first.literal else _KEY.match(first.text)
    if match is None:
        return word
    rest = (Segment(first.text[match.end() :]), *word.parts[1:])
    value = "".join(part.text for part in rest)
    return KeyValue(match.group(1), value, quoted=any(part.literal for part in rest))


_QUOTE_STYLES = (('"', '"'), ("'", "'"), ("“", "”"))


def quote(value: str) -> str:
    """Write `value` so that `tokenize` reads it back as one word with exactly that text.

    Slack's three special characters become entities; the rest is cut into runs that each go
    in a quote style the run does not contain (a value can hold every kind of quote mark).
    """
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    runs: list[str] = []
    start, styles = 0, list(_QUOTE_STYLES)
    for index, char in enumerate(escaped):
        fitting = _fitting(styles, char)
        if not fitting:
            runs.append(_wrap(escaped[start:index], styles[0]))
            start, fitting = index, _fitting(_QUOTE_STYLES, char)
        styles = fitting
    runs.append(_wrap(escaped[start:], styles[0]))
    return "".join(runs)


def _fitting(styles: Sequence[tuple[str, str]], char: str) -> list[tuple[str, str]]:
    return [style for style in styles if char not in _CLOSERS[style[0]]]


def _wrap(run: str, style: tuple[str, str]) -> str:
    return f"{style[0]}{run}{style[1]}"

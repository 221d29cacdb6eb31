"""From a front's command text to tokens: quotes grouped, what the front recognised kept whole.

A front hands the lexer the text as pieces (`Piece`): plain text as the person typed it (the
front has undone its own escaping), and `Mark`s, the units the front recognised in it (a
mention, a channel, a link). A mark is never split: a quote mark or a space inside it is part of
it. Outside quotes a mark with a `token` (a person, a channel, a user group) is a token of its
own, even with no space around it; one without (a link) is literal text inside its word;
inside quotes every mark is its `text`. `app.slack.command_text` reads Slack's markup into
these pieces; a front with plain text hands the text alone.

Quoting follows the shell: quoted runs and bare runs with no space between them make one word
(`notes="two words"`, `group:"Ops team"`). Double quotes (`"…"`, and the curly `“…”` that phone
keyboards type) open anywhere; single quotes (`'…'`, `‘…’`) only at the start of a word, after
`=` or `:`, or right after another quoted run, so the apostrophe in `don't` stays a letter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from app.i18n import _
from commands.replies import Line, Refusal
from commands.types import KeyValue, Segment, Token, VerbSpec, Word

MAX_INPUT = 4000
GENERAL_USAGE = "/mysafe help"

#: Opening quote -> the characters that close it. Phones turn `"` into `“` or `”` depending on
#: the character before it, so either curly double quote opens and either closes.
_CLOSERS = {'"': '"', "'": "'", "“": "“”", "”": "“”", "‘": "‘’"}
_APOSTROPHES = frozenset("'‘")
_OPENERS = frozenset(_CLOSERS)
#: Unicode's control characters (category Cc, U+0000-U+001F and U+007F-U+009F, a block fixed
#: since Unicode 1.1) but tab, newline and carriage return. One search instead of a category
#: lookup per character, which was half of a share command's parse.
_CONTROLS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)=")


@dataclass(frozen=True)
class Mark:
    """A unit the front recognised in the text, read whole.

    `token` is what it is as a word of its own (a person, a channel, a user group, a word such
    as `@here`); None when it only stands for text (a link: its target). `text` is what it
    reads as inside a quoted value, or inside a word when it has no token."""

    text: str
    token: Token | None = None


Piece: TypeAlias = str | Mark


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


def check_input(text: str) -> None:
    """Refuse text no person types: too long for Slack, or carrying control characters."""
    if len(text) > MAX_INPUT:
        raise CommandError(
            _("the command is too long: at most {most} characters").format(most=MAX_INPUT)
        )
    if _CONTROLS.search(text):
        raise CommandError(_("the command contains control characters"))


def plain(text: str) -> list[Piece]:
    """Text as a person typed it, with nothing recognised in it (a front without markup)."""
    check_input(text)
    return [text]


def tokenize(pieces: Sequence[Piece]) -> list[Token]:
    """Split the pieces into tokens; raise `CommandError` for an unbalanced quote. The front
    has checked its text (`check_input`) before reading it into pieces."""
    if all(isinstance(piece, str) for piece in pieces):
        text = "".join(pieces)  # type: ignore[arg-type]
        if _OPENERS.isdisjoint(text):
            # No mark and no quote: the words are what split() finds (the same whitespace as
            # `str.isspace`), each bare. The scanner's walk, a cell at a time, was a sixth of
            # a share command's ack.
            return [_classify(Word((Segment(word),))) for word in text.split()]
    return scan(pieces)


def scan(pieces: Sequence[Piece]) -> list[Token]:
    """`tokenize` the long way, a cell at a time: what marks and quotes need."""
    cells = [cell for piece in pieces for cell in (piece if isinstance(piece, str) else (piece,))]
    return _Scanner(cells).tokens()


class _Scanner:
    """One left-to-right pass over the cells (a character, or a mark); `pos` only moves
    forward."""

    def __init__(self, cells: list[str | Mark]) -> None:
        self.cells = cells
        self.pos = 0

    def tokens(self) -> list[Token]:
        found: list[Token] = []
        while self._skip_space():
            special = self._special_at_word_start()
            found.append(special if special is not None else _classify(self._word()))
        return found

    def _space(self, pos: int) -> bool:
        cell = self.cells[pos]
        return isinstance(cell, str) and cell.isspace()

    def _skip_space(self) -> bool:
        while self.pos < len(self.cells) and self._space(self.pos):
            self.pos += 1
        return self.pos < len(self.cells)

    def _special_at_word_start(self) -> Token | None:
        cell = self.cells[self.pos]
        if isinstance(cell, Mark) and cell.token is not None:
            self.pos += 1
            return cell.token
        return None

    def _word(self) -> Word:
        parts: list[Segment] = []
        bare: list[str] = []
        while self.pos < len(self.cells) and not self._space(self.pos):
            cell = self.cells[self.pos]
            if isinstance(cell, Mark) and cell.token is not None:
                break  # a person outside quotes is a token of its own: `@a,@b`
            if isinstance(cell, str) and not self._opens_quote(cell, bare, parts):
                bare.append(cell)
                self.pos += 1
                continue
            _flush(bare, parts)
            if isinstance(cell, Mark):
                parts.append(Segment(cell.text, literal=True))
                self.pos += 1
            else:
                parts.append(Segment(self._quoted(cell), literal=True))
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
        """Read a quoted run (a mark inside is one unit, read as its text) and return it."""
        quoted: list[str] = []
        for pos in range(self.pos + 1, len(self.cells)):
            cell = self.cells[pos]
            if isinstance(cell, str) and cell in _CLOSERS[opener]:
                self.pos = pos + 1
                return "".join(quoted)
            quoted.append(cell if isinstance(cell, str) else cell.text)
        raise CommandError(
            _("a quote ({opener}) is never closed: add the closing quote").format(opener=opener)
        )


def _flush(bare: list[str], parts: list[Segment]) -> None:
    if bare:
        parts.append(Segment("".join(bare)))
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

    The value is cut into runs that each go in a quote style the run does not contain (a value
    can hold every kind of quote mark). A front with markup escapes the value its own way
    first (`app.slack.command_text.quote`).
    """
    runs: list[str] = []
    start, styles = 0, list(_QUOTE_STYLES)
    for index, char in enumerate(value):
        fitting = _fitting(styles, char)
        if not fitting:
            runs.append(_wrap(value[start:index], styles[0]))
            start, fitting = index, _fitting(_QUOTE_STYLES, char)
        styles = fitting
    runs.append(_wrap(value[start:], styles[0]))
    return "".join(runs)


def _fitting(styles: Sequence[tuple[str, str]], char: str) -> list[tuple[str, str]]:
    return [style for style in styles if char not in _CLOSERS[style[0]]]


def _wrap(run: str, style: tuple[str, str]) -> str:
    return f"{style[0]}{run}{style[1]}"

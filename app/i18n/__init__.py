"""The words people read, in their own language: English (the source) or Brazilian Portuguese.

Every sentence a person reads is written in English inside `_()` (or `ngettext()` when it
counts something) and translated from the gettext catalog of the locale being spoken *now*:
the edge decides whose language that is (`speaking`), once, around the work it does for one
person (their Slack `locale`) or for a channel many people read (`MYSAFE_BOT_LOCALE`). So
renderers need no locale argument, and a verb written for one front speaks on every front.

    with speaking("pt-BR"):
        _("Nothing was stored.")          -> "Nada foi armazenado."
        ngettext("{n} approval", "{n} approvals", 2).format(n=2)

Module-level constants are marked with `N_()` (extracted, not translated) and translated where
they are shown, because the locale is only known then. Placeholders are `{name}` fields filled
by `str.format` after translation, so a translator can move them. Operators' text (the CLI,
`doctor`, logs) stays English and never goes through here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from app.i18n.catalogs import translations

#: The language the sentences are written in; its catalog is the source itself.
SOURCE = "en"
#: The languages the bot speaks, as gettext names them (`pt_BR`, not Slack's `pt-BR`).
LOCALES = ("en", "pt_BR")
#: The pseudo-locale: every sentence longer and accented, to find layouts that break
#: (tests only; no person's Slack locale can name it).
PSEUDO = "qps"

_speaking: ContextVar[str] = ContextVar("locale", default=SOURCE)


def resolve(tag: str | None, *, default: str = SOURCE) -> str:
    """Slack's `locale` (`pt-BR`, `en-US`, `es-ES`) as one of ours; `default` for a language
    we do not speak, or when the person's locale is unknown."""
    if not tag:
        return _ours(default)
    language = tag.replace("-", "_").split("_")[0].lower()
    if language == "en":
        return "en"
    if language == "pt":
        return "pt_BR"
    if tag == PSEUDO:
        return PSEUDO
    return _ours(default)


def _ours(default: str) -> str:
    return resolve(default) if default not in (*LOCALES, PSEUDO) else default


def current() -> str:
    """The locale being spoken now."""
    return _speaking.get()


@contextmanager
def speaking(locale: str | None, *, default: str = SOURCE) -> Iterator[str]:
    """Speak `locale` (a Slack tag or one of ours) inside the block; yields ours."""
    chosen = resolve(locale, default=default)
    token = _speaking.set(chosen)
    try:
        yield chosen
    finally:
        _speaking.reset(token)


def gettext(message: str) -> str:
    """`message` in the language spoken now."""
    return translations(current()).gettext(message)


_ = gettext


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form for `n` under the spoken language's plural rule (CLDR's, through Babel)."""
    return translations(current()).ngettext(singular, plural, n)


_T = TypeVar("_T")
_FIELD = re.compile(r"\{(\w+)\}")


def pieces(template: str, **values: _T) -> tuple[str | _T, ...]:
    """A translated sentence whose placeholders stand for things that are not text (a command
    to copy, a person, a moment): the text between them, and each thing in its place, in the
    order the language puts them.

        pieces(_("run {command} first"), command=Code("/mysafe login"))
        -> ("run ", Code("/mysafe login"), " first")
    """
    found: list[str | _T] = []
    at = 0
    for field in _FIELD.finditer(template):
        if field.start() > at:
            found.append(template[at : field.start()])
        found.append(values[field.group(1)])
        at = field.end()
    if at < len(template):
        found.append(template[at:])
    return tuple(found)


def N_(message: str) -> str:  # noqa: N802 - gettext's own name for "mark, translate later"
    """Mark a constant for extraction; it is translated with `_()` where it is shown."""
    return message

"""The catalogs, compiled on first use from the `.po` files in the repository.

Compiling in the process (Babel's `read_po` then `write_mo`, in memory) rather than at install
keeps one source of truth: no `.mo` file to forget to rebuild or to commit, a wheel that carries
the `.po` works as it is, and a catalog edited in a checkout is read at the next start. A
catalog of a few hundred messages compiles in milliseconds, once per process.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

#: `LOCALE/LC_MESSAGES/messages.po`, gettext's layout, so `pybabel` works on it unchanged.
LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "messages"


def catalog_path(locale: str) -> Path:
    return LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(locale: str) -> gettext.NullTranslations:
    """The translations of `locale`; the source language (and any without a catalog) speaks
    the messages as written."""
    from app.i18n import PSEUDO
    from app.i18n.pseudo import PseudoTranslations

    if locale == PSEUDO:
        return PseudoTranslations()
    path = catalog_path(locale)
    if not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)

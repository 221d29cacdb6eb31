"""What a person is told when their request fails: each error class becomes a short, true sentence.

Listeners wrap their work in `answer_errors(say)`. Expected errors (`BotError`) are told in
words (for a MySafe business code, the bot's sentence, then MySafe's own message and code)
and logged as facts; anything else is logged with its traceback and the person hears only
that it failed and nothing changed.
No stack trace, body or secret ever reaches a user.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from app.foundations.errors import (
    ERROR_CODES,
    ApprovalError,
    BotError,
    CredentialsMissing,
    CredentialsRejected,
    MySafeError,
    MySafeUnavailable,
    ValidationError,
)
from app.i18n import _
from app.text import inline

log = logging.getLogger(__name__)


def sentence(text: str) -> str:
    """A refusal read on its own starts as a sentence does, with a capital."""
    return text[:1].upper() + text[1:] if text[:1].islower() else text


def user_message(error: BotError, *, said: str | None = None) -> str:
    """`said` is the refusal as the front draws it (a verb's neutral line); else `str(error)`."""
    if isinstance(error, ValidationError):
        usage = getattr(error, "usage", "")
        shown = sentence(str(error) if said is None else said)
        usage_line = "\n" + _("Usage: `{usage}`").format(usage=usage) if usage else ""
        return shown + usage_line + "\n" + _("Nothing was stored.")
    if isinstance(error, CredentialsRejected | MySafeUnavailable):
        # The class's sentence already says what happened: MySafe's own words add the detail.
        said = _("MySafe said: {words}").format(words=error.words()) if error.said else error.describe()
        return f"{_(error.user_message)} ({inline(said)})"
    if isinstance(error, MySafeError) and error.code in ERROR_CODES:
        return inline(
            _("{meaning} MySafe said: {words}").format(
                meaning=_(error.user_message), words=error.describe()
            )
        )
    if isinstance(error, MySafeError):
        return _("MySafe said: {words}").format(words=inline(error.describe()))
    if isinstance(error, CredentialsMissing | ApprovalError):
        return str(error) if error.args else _(error.user_message)
    return str(error)


@contextmanager
def answer_errors(
    say: Callable[[str], object], tell: Callable[[BotError], str] = user_message
) -> Iterator[None]:
    """`tell` words an expected error for this front."""
    try:
        yield
    except BotError as error:
        log.info(
            "request refused",
            extra={
                "event": "user.error",
                "error": type(error).__name__,
                "code": getattr(error, "code", None),
            },
        )
        say(tell(error))
    except Exception:
        reference = uuid.uuid4().hex[:8]
        log.exception("unexpected failure", extra={"event": "user.crash", "ref": reference})
        say(
            _(
                "Something went wrong on the bot's side (reference {reference}); nothing was "
                "changed. Please try again, or tell the bot's operators."
            ).format(reference=reference)
        )

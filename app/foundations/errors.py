"""The project's one exception tree.

Every error a user or an operator can meet is one of these; the edge (a Slack listener, a web
view, the CLI) maps each class to a short message. Exceptions carry facts — status, method,
path, vendor code — and never a secret or a raw body.

    BotError
    ├── ConfigError                  a setting is missing or malformed
    ├── PortInUse                    another process listens where `serve` would
    ├── DemoAlreadyRunning           another `serve` runs the demo from the same data dir
    ├── ValidationError              input failed a schema (field -> messages)
    │   └── PlainRefusal             its words are plain text, names as typed: fronts escape them
    ├── CredentialsMissing           the person has not linked a MySafe key
    ├── OnCallUnavailable            the on-call check (PagerDuty, Opsgenie) could not answer
    ├── MySafeError                  anything that went wrong talking to MySafe
    │   ├── InvalidRequest           1001
    │   ├── NotFound                 1005
    │   ├── NoAccess                 1006
    │   ├── EntryDisabled            1009
    │   ├── BadIdentifier            1010
    │   ├── CredentialsRejected      the token call refused the key
    │   ├── MySafeUnavailable        gateway 5xx, timeouts, connection errors
    │   └── UnexpectedAnswer         anything we cannot read
    └── ApprovalError                a click or transition the rules refuse
        ├── NotAnApprover
        ├── Ineligible               a guest, another organisation, a deactivated account, a bot
        ├── SelfApproval
        ├── Beneficiary              the approver gains access through the request
        ├── NotRequester
        ├── InvalidTransition
        ├── RequestNotFound
        ├── EntryBusy                another apply held the entry longer than this one waited
        ├── LeaseLost                this apply may no longer write (its lease passed)
        ├── NotApplied               MySafe accepted the write but does not show the change
        ├── NotPosted                the approval message cannot be posted (bot not in channel)
        ├── OutcomeNotRecorded       MySafe took the change, but storage failed to record it
        └── PolicyOutOfDate          this process's rules are not the deployment's in force
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from app.foundations.field_labels import field_label
from app.i18n import N_, _


class BotError(Exception):
    """Base of every error this project raises on purpose."""

    user_message = N_("Something went wrong.")

    def __str__(self) -> str:
        return self.args[0] if self.args else _(self.user_message)


#: The exit status of every process that stops on a configuration error, whoever reports it.
EXIT_CONFIG = 2


class ConfigError(BotError):
    """A setting is missing or malformed; names the variable.

    Start-up reports every bad setting at once: `problems` holds one single-line error per
    variable (the first is this one's own `variable`), and `str()` gives one line for each.
    """

    def __init__(self, variable: str, expected: str, *, also: Sequence[ConfigError] = ()) -> None:
        super().__init__(f"{variable}: {expected}")
        self.variable = variable
        self.expected = expected
        self.problems: tuple[ConfigError, ...] = (
            (ConfigError(variable, expected), *also) if also else (self,)
        )

    @classmethod
    def of(cls, problems: Sequence[ConfigError]) -> ConfigError:
        """One error carrying every problem found, in the order they were found."""
        first, *rest = problems
        return cls(first.variable, first.expected, also=rest)

    def __str__(self) -> str:
        return "\n".join(f"{p.variable}: {p.expected}" for p in self.problems)


class PortInUse(BotError):
    """`serve`'s port is taken; the message says what probably holds it."""


class DemoAlreadyRunning(BotError):
    """A second demo from the same folder would share the first one's Redis and jobs."""


class ValidationError(BotError):
    """Input failed validation; `errors` maps field names to messages, never to values."""

    def __init__(self, errors: Mapping[str, object], message: str | None = None) -> None:
        self.errors = dict(errors)
        super().__init__(message or _describe(self.errors))


#: Keys that name a part of a command, not a field: their messages stand alone.
_SLOTS = frozenset({"who", "with", "from", "entry", "change", "fields", "secrets", "body"})


def _describe(errors: Mapping[str, object]) -> str:
    parts = []
    for field, messages in errors.items():
        text = "; ".join(_flatten(messages))
        parts.append(text if field in _SLOTS else f"{field_label(field)}: {text}")
    return ", ".join(parts) or "invalid input"


def _flatten(messages: object) -> list[str]:
    if isinstance(messages, str):
        return [messages]
    if isinstance(messages, Mapping):
        return [f"{key}: {m}" for key, value in messages.items() for m in _flatten(value)]
    if isinstance(messages, list | tuple):
        return [m for item in messages for m in _flatten(item)]
    return [str(messages)]


class PlainRefusal(ValidationError):
    """A refusal in plain words with the names it is about as typed (or as MySafe has them):
    no markup of any front. The front that shows it makes all of it inert (Slack escapes it as
    mrkdwn; MCP and the webhook answer text), so the core never writes Slack text."""


class CredentialsMissing(BotError):
    user_message = N_("You have not linked a MySafe key yet: run `/mysafe login`.")


class OnCallUnavailable(BotError):
    """The on-call provider did not say who is on call (down, slow, refused our token, or
    answered something unreadable): break-glass fails closed on it."""

    user_message = N_("The on-call check could not be made just now, so break-glass was refused.")


class MySafeError(BotError):
    """An error from (or on the way to) MySafe.

    `code` is MySafe's business code (1001…1010) when there is one, `status` the HTTP status,
    `method`/`path` the call (path without query string). `message` is MySafe's own message,
    or the bot's account framing it; then `said` holds MySafe's own words alone.
    """

    user_message = N_("MySafe refused the request.")

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        said: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.method = method
        self.path = path
        self.said = said

    def describe(self) -> str:
        """A one-line account for people: MySafe's words (scrubbed) plus its code, each once."""
        return self._with_code(self.message)

    def words(self) -> str:
        """What MySafe itself said, with its code, for a sentence that already says the rest."""
        return self._with_code(self.said) if self.said else self.describe()

    def _with_code(self, text: str) -> str:
        if self.code:
            # MySafe starts its messages with the code ("1005: Password not found").
            return f"{text.removeprefix(f'{self.code}: ')} (MySafe code {self.code})"
        return f"{text} (HTTP {self.status})" if self.status else text

    def in_words(self) -> str:
        """The bot's sentence for MySafe's business code, then MySafe's own words: people
        read what it means for them, and support can still match MySafe's message."""
        if self.code in ERROR_CODES:
            # English: this account is stored on the request and in the audit trail
            # (operators read English); `app.error_messages` says it in the reader's language.
            return f"{self.user_message} MySafe said: {self.describe()}"
        return self.describe()


class InvalidRequest(MySafeError):
    user_message = N_("MySafe says the request is invalid.")


class NotFound(MySafeError):
    user_message = N_("MySafe has no such entry.")


class NoAccess(MySafeError):
    user_message = N_("Your MySafe key has no access to that entry.")


class EntryDisabled(MySafeError):
    user_message = N_(
        "That entry is disabled in MySafe (someone ran `disable` on it): nothing can change it "
        "until it is enabled again with `/mysafe enable`."
    )


class BadIdentifier(MySafeError):
    user_message = N_("That is not a valid MySafe identifier.")


class CredentialsRejected(MySafeError):
    user_message = N_("MySafe rejected your key: link it again with `/mysafe login`.")


class MySafeUnavailable(MySafeError):
    user_message = N_("MySafe is unavailable right now; nothing was changed. Try again shortly.")


class UnexpectedAnswer(MySafeError):
    user_message = N_("MySafe sent an answer the bot cannot read.")


#: MySafe business code (``exception.code``) -> exception class.
ERROR_CODES: dict[int, type[MySafeError]] = {
    1001: InvalidRequest,
    1005: NotFound,
    1006: NoAccess,
    1009: EntryDisabled,
    1010: BadIdentifier,
}


class ApprovalError(BotError):
    user_message = N_("That change request cannot do that.")


class NotAnApprover(ApprovalError):
    user_message = N_("You cannot approve this: you are not one of the configured approvers.")


class Ineligible(ApprovalError):
    """The person may neither request nor approve; the message says why (never who else)."""

    user_message = N_(
        "Guests, people from other organisations, deactivated accounts and bots "
        "can neither request nor approve changes."
    )


class SelfApproval(ApprovalError):
    user_message = N_("You cannot approve this: it is your own request.")


class Beneficiary(ApprovalError):
    user_message = N_("You cannot approve this: it gives you access. Another approver must.")


class StepUpStale(ApprovalError):
    user_message = N_(
        "This confirmation is no longer waited for: the approval was clicked too long ago, "
        "clicked again since, or the request moved on. Click Approve again for a new link."
    )


class NotRequester(ApprovalError):
    user_message = N_("Only the person who asked can cancel this request.")


class InvalidTransition(ApprovalError):
    """The request is in a state where this action does nothing; `state` says which."""

    def __init__(self, message: str, *, state: str) -> None:
        super().__init__(message)
        self.state = state


class RequestNotFound(ApprovalError):
    user_message = N_("There is no such change request.")


class EntryBusy(ApprovalError):
    """Another apply held the entry for longer than this one could wait; nothing was written."""

    user_message = N_("Another change to that entry is being applied; this one waits its turn.")


class LeaseLost(ApprovalError):
    """This apply may no longer write: its lease (or its entry lock) ran out, or the requester
    unlinked their key. Nothing was written; whoever holds the request now reports it."""


class NotApplied(ApprovalError):
    """MySafe answered the write, but reading the entry back does not show the change."""

    user_message = N_("MySafe accepted the change but does not show it.")


class NotPosted(ApprovalError):
    """The request's approval message cannot be posted (the bot is not in the approvals
    channel, or the channel is gone): the request is withdrawn, nothing is left waiting."""

    user_message = N_(
        "Your request could not be posted for approval, so nothing was stored: "
        "the bot cannot post in the approvals channel. Ask an admin to invite it "
        "there (`/invite @mysafe`) or to fix MYSAFE_BOT_APPROVAL_CHANNEL."
    )

    def __init__(self, code: str) -> None:
        super().__init__(
            _("{meaning} (Slack said: {code})").format(meaning=_(self.user_message), code=code)
        )
        self.code = code


class OutcomeNotRecorded(ApprovalError):
    """The change reached MySafe, then storage failed before the outcome was recorded: saying
    "nothing was changed" would be false. The worker re-reads the entry once storage is back
    (the lease runs out) and records what MySafe shows, without writing again."""

    user_message = N_(
        "The change was sent to MySafe, but the bot's storage failed before the "
        "outcome was recorded; it will be recorded when storage is back."
    )


class PolicyOutOfDate(ApprovalError):
    """This process loaded other rules than the deployment's in force (a stale process in a
    rolling deploy): it decides nothing rather than decide differently (app.approvals.in_force)."""

    user_message = N_(
        "This bot process runs out-of-date approval rules, so it decided nothing; "
        "nothing was stored or changed. Try again in a minute."
    )

"""Who is on call now, asked live of PagerDuty or Opsgenie: the break-glass guard's evidence.

    GET {PagerDuty}/oncalls?schedule_ids[]=ID&include[]=users&limit=100&offset=N
                                                                 Authorization: Token token=…
    GET {Opsgenie}/v2/schedules/ID/on-calls?flat=true            Authorization: GenieKey …

One `_get()` applies the token, the timeout and the error map; every failure (connection,
timeout, a status other than 200, an answer we cannot read) is `OnCallUnavailable`, raised
from the original, so the caller fails closed. Nothing is retried: a person waiting at 3 a.m.
hears "refused, try again" at once rather than after a backoff. People are named by e-mail
(PagerDuty's user e-mail, Opsgenie's username), casefolded. Knows nothing of the bot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from app.foundations.errors import OnCallUnavailable

PROVIDERS = ("pagerduty", "opsgenie")
#: PagerDuty's largest page of /oncalls, and the most pages read before giving up.
PAGE, PAGES = 100, 5
#: What an operator should read into a status (doctor shows these; no body is ever quoted).
_MEANING = {
    401: ": the token was refused",
    403: ": the token may not read schedules",
    404: ": no such schedule",
    429: ": rate limited",
}
DEFAULT_URLS = {"pagerduty": "https://api.pagerduty.com", "opsgenie": "https://api.opsgenie.com"}


@dataclass(frozen=True)
class OnCall:
    """Who a schedule has on call, as the provider said it at `checked` (epoch seconds)."""

    provider: str
    schedule: str
    people: frozenset[str]
    checked: float


class OnCallClient:
    """A small client for the one call each provider needs (see the module docstring)."""

    def __init__(
        self,
        *,
        provider: str,
        token: str,
        base_url: str = "",
        timeout: float = 5.0,
        session: requests.Session | None = None,
        clock: Callable[[], float],
    ) -> None:
        if provider not in PROVIDERS:
            raise ValueError(f"unknown on-call provider {provider!r}")
        self.provider = provider
        self.token = token
        self.base_url = (base_url or DEFAULT_URLS[provider]).rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.clock = clock

    def on_call(self, schedule: str) -> OnCall:
        """Who is on call on `schedule` now; `OnCallUnavailable` when that cannot be told."""
        checked = self.clock()
        if self.provider == "pagerduty":
            people = self._pagerduty(schedule)
        else:
            answer = self._get(
                f"/v2/schedules/{quote(schedule, safe='')}/on-calls",
                {"flat": "true"},
                {"Authorization": f"GenieKey {self.token}"},
                {},
            )
            people = _opsgenie_people(answer)
        return OnCall(self.provider, schedule, people, checked)

    def _pagerduty(self, schedule: str) -> frozenset[str]:
        """Everyone on every page: PagerDuty lists one entry per escalation level that uses
        the schedule, `PAGE` at a time; someone on a later page must not be refused."""
        people: set[str] = set()
        for page in range(PAGES):
            answer = self._get(
                "/oncalls",
                {
                    "schedule_ids[]": schedule,
                    "include[]": "users",
                    "limit": str(PAGE),
                    "offset": str(page * PAGE),
                },
                {"Authorization": f"Token token={self.token}"},
                {"Accept": "application/vnd.pagerduty+json;version=2"},
            )
            people |= _pagerduty_people(answer)
            if not isinstance(answer, dict) or answer.get("more") is not True:
                return frozenset(people)
        raise OnCallUnavailable(f"pagerduty lists more than {PAGES * PAGE} on-call entries")

    def _get(
        self,
        path: str,
        params: Mapping[str, str],
        auth: Mapping[str, str],
        extra: Mapping[str, str],
    ) -> Any:
        """The one place a provider is called: token, timeout, and every failure mapped."""
        try:
            response = self.session.get(
                self.base_url + path,
                params=dict(params),
                headers={**auth, **extra},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as error:
            raise OnCallUnavailable(
                f"{self.provider} did not answer within {self.timeout:g} s"
            ) from error
        except requests.RequestException as error:
            raise OnCallUnavailable(f"{self.provider} could not be reached") from error
        if response.status_code != 200:
            raise OnCallUnavailable(
                f"{self.provider} answered HTTP {response.status_code} to GET {path}"
                + _MEANING.get(response.status_code, "")
            )
        try:
            return response.json()
        except ValueError as error:
            raise OnCallUnavailable(f"{self.provider} sent an answer the bot cannot read") from error


def _pagerduty_people(answer: Any) -> frozenset[str]:
    try:
        return frozenset(
            str(entry["user"]["email"]).casefold()
            for entry in answer["oncalls"]
            if entry.get("user", {}).get("email")
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise OnCallUnavailable("pagerduty sent an answer the bot cannot read") from error


def _opsgenie_people(answer: Any) -> frozenset[str]:
    try:
        return frozenset(str(name).casefold() for name in answer["data"]["onCallRecipients"])
    except (KeyError, TypeError) as error:
        raise OnCallUnavailable("opsgenie sent an answer the bot cannot read") from error

"""Who a person is, to the approval checks: Slack ID, MySafe usernames confirmed or claimed.

A person may have two Slack accounts linked to one MySafe user, or only a claimed name:
these are the forms the request's script compares (`slack:U…`, `mysafe:name`, `claim:name`),
kept in one place so submission, decisions and break-glass reviews compare the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.accounts.linked_keys import Vault
from app.approvals.changes import Change, spec_of


def beneficiaries(change: Change, notify: Sequence[str]) -> list[str]:
    """Everyone a request gives access to, as the click check compares them: the MySafe
    usernames it shares with (casefolded) and the Slack IDs of the people mentioned.

    Members of a shared *group* cannot be listed: MySafe's API does not expose membership."""
    if not spec_of(change).grants:
        return []
    return [*(u.username.casefold() for u in change.add_users), *notify]


@dataclass(frozen=True)
class Person:
    """One person as the linked keys (`Vault`) name them, read once: a submit names its
    requester three times (the policy's subject, the message, the stored ids) and a click its
    clicker three times, and each name read again was a round trip and a chance to disagree."""

    slack_id: str
    confirmed: str | None = None
    claimed: str | None = None

    @property
    def display_name(self) -> str:
        """The requester's MySafe name for the message; a claimed one is marked as such."""
        if self.confirmed:
            return self.confirmed
        return f"{self.claimed}, unconfirmed" if self.claimed else ""

    @property
    def names(self) -> list[str]:
        """As `beneficiaries` names people: the Slack ID and the MySafe usernames, casefolded.
        A claimed name counts here as if it were confirmed (see `ids`)."""
        return [self.slack_id, *(n.casefold() for n in (self.confirmed, self.claimed) if n)]

    @property
    def ids(self) -> list[str]:
        """As the click checks compare a clicker (`slack:U…`, `mysafe:name`): two Slack
        accounts linked to one MySafe user are one person. A claimed name counts as if it were
        confirmed, and also as a claim: it can only make its claimant refused or counted once
        with someone else (`known_as` keeps it a claim in what is stored), never let them
        approve something they could not otherwise."""
        claim = [f"mysafe:{self.claimed.casefold()}"] if self.claimed else []
        return [*self.known_as, *claim]

    @property
    def known_as(self) -> list[str]:
        """What is stored of a person for later clicks to be compared with (a requester's ids,
        an approval's voters): the Slack ID, the confirmed MySafe name, and a claimed name only
        as a claim (`claim:name`). A clicker's claim matches a confirmed name here, but a
        stored claim never matches someone else's confirmed name: a requester typing Carol's
        name at login must not make Carol unable to decide on the request."""
        return [
            f"slack:{self.slack_id}",
            *([f"mysafe:{self.confirmed.casefold()}"] if self.confirmed else []),
            *([f"claim:{self.claimed.casefold()}"] if self.claimed else []),
        ]


class Identities:
    """The identities of people, as the linked MySafe keys (`Vault`) tell them."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def person(self, slack_id: str) -> Person:
        """Who `slack_id` is, in one read of the linked keys."""
        return Person(slack_id, *self.vault.usernames(slack_id))

    def of(self, actor: str) -> tuple[list[str], list[str]]:
        """Who the clicker is: `Person.names` and `Person.ids`, from one read."""
        person = self.person(actor)
        return person.names, person.ids

    def known_as(self, person: str) -> list[str]:
        return self.person(person).known_as

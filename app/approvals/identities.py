"""Who a person is, to the approval checks: Slack ID, MySafe usernames confirmed or claimed.

A person may have two Slack accounts linked to one MySafe user, or only a claimed name:
these are the forms the request's script compares (`slack:U…`, `mysafe:name`, `claim:name`),
kept in one place so submission, decisions and break-glass reviews compare the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from app.accounts.linked_keys import Vault
from app.approvals.changes import Change, spec_of


def beneficiaries(change: Change, notify: Sequence[str]) -> list[str]:
    """Everyone a request gives access to, as the click check compares them: the MySafe
    usernames it shares with (casefolded) and the Slack IDs of the people mentioned.

    Members of a shared *group* cannot be listed: MySafe's API does not expose membership."""
    if not spec_of(change).grants:
        return []
    return [*(u.username.casefold() for u in change.add_users), *notify]


class Identities:
    """The identities of people, as the linked MySafe keys (`Vault`) tell them."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def display_name(self, slack_id: str) -> str:
        """The requester's MySafe name for the message; a claimed one is marked as such."""
        confirmed, claimed = self.vault.usernames(slack_id)
        if confirmed:
            return confirmed
        return f"{claimed}, unconfirmed" if claimed else ""

    def of(self, actor: str) -> tuple[list[str], list[str]]:
        """Who the clicker is: as `beneficiaries` names people (Slack ID, MySafe usernames),
        and as the checks compare them (`slack:U…`, `mysafe:name`): two Slack accounts linked
        to one MySafe user are one person.

        A claimed name counts here as if it were confirmed, and also as a claim: it can only
        make its claimant refused or counted once with someone else (`known_as` keeps it a
        claim in what is stored), never let them approve something they could not otherwise."""
        confirmed, claimed = self.vault.usernames(actor)
        names = [n.casefold() for n in (confirmed, claimed) if n]
        return [actor, *names], [
            *self.known_as(actor),
            *([f"mysafe:{claimed.casefold()}"] if claimed else []),
        ]

    def known_as(self, person: str) -> list[str]:
        """What is stored of a person for later clicks to be compared with (a requester's ids,
        an approval's voters): the Slack ID, the confirmed MySafe name, and a claimed name only
        as a claim (`claim:name`). A clicker's claim matches a confirmed name here, but a
        stored claim never matches someone else's confirmed name: a requester typing Carol's
        name at login must not make Carol unable to decide on the request."""
        confirmed, claimed = self.vault.usernames(person)
        return [
            f"slack:{person}",
            *([f"mysafe:{confirmed.casefold()}"] if confirmed else []),
            *([f"claim:{claimed.casefold()}"] if claimed else []),
        ]

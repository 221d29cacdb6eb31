"""The demo's people on the Slack side, and the workspace they share.

Each has a Slack-shaped ID, a handle for mentions typed in the console (`@carol`), a role the
console's person switcher shows, and (except the outsider) a MySafe user with a demo key. Most
are linked to their key at every start; the newcomer is not: the console shows them their key,
so `/mysafe login` can be tried as a new user meets it. The approvers are a Slack user group, as
most teams configure them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    slack_id: str
    handle: str
    name: str
    role: str
    mysafe_username: str | None
    #: Linked to their demo key at every start (app.ops.demo); False: they link it themselves.
    linked: bool = True

    def as_json(self) -> dict[str, str | bool | None]:
        return {
            "id": self.slack_id,
            "handle": self.handle,
            "name": self.name,
            "role": self.role,
            "mysafe": self.mysafe_username,
            "linked": self.linked and self.mysafe_username is not None,
        }


PEOPLE = (
    Person("U0DEMOPRIYA", "priya", "Priya Duarte", "requester", "pduarte"),
    Person("U0DEMOCAROL", "carol", "Carol King", "approver", "carolk"),
    Person("U0DEMOBOB", "bob", "Bob Martins", "approver", "bobm"),
    Person("U0DEMOALICE", "alice", "Alice Silva", "colleague", "alices"),
    Person("U0DEMOOSCAR", "oscar", "Oscar Outsider", "outsider", None),
    Person("U0DEMONINA", "nina", "Nina Novak", "newcomer", "ninan", linked=False),
)
BY_ID = {person.slack_id: person for person in PEOPLE}
BY_HANDLE = {person.handle: person for person in PEOPLE}

BOT_ID = "U0DEMOBOT"
TEAM_ID = "T0DEMO"
APPROVAL_CHANNEL = "C0DEMOAPPROVALS"
APPROVAL_CHANNEL_NAME = "vault-approvals"
APPROVER_GROUP = "S0DEMOAPPROVERS"
APPROVER_GROUP_HANDLE = "vault-approvers"
APPROVERS = tuple(p.slack_id for p in PEOPLE if p.role == "approver")


def dm_channel(user_id: str) -> str:
    """The DM channel between the bot and a person, as `conversations.open` would name it."""
    return "D" + user_id[1:]

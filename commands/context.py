"""What a verb's `run` gets: who asked, the engine and services.

It knows nothing of Bolt or of any chat: the Slack listener builds it, and tests could build it
too. A verb answers with a neutral reply (`commands.replies`), which the front renders.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass

from app.approvals.engine import Engine
from app.i18n import _, pieces
from app.mysafe.client import UserClient
from app.mysafe.models import GroupShare, UserShare
from app.services import Services
from commands.replies import Code, Person, Refusal
from commands.types import ChatUser, MySafeGroup, MySafeUser, Target


@dataclass(frozen=True)
class Context:
    user_id: str
    engine: Engine
    services: Services
    approvers: Container[str]
    idempotency_key: str = ""
    source: str = "slack"

    @property
    def is_approver(self) -> bool:
        return self.user_id in self.approvers

    def mysafe(self) -> UserClient:
        """MySafe as the person asking; `CredentialsMissing` tells them to `/mysafe login`."""
        return self.engine.client_for(self.user_id)


@dataclass(frozen=True)
class Recipients:
    users: tuple[UserShare, ...]
    groups: tuple[GroupShare, ...]
    notify: tuple[str, ...]
    #: MySafe username -> the Slack ID mentioned for it: messages name them as in Slack.
    people: Mapping[str, str]


def resolve(ctx: Context, who: tuple[Target, ...], *, edit: bool = False) -> Recipients:
    """Mentions become MySafe usernames (linked account, else the mention map); unknown ones
    are an error that names them, and nothing is stored."""
    users, groups, notify, unknown = [], [], [], []
    mentioned: list[UserShare] = []
    for target in who:
        if isinstance(target, ChatUser):
            name = ctx.services.vault.mysafe_username(target.user_id)
            if name is None:
                unknown.append(target.user_id)
                continue
            users.append(UserShare(name, edit))
            mentioned.append(users[-1])
            notify.append(target.user_id)
        elif isinstance(target, MySafeUser):
            users.append(UserShare(target.name, edit))
        elif isinstance(target, MySafeGroup):
            groups.append(GroupShare(target.name, edit))
    if unknown:
        mentions = [part for u in unknown for part in (", ", Person(u))][1:]
        raise Refusal(
            "who",
            tuple(
                part
                for piece in pieces(
                    _(
                        "I don't know who {people} is in MySafe (a name typed at {login} is not "
                        "enough): an admin can run {command}, or name them with user:NAME"
                    ),
                    people=tuple(mentions),
                    login=(Code("/mysafe login"),),
                    command=(Code(f"mysafe-bot users map {unknown[0]} MYSAFE_USERNAME"),),
                )
                for part in ((piece,) if isinstance(piece, str) else piece)
            ),
        )
    people = {share.username: slack_id for share, slack_id in zip(mentioned, notify, strict=True)}
    return Recipients(tuple(users), tuple(groups), tuple(notify), people)

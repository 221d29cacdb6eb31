"""Whose language a Slack surface speaks: a person's own (their Slack `locale`), or the
workspace's (`MYSAFE_BOT_LOCALE`) for what many people read.

Acks never ask Slack (they answer within Slack's 3 s and do no I/O beyond Redis): they speak
the locale last read for the person, or the workspace's. Work after the ack asks Slack once
(`users.info` with `include_locale`), and the answer is kept with the person's other facts
(`app.slack.people`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from app.i18n import speaking
from app.slack.people import People


class Languages:
    def __init__(self, people: People, *, default: str) -> None:
        self.people = people
        self.default = default

    def to_person(self, user_id: str, *, ask: bool = True) -> AbstractContextManager[str]:
        """Speak `user_id`'s language; `ask=False` (an ack) only reads what is known."""
        if not user_id:
            return self.to_channel()
        locale = self.people.locale(user_id) if ask else self.people.known_locale(user_id)
        return speaking(locale, default=self.default)

    def as_read(self, user_id: str, read: str | None) -> AbstractContextManager[str]:
        """Speak `user_id`'s language from what an ack read at `People.locale_key` in its own
        round trip (None: the key is absent)."""
        if not user_id:
            return self.to_channel()
        return speaking(self.people.locale_from(user_id, read), default=self.default)

    def to_channel(self) -> AbstractContextManager[str]:
        """Speak the workspace's language, for messages many people read."""
        return speaking(self.default)

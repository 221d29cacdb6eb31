"""What Slack is told when a revoke's read-back finds access the end could not take back.

Registered as a `Revoker` listener beside `RevokeNotices`, for the one event it says:
`drift_detected`. The owner hears it by DM (the entry is theirs to fix in MySafe), and it is
posted where the share was approved and, when set, in `MYSAFE_BOT_AUDIT_CHANNEL`: someone gave
the access again by hand, and that is never left for the audit log alone to say.
"""

from __future__ import annotations

from slack_sdk import WebClient

from app import text
from app.approvals.revokes import EveryRevokeChange, Revoke
from app.i18n import _, speaking
from app.slack.notifier import direct_message
from app.slack.sent_messages import SentMessages


def drift_text(revoke: Revoke) -> str:
    """What the read-back found, whole (shortened visibly only past Slack's limits)."""
    found = text.clip("; ".join(revoke.drift), 2000)
    return _(
        ":warning: The time-bound share {id} on {entry} has ended, but the entry read back "
        "still gives: {found}. This access did not come from the bot: check it in MySafe and "
        "remove it there if it should not stay."
    ).format(id=revoke.request_id, entry=text.clip(revoke.entry, 300), found=found)


class DriftNotices(EveryRevokeChange):
    def __init__(
        self,
        client: WebClient,
        sent: SentMessages,
        *,
        channel: str,
        audit_channel: str = "",
        locale: str = "en",
    ) -> None:
        self.client = client
        #: Where the share's approval message is (the front's bookkeeping).
        self.sent = sent
        self.channel = channel
        self.audit_channel = audit_channel
        #: The workspace's language (MYSAFE_BOT_LOCALE): the owner and the channels read one text.
        self.locale = locale

    def drift_detected(self, revoke: Revoke) -> None:
        with speaking(self.locale):
            said = drift_text(revoke)
        direct_message(self.client, revoke.owner, said)
        for channel in dict.fromkeys(
            c for c in (self.sent.thread(revoke.request_id)[0] or self.channel, self.audit_channel) if c
        ):
            self.client.chat_postMessage(channel=channel, text=said, unfurl_links=False)

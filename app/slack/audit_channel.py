"""Each signed checkpoint posted to `MYSAFE_BOT_AUDIT_CHANNEL`: a copy of the log's roots
outside Redis, in a place whoever can edit Redis cannot rewrite. A post that fails is logged
and the next checkpoint, which names this one's hash, is posted as usual."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app.audit.checkpoints import Checkpoint
from app.audit.sinks.runner import Lag
from app.foundations.durations import describe

log = logging.getLogger(__name__)


def checkpoint_text(checkpoint: Checkpoint) -> str:
    """Every field of the checkpoint, whole: an auditor compares them with an export's."""
    return (
        f"Audit checkpoint: {checkpoint.size} record(s) at {checkpoint.time}\n"
        f"root `{checkpoint.root}`\n"
        f"previous `{checkpoint.previous or 'none'}`\n"
        f"signature `{checkpoint.signature}`"
    )


class CheckpointPoster:
    def __init__(self, client: WebClient, *, channel: str) -> None:
        self.client = client
        self.channel = channel

    def __call__(self, checkpoint: Checkpoint) -> None:
        try:
            self.client.chat_postMessage(
                channel=self.channel, text=checkpoint_text(checkpoint), unfurl_links=False
            )
        except SlackApiError as error:
            log.warning(
                "audit checkpoint not posted",
                extra={
                    "event": "audit.not_posted",
                    "size": checkpoint.size,
                    "error": error.response.get("error", ""),
                },
            )


class LagPoster:
    """A sink that fell more than `MYSAFE_BOT_AUDIT_LAG_ALERT` behind, said in the channel."""

    def __init__(self, client: WebClient, *, channel: str, threshold: int) -> None:
        self.client = client
        self.channel = channel
        self.threshold = threshold

    def __call__(self, sink: str, lag: Lag) -> None:
        text = (
            f"Audit sink `{sink}` is behind: {lag.records} record(s) not delivered, the oldest "
            f"waiting {describe(int(lag.seconds))} (alert at {describe(self.threshold)}). "
            "Nothing is lost: Redis keeps them until the sink takes them."
        )
        try:
            self.client.chat_postMessage(channel=self.channel, text=text, unfurl_links=False)
        except SlackApiError as error:
            log.warning(
                "audit sink lag not posted",
                extra={
                    "event": "audit.not_posted",
                    "sink": sink,
                    "error": error.response.get("error", ""),
                },
            )

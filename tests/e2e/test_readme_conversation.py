"""The README's example conversation ("The first minute") is the bot's real output.

Plays that conversation end to end (signed slash command and click, the MySafe emulator, the
recording Slack fake), reduces what the requester and the approver see to the README's compact
transcript, and compares it with the fenced block in README.md, so the two cannot drift apart.

Transcript format: one line per message, `who` padded to 8 columns, then where ("(only you)",
"(DM to you)", "(DM to carol)", "#vault-approvals:", "#vault-approvals (updated):") and the
visible text. A message's further blocks follow on lines indented by 8 spaces; buttons are
`[Label]`. Reduction: mrkdwn `*` and `_` dropped, mentions shown as @handle, channels as #name,
Slack dates as <date>, relative times as "(in …)", request IDs as R-XXXXX, the emulator's entry
ID as the demo's. An updated message shows only its last block, the status line.

The conversation is the demo's own (`make run`): its people, its entry, so copying the command
into the console gives the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from app.sandbox import demo_secrets, people
from app.sandbox.demo_data import demo_emulator
from app.sandbox.emulator import Emulator
from tests.e2e.test_slack_verbs import (
    APPROVALS,
    APPROVER,
    approval_posts,
    buttons,
    instant,
    message_update,
    request_id_in,
    wait_dm,
)
from tests.support.slack_fake import SlackCall, SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_reading import visible
from tests.support.slack_requests import SlackClient

README = Path(__file__).resolve().parents[2] / "README.md"
PRIYA, ALICE = people.BY_HANDLE["priya"], people.BY_HANDLE["alice"]
COMMAND = 'share password 1 with @alice reason "on-call this week"'
NAMES = {PRIYA.slack_id: "priya", APPROVER: "carol", ALICE.slack_id: "alice"}
CHANNELS = {APPROVALS: "vault-approvals"}
INDENT = " " * 8


def plain(mrkdwn: str) -> str:
    """Slack mrkdwn as the README shows it: no emphasis marks, names instead of IDs."""
    text = re.sub(r"<!date\^[^|>]*\|[^>]*>", "<date>", visible(mrkdwn))
    text = re.sub(r"\(in [^)]*\)", "(in …)", text)
    text = re.sub(r"<@(\w+)(?:\|[^>]*)?>", lambda m: "@" + NAMES.get(m.group(1), m.group(1)), text)
    text = re.sub(r"<#(\w+)(?:\|[^>]*)?>", lambda m: "#" + CHANNELS.get(m.group(1), "?"), text)
    text = re.sub(r"R-[2-9A-HJ-NP-Z]{5}", "R-XXXXX", text)
    return re.sub(r"[*_]", "", text)


def line(who: str, where: str, text: str) -> list[str]:
    first, *rest = plain(text).split("\n")
    return [f"{who:<8}{where}{first}".rstrip(), *(INDENT + r for r in rest if r.strip())]


def message(who: str, where: str, call: SlackCall) -> list[str]:
    """A posted message: its text blocks, then its buttons on one line."""
    blocks = [b for b in call.args.get("blocks", []) if b["type"] in ("section", "context")]
    texts = [
        b["text"]["text"] if "text" in b else " ".join(e["text"] for e in b["elements"]) for b in blocks
    ] or [call.args["text"]]
    lines = line(who, where, "\n".join(texts))
    if labels := buttons(call):
        lines.append(INDENT + " ".join(f"[{label}]" for label in labels))
    return lines


def readme_block() -> list[str]:
    """The fenced block of "The first minute" that starts with the share command."""
    blocks = re.findall(r"```\n(you +/mysafe share .*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "README.md: the example conversation block is missing"
    return blocks[0].rstrip("\n").split("\n")


def test_the_readme_uses_the_demos_own_people_and_entry(tmp_path: Path) -> None:
    """Copied into the demo's console, the README's command finds what it names."""
    _, _, samples = demo_emulator(demo_secrets.load(tmp_path).seed)
    assert (samples[0].kind, samples[0].identifier, samples[0].name) == ("password", 1, "GCP console")
    assert samples[0].owner == PRIYA.mysafe_username and ALICE.mysafe_username
    assert f"/mysafe {COMMAND}" in README.read_text(encoding="utf-8")


def test_the_readme_conversation_is_what_the_bot_says(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, link
) -> None:
    said = first_minute(bot, user, slack, emulator, link, approve="Approve", applied_word="Applied")
    assert said == readme_block(), "\n".join(said)


def first_minute(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    link: Callable[[str, str], None],
    *,
    approve: str,
    applied_word: str,
    typed: str = COMMAND,
) -> list[str]:
    """The README's first minute played against the bot: each line as the transcript shows it
    (the entry's ID as the README has it), in whatever language the people read."""
    link(PRIYA.slack_id, PRIYA.mysafe_username)
    emulator.add_user(ALICE.mysafe_username)
    bot.services.vault.map_mention(ALICE.slack_id, ALICE.mysafe_username)
    entry = emulator.add_password(
        PRIYA.mysafe_username,
        name="GCP console",
        url="https://console.cloud.google.com",
        username="ops@example.com",
        password="old-Password-9!",
    )
    # Slack sends a typed mention escaped, as the user's ID with their display name.
    command = typed.replace("password 1", f"password {entry}").replace(
        "@alice", f"<@{ALICE.slack_id}|alice>"
    )
    said: list[str] = [f"{'you':<8}/mysafe {typed}"]

    response = user.command(PRIYA.slack_id, command)
    said += line("bot", "(only you) ", instant(response))
    answer = slack.wait_responses(1)[0]["text"]
    said += line("bot", "(only you) ", answer)
    (posted,) = slack.wait_for(lambda: approval_posts(slack))
    said += message("bot", "#vault-approvals: ", posted)
    said += line("bot", "(DM to carol) ", wait_dm(slack, APPROVER).args["text"])

    said.append(f"{'carol':<8}[{approve}]")
    assert user.click(APPROVER, "approve", request_id_in(answer)).status_code == 200
    applied = message_update(slack, applied_word)
    assert buttons(applied) == []
    said += line("bot", "#vault-approvals (updated): ", applied.args["blocks"][-1]["text"]["text"])
    said += line("bot", "(DM to you) ", wait_dm(slack, PRIYA.slack_id).args["text"])

    return [re.sub(rf"password {entry}\b", "password 1", s) for s in said]

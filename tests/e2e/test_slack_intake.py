"""`POST /slack/events` answered before Flask (app/slack/intake.py `Intake`), and what it leaves
to Flask and Bolt: every request counted in /metrics once, whichever path answered it."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import requests

from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient, command_form, sign


def counted(bot: Bot, status: int) -> float:
    """`mysafe_bot_http_requests_total` for the Slack route and `status`, as /metrics says."""
    text = requests.get(f"{bot.url}/metrics", timeout=10).text
    found = re.search(
        rf'^mysafe_bot_http_requests_total\{{route="/slack/events",status="{status}"\}} (\S+)$',
        text,
        re.M,
    )
    return float(found.group(1)) if found else 0.0


def test_every_slack_request_is_counted_once_whichever_path_answers_it(
    bot: Bot, user: SlackClient, slack: SlackFake
) -> None:
    ok, refused = counted(bot, 200), counted(bot, 401)
    assert "/mysafe" in user.command("UALICE", "help").text  # answered before Flask
    home = {"type": "app_home_opened", "user": "UALICE", "channel": "D1", "tab": "home"}
    assert user.event(home).status_code == 200  # left to Flask's route and Bolt
    slack.wait_calls("views.publish")  # Bolt read the event whole
    assert user.command("UALICE", "help", secret="not-the-secret").status_code == 401
    assert (counted(bot, 200) - ok, counted(bot, 401) - refused) == (2, 1)


def test_a_body_past_the_limit_is_refused_unread(bot: Bot, user: SlackClient) -> None:
    form = urlencode(command_form("UALICE", "help " + "x" * (1024 * 1024), user.response_url))
    answer = requests.post(
        user.url,
        data=form.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            **sign(form, "test-signing-secret"),
        },
        timeout=10,
    )
    assert answer.status_code == 413


def test_a_command_answered_before_flask_reads_as_it_did_through_flask(
    bot: Bot, user: SlackClient
) -> None:
    """Status, content type and length as Flask's `Response` sent them."""
    answer = user.command("UALICE", "help")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/plain;charset=utf-8"
    assert int(answer.headers["Content-Length"]) == len(answer.content) > 0

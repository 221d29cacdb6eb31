"""Malformed but correctly signed input, at every door: never a 5xx, never a traceback.

The signature proves the sender holds the secret, not that the body is well formed: a buggy
Slack client library, a ticket template with a typo or a hostile insider can send anything.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.webhooks.signing import signed_headers
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient, click_payload, command_form, view_submission

WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@pytest.fixture
def slack_env(slack_env: dict[str, str]) -> dict[str, str]:
    return {
        **slack_env,
        "MYSAFE_BOT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "MYSAFE_BOT_RATE_LIMIT": "0",
        "MYSAFE_BOT_WEBHOOK_RATE_LIMIT": "0",
    }


def answered_politely(response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text


def mangled(payload: dict, path: list[str], value: object) -> dict:
    """`payload` with the field at `path` replaced by `value` (or removed, for `...`)."""
    copy = json.loads(json.dumps(payload))
    node = copy
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node, dict) else {}
    if isinstance(node, dict):
        if value is ...:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return copy


COMMAND_FIELDS = ["user_id", "text", "command", "trigger_id", "response_url", "channel_id"]
ACTION_PATHS = [
    ["user"],
    ["user", "id"],
    ["actions"],
    ["type"],
    ["container"],
    ["trigger_id"],
    ["response_url"],
    ["view"],
]
VIEW_PATHS = [
    ["view", "private_metadata"],
    ["view", "callback_id"],
    ["view", "state"],
    ["view", "state", "values"],
    ["user"],
    ["view"],
    ["view", "id"],
]


@pytest.mark.parametrize("field", COMMAND_FIELDS)
def test_a_slash_command_missing_a_field(bot: Bot, user: SlackClient, field: str) -> None:
    form = {k: v for k, v in command_form("UALICE", "whoami", user.response_url).items() if k != field}
    answered_politely(user.post(urlencode(form), "application/x-www-form-urlencoded"))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.sampled_from(ACTION_PATHS + VIEW_PATHS),
    json_values | st.just(...),
    st.sampled_from(["approve", "deny", "retry", "cancel", "view_change", "home_page", "nonsense"]),
    st.sampled_from(["login", "rotate", "create", "deny_reason", "unknown"]),
)
def test_signed_interactivity_of_any_shape(
    bot: Bot, user: SlackClient, path: list[str], value: object, action: str, callback: str
) -> None:
    if path[0] == "view" or path == ["user"] and callback != "unknown":
        base = view_submission("UALICE", callback, {}, private_metadata='{"kind": "gold"}')
    else:
        base = click_payload("UAPPROVER1", action, "R-22222", user.response_url)
    body = urlencode({"payload": json.dumps(mangled(base, path, value))})
    answered_politely(user.post(body, "application/x-www-form-urlencoded"))


@pytest.mark.parametrize(
    "metadata",
    [
        "",
        "{",
        "[]",
        '{"kind": "gold", "identifier": 1}',
        '{"kind": "password", "identifier": "x"}',
        "null",
    ],
)
@pytest.mark.parametrize("callback", ["rotate", "create", "deny_reason"])
def test_a_view_with_bad_private_metadata(
    bot: Bot, user: SlackClient, metadata: str, callback: str
) -> None:
    answered_politely(user.submit_view("UALICE", callback, {}, private_metadata=metadata))


def post_ticket(bot: Bot, raw: bytes):
    import requests

    return requests.post(
        f"{bot.url}/webhooks/ticketing",
        data=raw,
        timeout=20,
        headers={"Content-Type": "application/json", **signed_headers(WEBHOOK_SECRET, raw)},
    )


def test_a_ticket_nested_twenty_thousand_deep(bot: Bot) -> None:
    raw = ("[" * 20_000 + "]" * 20_000).encode()
    answered_politely(post_ticket(bot, raw))
    deep = '{"event_id": "x", "ticket": ' + '{"a": ' * 20_000 + "1" + "}" * 20_000 + "}"
    answered_politely(post_ticket(bot, deep.encode()))


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values)
def test_signed_ticket_bodies_of_any_shape(bot: Bot, body: object) -> None:
    answered_politely(post_ticket(bot, json.dumps(body).encode()))


@pytest.mark.parametrize("value", [..., ""])
def test_a_signed_click_without_a_value_is_refused_before_its_ack(
    bot: Bot, user: SlackClient, value: object
) -> None:
    """As a command without user_id is: a 400 and nothing stored, rather than an ack whose
    job fails in the consumer for want of the request id."""
    click = mangled(
        click_payload("UAPPROVER1", "approve", "R-22222", user.response_url), ["actions"], []
    )
    action = {"action_id": "approve", "block_id": "decision", "type": "button"}
    click["actions"] = [action if value is ... else {**action, "value": value}]
    assert bot.runtime.front is not None
    bot.runtime.jobs.stop_consumer()  # what was stored stays in the stream to be counted
    response = user.post(urlencode({"payload": json.dumps(click)}), "application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert bot.runtime.front.jobs.pending() == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("[1, 2]", "application/json"),
        ('{"type": "block_actions", ', "application/json"),
        (urlencode({"payload": "[1]"}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": '{"type": '}), "application/x-www-form-urlencoded"),
    ],
)
def test_a_payload_that_cannot_be_read_is_one_log_line_without_a_traceback(
    bot: Bot, user: SlackClient, caplog: pytest.LogCaptureFixture, body: str, content_type: str
) -> None:
    caplog.set_level(logging.INFO, logger="app.slack")
    answered_politely(user.post(body, content_type))
    (line,) = [r for r in caplog.records if getattr(r, "event", "").startswith("slack.")]
    assert line.exc_info is None and line.levelno == logging.WARNING

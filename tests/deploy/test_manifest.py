"""The Slack app manifest asks for exactly the scopes the code uses, at the routes it serves."""

from __future__ import annotations

import re

import yaml

from tests.support.paths import ROOT

MANIFEST = yaml.safe_load((ROOT / "deploy" / "slack-app-manifest.yml").read_text())

#: Web API methods the bot calls -> the bot scope each needs (None: no scope needed).
SCOPES = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "usergroups_users_list": "usergroups:read",
    "users_lookupByEmail": "users:read.email",
    "views_open": None,
    "views_update": None,
    "views_publish": None,
    "auth_test": None,
    "conversations_info": "channels:read",
    "users_info": "users:read",
}
#: Scopes that come with another (Slack requires users:read beside users:read.email) or with
#: a feature (commands).
IMPLIED = {"commands", "groups:read"}


def _methods_called() -> set[str]:
    source = "\n".join(p.read_text() for p in (ROOT / "app").rglob("*.py"))
    return set(
        re.findall(
            r"\.(chat_\w+|views_\w+|usergroups_\w+|users_\w+|auth_test|"
            r"conversations_\w+)\(",
            source,
        )
    )


def test_every_method_the_code_calls_has_its_scope_and_nothing_more() -> None:
    called = _methods_called()
    assert called <= set(SCOPES), f"add these to SCOPES: {called - set(SCOPES)}"
    needed = {SCOPES[m] for m in called} - {None}
    granted = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert needed <= granted
    assert granted - needed <= IMPLIED


def test_command_interactivity_and_events_go_to_slack_events() -> None:
    (command,) = MANIFEST["features"]["slash_commands"]
    assert command["command"] == "/mysafe" and command["should_escape"] is True
    settings = MANIFEST["settings"]
    for url in (
        command["url"],
        settings["interactivity"]["request_url"],
        settings["event_subscriptions"]["request_url"],
    ):
        assert url.endswith("/slack/events")
    assert settings["interactivity"]["is_enabled"] is True
    assert settings["event_subscriptions"]["bot_events"] == [
        "app_home_opened",
        "subteam_members_changed",
        "user_change",
    ]
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True

"""The MCP front speaks the workspace's language (MYSAFE_BOT_LOCALE): an assistant relays the
note and refusals to its person, and this front does not read Slack for theirs."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import uvicorn

from app.accounts.mcp_tokens import McpTokens
from app.mcp.server import build_mcp
from app.sandbox.emulator import Emulator
from tests.support.processes import free_port
from tests.support.slack_harness import Bot

from .test_mcp import call, structured, text_of


@pytest.fixture
def slack_env(slack_env: dict[str, str]) -> dict[str, str]:
    return {**slack_env, "MYSAFE_BOT_LOCALE": "pt-BR"}


@pytest.fixture
def served(bot: Bot, emulator: Emulator, link) -> Iterator[tuple[str, str, int]]:
    """The MCP server on the bot's engine, a token for Alice, and one of her entries."""
    link("UALICE", "alices")
    emulator.add_user("bobm")
    entry = emulator.add_password("alices", name="Staging DB", username="db", password="x-Pass-9")
    token = McpTokens(bot.services.redis, prefix=bot.services.settings.key_prefix).issue(
        "UALICE", ttl=3600
    )
    port = free_port()
    app = build_mcp(bot.engine, public_url=f"http://127.0.0.1:{port}").streamable_http_app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.02)
    assert server.started
    yield f"http://127.0.0.1:{port}/mcp", token, entry
    server.should_exit = True
    thread.join(10)


def test_a_proposals_note_and_a_refusal_are_in_the_workspaces_language(
    served: tuple[str, str, int],
) -> None:
    url, token, entry = served
    proposed, refused = call(
        url,
        token,
        ("propose_share", {"kind": "password", "id": entry, "users": ["bobm"], "reason": "plantão"}),
        ("request_status", {"request_id": "R-NOPE2"}),
    )
    assert structured(proposed)["note"] == (
        "Aguardando um aprovador humano no Slack; nada mudou no MySafe ainda."
    )
    assert structured(proposed)["state"] == "pending"  # fields for programs stay as they are
    assert refused.isError and "não há esse pedido entre os seus" in text_of(refused)

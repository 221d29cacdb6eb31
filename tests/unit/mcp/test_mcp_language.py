"""The MCP front speaks the workspace's language (MYSAFE_BOT_LOCALE): an assistant relays the
note and refusals to its person, and this front does not read Slack for theirs."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import uvicorn

from app.accounts.mcp_tokens import McpTokens
from app.mcp.descriptions import TOOLS, one_line
from app.mcp.server import _Tools, build_mcp
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


def test_tools_are_described_and_refuse_in_the_workspaces_language(
    served: tuple[str, str, int],
) -> None:
    url, token, entry = served
    tools, too_long = call(
        url,
        token,
        ("list_tools", {}),
        ("propose_share", {"kind": "password", "id": entry, "users": ["bobm"], "duration": "8"}),
    )
    described = {tool.name: tool for tool in tools.tools}
    assert described["my_requests"].description == "Os pedidos de mudança abertos do usuário."
    share = described["propose_share"]
    assert "aprovador humano" in share.description and "can_edit" in share.description
    assert "human approver" not in share.description
    assert {"kind", "id", "users", "duration"} <= set(share.inputSchema["properties"])  # the tool's own
    assert too_long.isError and text_of(too_long).endswith(  # after the SDK's own prefix
        ": duration: esperava-se uma duração como 30m, 8h, 2d ou 1d12h"
    )


def test_every_tools_description_is_marked_for_translation_word_for_word() -> None:
    docstrings = {
        one_line(member.__doc__)
        for name, member in vars(_Tools).items()
        if callable(member) and not name.startswith("_")
    }
    assert docstrings == set(TOOLS)

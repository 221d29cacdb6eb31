"""`/mysafe mcp-token [revoke]`: issue (or revoke) your token for the MCP server."""

from __future__ import annotations

from commands.context import Context
from commands.grammar import Args, keyword
from commands.types import McpToken, Token, VerbSpec

SPEC = VerbSpec(
    name="mcp-token",
    usage="/mysafe mcp-token [revoke]",
    summary="get a token for AI assistants (MCP), or revoke yours",
    examples=("/mysafe mcp-token", "/mysafe mcp-token revoke"),
)


def parse(args: list[Token]) -> McpToken:
    rest = Args(args)
    revoke = keyword(rest.peek()) == "revoke"
    if revoke:
        rest.take()
    rest.end()
    return McpToken(revoke)


def run(ctx: Context, command: McpToken) -> str:
    return "MCP tokens are not available on this installation yet."

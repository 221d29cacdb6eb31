"""`/mysafe mcp-token [revoke]`: issue (or revoke) your token for the MCP server."""

from __future__ import annotations

from app.accounts.mcp_tokens import McpTokens
from app.clock import timestamp
from app.durations import describe
from commands.context import Context
from commands.grammar import Args, keyword
from commands.replies import Code, Message, Strong, When
from commands.types import McpToken, Token, VerbSpec

SPEC = VerbSpec(
    name="mcp-token",
    usage="/mysafe mcp-token [revoke]",
    summary="get a token for AI assistants (MCP), or revoke yours",
    examples=("/mysafe mcp-token", "/mysafe mcp-token revoke"),
)


#: The command this verb parses to; `commands.dispatch` routes it to `run`.
COMMAND = McpToken


def parse(args: list[Token]) -> McpToken:
    rest = Args(args)
    revoke = keyword(rest.peek()) == "revoke"
    if revoke:
        rest.take()
    rest.end()
    return McpToken(revoke)


def run(ctx: Context, command: McpToken) -> Message:
    """Issue (shown once, in this ephemeral reply) or revoke the person's MCP token."""
    tokens = McpTokens(ctx.services.redis, prefix=ctx.services.settings.key_prefix)
    if command.revoke:
        if tokens.revoke(ctx.user_id):
            ctx.engine.audit.record("mcp_token.revoked", actor=ctx.user_id)
            return Message.of("Your MCP token is revoked: assistants using it are refused from "
                              "now on.")
        return Message.of("You had no MCP token.")
    ctx.services.vault.credentials(ctx.user_id)  # proposals act with your MySafe key
    ttl = ctx.services.settings.mcp_token_ttl
    token = tokens.issue(ctx.user_id, ttl=ttl)
    ends = int(timestamp()) + ttl
    ctx.engine.audit.record("mcp_token.issued", actor=ctx.user_id, ttl=ttl)
    return Message((
        ("Your MCP token (shown once; any earlier token stops working): ", Code(token)),
        (f"It works for {describe(ttl)}, until ", When(ends), "; then issue a new one."),
        ("Give it to your AI assistant as ", Code("Authorization: Bearer <token>"),
         " for the bot's MCP server (see the README). Assistants can look up entries and ",
         Strong("propose"), " changes; an approver still decides in Slack. Revoke it with ",
         Code("/mysafe mcp-token revoke"), "."),
    ))

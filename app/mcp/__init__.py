"""The MCP front: assistants propose changes (official `mcp` SDK), people approve in Slack."""

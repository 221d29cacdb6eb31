"""What `make run` with nothing set fills in (app.ops.demo), before any process starts."""

from __future__ import annotations

from pathlib import Path

from app.ops import demo


def test_the_demo_logs_text_for_people_unless_a_format_was_chosen(tmp_path: Path) -> None:
    """A person reads the demo's log in a terminal; an operator's own LOG_FORMAT is kept, and
    outside the demo nothing is filled in (JSON stays the default: app.settings)."""
    data = {"MYSAFE_BOT_DATA_DIR": str(tmp_path)}
    assert demo.environment(data, host="127.0.0.1", port=3000)["LOG_FORMAT"] == "text"
    chosen = data | {"LOG_FORMAT": "json"}
    assert "LOG_FORMAT" not in demo.environment(chosen, host="127.0.0.1", port=3000)

"""What `make run` with nothing set fills in (app.ops.demo), before any process starts."""

from __future__ import annotations

from pathlib import Path

from app.ops import demo


def test_the_demo_logs_text_for_people_unless_a_format_was_chosen(tmp_path: Path) -> None:
    """A person reads the demo's log in a terminal; an operator's own LOG_FORMAT is kept, and
    outside the demo nothing is filled in (JSON stays the default: app.foundations.settings)."""
    data = {"MYSAFE_BOT_DATA_DIR": str(tmp_path)}
    assert demo.environment(data, host="127.0.0.1", port=3000)["LOG_FORMAT"] == "text"
    chosen = data | {"LOG_FORMAT": "json"}
    assert "LOG_FORMAT" not in demo.environment(chosen, host="127.0.0.1", port=3000)


def test_the_demo_serves_the_passkey_pages_on_localhost(tmp_path: Path) -> None:
    """WebAuthn works on `localhost` (a secure context and a domain), never on 127.0.0.1: the
    demo names its own loopback server so, unless the operator chose an address."""
    data = {"MYSAFE_BOT_DATA_DIR": str(tmp_path)}
    filled = demo.environment(data, host="127.0.0.1", port=3000)
    assert filled["MYSAFE_BOT_PUBLIC_URL"] == "http://localhost:3000"
    chosen = data | {"MYSAFE_BOT_PUBLIC_URL": "https://bot.example.com"}
    assert "MYSAFE_BOT_PUBLIC_URL" not in demo.environment(chosen, host="127.0.0.1", port=3000)


def test_the_demo_asks_a_passkey_for_the_production_entry_only(tmp_path: Path) -> None:
    """`make run` shows step-up in the first minute: its own policy asks the approver of a
    change to the prod-tagged entry ("Prod DB") to confirm with a passkey; every other entry
    meets the settings' one approval under the rule the README shows (`default`)."""
    from app.approvals.policy import load_policy
    from app.approvals.rules import Defaults
    from app.ops.runtime import load_settings

    data = {"MYSAFE_BOT_DATA_DIR": str(tmp_path)}
    filled = demo.environment(data, host="127.0.0.1", port=3000)
    settings = load_settings(filled, dotenv=None)  # strict: the public URL is there
    assert str(settings.policy_path) == filled["MYSAFE_BOT_POLICY"]
    rules = load_policy(Path(filled["MYSAFE_BOT_POLICY"]), Defaults.of(settings)).rules
    production, default = rules[0], rules[1]
    assert production.step_up == "passkey" and production.step_up_max_age == 300
    assert production.match.tags == frozenset({"prod"}) and not default.step_up
    chosen = data | {"MYSAFE_BOT_POLICY": str(tmp_path / "mine.yml")}
    assert "MYSAFE_BOT_POLICY" not in demo.environment(chosen, host="127.0.0.1", port=3000)

"""Settings: each required variable missing or malformed gives its own one-line error."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.errors import ConfigError
from app.settings import Scope, Settings

REQUIRED = ["MYSAFE_URL", "MYSAFE_BOT_ENCRYPTION_KEY", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
            "MYSAFE_BOT_APPROVAL_CHANNEL", "MYSAFE_BOT_APPROVERS"]


def test_a_complete_environment_loads(env: dict[str, str]) -> None:
    settings = Settings.from_env(env, dotenv=None)
    assert settings.approvers == {"UAPPROVER1", "UAPPROVER2", "UAPPROVER3"}
    assert settings.approvals_required == 1 and settings.request_ttl == 86400
    assert settings.slack_api_url == "https://slack.com/api/"


@pytest.mark.parametrize("variable", REQUIRED)
def test_each_required_variable_is_named_when_missing(env: dict[str, str], variable: str) -> None:
    env.pop(variable)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, dotenv=None)
    assert caught.value.variable == variable
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MYSAFE_URL", "segura.example.com"),
        ("MYSAFE_BOT_ENCRYPTION_KEY", "not-a-key"),
        ("SLACK_BOT_TOKEN", "xoxp-fake"),
        ("MYSAFE_BOT_APPROVAL_CHANNEL", "#approvals"),
        ("MYSAFE_BOT_APPROVERS", "UOK1,alice"),
        ("MYSAFE_BOT_APPROVALS_REQUIRED", "0"),
        ("MYSAFE_TIMEOUT", "soon"),
        ("REDIS_URL", "http://localhost:6379"),
        ("MYSAFE_BOT_WEBHOOK_AUTH", "hmac,password"),
        ("LOG_FORMAT", "xml"),
        ("MYSAFE_CA_BUNDLE", "/nonexistent/ca.pem"),
    ],
)
def test_malformed_values_are_named(env: dict[str, str], variable: str, value: str) -> None:
    env[variable] = value
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, dotenv=None)
    assert caught.value.variable == variable


def test_socket_mode_does_not_need_a_signing_secret(env: dict[str, str]) -> None:
    env.pop("SLACK_SIGNING_SECRET")
    env["SLACK_APP_TOKEN"] = "xapp-1-test"
    assert Settings.from_env(env, dotenv=None).slack_app_token == "xapp-1-test"


def test_vault_scope_needs_only_mysafe_and_keys(env: dict[str, str]) -> None:
    vault_env = {k: env[k] for k in ("MYSAFE_URL", "MYSAFE_BOT_ENCRYPTION_KEY")}
    assert Settings.from_env(vault_env, scope=Scope.VAULT, dotenv=None).mysafe_url


def test_dotenv_fills_in_and_environment_wins(env: dict[str, str], tmp_path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("MYSAFE_BOT_APPROVALS_REQUIRED=2\nMYSAFE_URL=https://from-dotenv.example\n")
    settings = Settings.from_env(env, dotenv=dotenv)
    assert settings.approvals_required == 2
    assert settings.mysafe_url == env["MYSAFE_URL"]


def test_serve_with_a_bad_setting_exits_2_with_one_line(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "app.cli", "serve"], capture_output=True,
                            text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MYSAFE_URL" in lines[0] and "Traceback" not in result.stderr

"""`mysafe-bot doctor` on what break-glass and step-up depend on: the on-call provider (asked
over HTTP, a protocol fake here) for each schedule the policy names, and the public URL the
passkeys are bound to. Each run is the real command in its own process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.on_call_fakes import TOKEN, OnCallFake
from tests.unit.ops.test_operations import _doctor

BREAK_GLASS = """
rules:
  - name: prod-break-glass
    match: {verbs: [share]}
    approvals: 1
    approvers: [UAPPROVER1, UAPPROVER2]
    escalate_after: 2h
    escalate_to: [U0DUTYMGR]
    break_glass: {max_duration: 1h, on_call: PSCHED01, notify: [C0SECURITY], review_within: 24h}
"""
STEP_UP = """
rules:
  - name: production
    match: {tags: [prod]}
    approvals: 1
    step_up: passkey
"""


@pytest.fixture
def pagerduty() -> Iterator[OnCallFake]:
    fake = OnCallFake("pagerduty", on_call={"PSCHED01": ["alice@example.com"]}).start()
    yield fake
    fake.stop()


def _policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yml"
    path.write_text(text)
    return str(path)


def _line(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line[5:].startswith(name))


@pytest.mark.slow
def test_doctor_asks_the_on_call_provider_about_each_break_glass_schedule(
    slack_env: dict[str, str], pagerduty: OnCallFake, tmp_path: Path
) -> None:
    env = {
        **slack_env,
        "MYSAFE_BOT_POLICY": _policy(tmp_path, BREAK_GLASS),
        "MYSAFE_BOT_ON_CALL_PROVIDER": "pagerduty",
        "MYSAFE_BOT_ON_CALL_URL": pagerduty.url,
        "MYSAFE_BOT_ON_CALL_TOKEN": TOKEN,
    }
    assert _line(_doctor(env).stdout, "on-call") == (
        "ok   on-call            pagerduty answers: schedule PSCHED01: 1 on call now"
    )
    assert pagerduty.calls[-1]["schedule"] == "PSCHED01"

    result = _doctor({**env, "MYSAFE_BOT_ON_CALL_TOKEN": "a-revoked-key"})
    line = _line(result.stdout, "on-call")
    assert result.returncode == 1 and line.startswith("FAIL")
    assert (
        "schedule PSCHED01: pagerduty answered HTTP 401 to GET /oncalls: the token was refused" in line
    )
    assert "a-revoked-key" not in result.stdout and "MYSAFE_BOT_ON_CALL_TOKEN" in result.stdout

    pagerduty.on_call["PSCHED01"] = []
    line = _line(_doctor(env).stdout, "on-call")
    assert line.startswith("FAIL") and "nobody on call now" in line and "prod-break-glass" in line


@pytest.mark.slow
def test_doctor_says_break_glass_is_refused_without_a_provider(
    slack_env: dict[str, str], tmp_path: Path
) -> None:
    out = _doctor({**slack_env, "MYSAFE_BOT_POLICY": _policy(tmp_path, BREAK_GLASS)}).stdout
    line = _line(out, "on-call")
    assert line.startswith("FAIL") and "MYSAFE_BOT_ON_CALL_PROVIDER is not set" in line
    assert "every break-glass is refused" in line and "rule “prod-break-glass”" in line


@pytest.mark.slow
def test_doctor_names_the_rp_id_step_up_binds_passkeys_to(
    slack_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**slack_env, "MYSAFE_BOT_POLICY": _policy(tmp_path, STEP_UP)}
    line = _line(_doctor({**env, "MYSAFE_BOT_PUBLIC_URL": "https://bot.example.com"}).stdout, "step-up")
    assert line.startswith("ok") and "passkeys are bound to RP ID bot.example.com" in line
    assert "step-up asked by rule(s) production" in line

    line = _line(_doctor({**env, "MYSAFE_BOT_PUBLIC_URL": "http://localhost:3000"}).stdout, "step-up")
    assert "RP ID localhost" in line and "plain http is for a demo on localhost only" in line

    result = _doctor({**env, "MYSAFE_BOT_PUBLIC_URL": "http://bot.example.com"})
    assert result.returncode == 2 and "MYSAFE_BOT_PUBLIC_URL: expected an https:// URL" in result.stdout

    result = _doctor(env)  # a step-up rule, and no public URL: no approval could count
    assert result.returncode == 2
    assert "FAIL settings" in result.stdout and "rule “production” asks for step-up" in result.stdout
    assert "browsers reach it" in result.stdout  # the fix line


def test_doctor_has_no_on_call_or_step_up_line_where_nothing_needs_them(
    slack_env: dict[str, str],
) -> None:
    out = _doctor(slack_env).stdout
    assert " on-call " not in out and " step-up " not in out

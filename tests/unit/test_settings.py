"""Settings: each required variable missing or malformed gives its own one-line error."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.foundations.errors import ConfigError
from app.foundations.origins import Origin
from app.foundations.settings import Scope, Settings

REQUIRED = [
    "MYSAFE_URL",
    "MYSAFE_BOT_ENCRYPTION_KEY",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "MYSAFE_BOT_APPROVAL_CHANNEL",
    "MYSAFE_BOT_APPROVERS",
]


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
        ("MYSAFE_BOT_MAX_SHARE_DURATION", "forever"),
        ("MYSAFE_BOT_MAX_SHARE_DURATION", "30s"),
        ("MYSAFE_BOT_ROTATE_LENGTH", "8"),
        ("MYSAFE_BOT_ROTATE_CLASSES", "lower,emoji"),
        ("MYSAFE_BOT_MYSAFE_CONCURRENCY", "0"),
        ("MYSAFE_BOT_MYSAFE_CONCURRENCY", "many"),
        ("MYSAFE_BOT_WEB_JOBS", "sometimes"),
        ("MYSAFE_BOT_ON_CALL_PROVIDER", "victorops"),
        ("MYSAFE_BOT_ON_CALL_URL", "api.pagerduty.com"),
        ("MYSAFE_BOT_ON_CALL_TIMEOUT", "60"),
        ("MYSAFE_BOT_ON_CALL_PEOPLE", "U0ALICE:alice@example.com"),
        ("MYSAFE_BOT_BREAK_GLASS_PER_DAY", "-1"),
    ],
)
def test_malformed_values_are_named(env: dict[str, str], variable: str, value: str) -> None:
    env[variable] = value
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, dotenv=None)
    assert caught.value.variable == variable


def test_the_deployments_bound_on_mysafe_work_is_a_setting(env: dict[str, str]) -> None:
    assert Settings.from_env(env, dotenv=None).mysafe_concurrency == 32
    env["MYSAFE_BOT_MYSAFE_CONCURRENCY"] = "8"
    assert Settings.from_env(env, dotenv=None).mysafe_concurrency == 8


def test_the_longest_share_is_a_setting(env: dict[str, str]) -> None:
    assert Settings.from_env(env, dotenv=None).max_share_duration == 30 * 86400
    env["MYSAFE_BOT_MAX_SHARE_DURATION"] = "1d12h"
    assert Settings.from_env(env, dotenv=None).max_share_duration == 36 * 3600


@pytest.mark.parametrize(
    "value",
    [
        "http://bot.example.com",  # WebAuthn needs a secure origin
        "http://127.0.0.1:3000",  # not a domain: no passkey can be bound to it
        "https://bot.example.com/approvals",  # an origin has no path
        "ftp://bot.example.com",
    ],
)
def test_the_public_url_must_be_an_https_origin(env: dict[str, str], value: str) -> None:
    env["MYSAFE_BOT_PUBLIC_URL"] = value
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, dotenv=None)
    assert caught.value.variable == "MYSAFE_BOT_PUBLIC_URL"


@pytest.mark.parametrize(
    "value", ["https://bot.example.com", "https://bot.example.com:8443/", "http://localhost:5000"]
)
def test_the_public_url_is_the_bots_origin(env: dict[str, str], value: str) -> None:
    env["MYSAFE_BOT_PUBLIC_URL"] = value
    assert Settings.from_env(env, dotenv=None).public_url == value.rstrip("/")


def test_break_glass_settings(env: dict[str, str]) -> None:
    settings = Settings.from_env(env, dotenv=None)
    assert (settings.on_call_provider, settings.break_glass_per_day) == ("", 2)
    env |= {
        "MYSAFE_BOT_ON_CALL_PROVIDER": "opsgenie",
        "MYSAFE_BOT_ON_CALL_TOKEN": "genie-key",
        "MYSAFE_BOT_ON_CALL_PEOPLE": "U0ALICE=Alice@Example.com, W0BOB=bob@example.com",
    }
    settings = Settings.from_env(env, dotenv=None)
    assert settings.on_call_people == (("U0ALICE", "alice@example.com"), ("W0BOB", "bob@example.com"))
    del env["MYSAFE_BOT_ON_CALL_TOKEN"]
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env, dotenv=None)
    assert [p.variable for p in caught.value.problems] == ["MYSAFE_BOT_ON_CALL_TOKEN"]


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


def _run(command: str, env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    """`mysafe-bot COMMAND` as the README runs it, with exactly `env` (no `.env` in `cwd`)."""
    return subprocess.run(
        [sys.executable, "-m", "app.ops.cli", command],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", **env},
        timeout=60,
    )


PREFIX = "mysafe-bot: configuration error: "


def named(stderr: str) -> list[str]:
    """The variable each line of a configuration error names; every line must be one."""
    lines = stderr.strip().splitlines()
    assert all(line.startswith(PREFIX) for line in lines), stderr[-2000:]
    return [line.removeprefix(PREFIX).split(":")[0] for line in lines]


def test_serve_with_one_slack_setting_names_every_missing_variable_at_once(tmp_path) -> None:
    """Nothing set at all is the demo (tests/deploy/test_demo_mode.py); one Slack setting means a real
    set-up: the first line names the setting that left the demo, then every other missing
    variable is named, one line each."""
    result = _run("serve", {"SLACK_BOT_TOKEN": "xoxb-1-real"}, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert named(result.stderr) == ["SLACK_BOT_TOKEN"] + [v for v in REQUIRED if v != "SLACK_BOT_TOKEN"]


def test_the_demo_marker_is_refused_off_loopback(env: dict[str, str]) -> None:
    """`MYSAFE_BOT_DEMO` mounts the console: never beside a real Slack or off this machine."""
    for url in ("https://bot.example.com", "http://127.0.0.1:3000"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({**env, "MYSAFE_BOT_DEMO": url}, dotenv=None)
        assert caught.value.variable == "MYSAFE_BOT_DEMO"
    settings = Settings.from_env(
        {
            **env,
            "MYSAFE_BOT_DEMO": "http://127.0.0.1:3000",
            "SLACK_API_URL": "http://127.0.0.1:3000/demo/api/",
        },
        dotenv=None,
    )
    assert settings.demo


# --- values that would fail only later, or never work -------------------------------------------

#: (variable, value) pairs that used to start and then fail with a traceback, read as something
#: else (`notadb` as database 0) or never match; each must stop start-up naming the variable.
IMPOSSIBLE = {
    "sentinel port": ("REDIS_URL", "redis+sentinel://h:notaport/m"),
    "port out of range": ("REDIS_URL", "redis://h:99999/0"),
    "cluster without nodes": ("REDIS_URL", "redis+cluster://"),
    "database name": ("REDIS_URL", "redis://h/notadb"),
    "data dir is a file": ("MYSAFE_BOT_DATA_DIR", "{file}"),
    "data dir inside a file": ("MYSAFE_BOT_DATA_DIR", "{file}/redis"),
    "callback path": ("MYSAFE_BOT_CALLBACK_HOSTS", "tickets.example.com/rest"),
    "callback port": ("MYSAFE_BOT_CALLBACK_HOSTS", "tickets.example.com:notaport"),
    "approvals beyond approvers": ("MYSAFE_BOT_APPROVALS_REQUIRED", "4"),
}


def _impossible(case: str, tmp_path) -> tuple[str, str]:
    (tmp_path / "a-file").write_text("not a directory")
    variable, value = IMPOSSIBLE[case]
    return variable, value.format(file=tmp_path / "a-file")


@pytest.mark.parametrize("case", sorted(IMPOSSIBLE))
def test_impossible_values_are_named(env: dict[str, str], tmp_path, case: str) -> None:
    variable, value = _impossible(case, tmp_path)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**env, variable: value}, dotenv=None)
    assert [p.variable for p in caught.value.problems] == [variable]
    assert "\n" not in str(caught.value)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(IMPOSSIBLE))
def test_serve_stops_on_an_impossible_value_with_one_line_and_exit_2(
    env: dict[str, str], tmp_path, case: str
) -> None:
    variable, value = _impossible(case, tmp_path)
    result = _run("serve", {**env, variable: value}, tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert named(result.stderr) == [variable]


@pytest.mark.parametrize(
    "url",
    [
        "redis://h:6379/0",
        "rediss://:pw@h:6380/2",
        "redis://[::1]:6379/3",
        "unix:///run/r.sock",
        "redis+sentinel://a:26379,b:26379/mymaster/1",
        "redis+cluster://a:7000,b:7001",
    ],
)
def test_well_formed_redis_urls_are_accepted(env: dict[str, str], url: str) -> None:
    assert Settings.from_env({**env, "REDIS_URL": url}, dotenv=None).redis_url == url


def test_a_password_in_a_bad_redis_url_is_never_shown(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**env, "REDIS_URL": "redis://:Hunter2-pw@h:99999/0"}, dotenv=None)
    assert "Hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("approvers", "required"),
    [
        ("UAPPROVER1,UAPPROVER2", "2"),
        ("UAPPROVER1,SAPPROVERS", "5"),
    ],
)
def test_approvals_that_can_be_met_are_accepted(
    env: dict[str, str], approvers: str, required: str
) -> None:
    settings = Settings.from_env(
        {**env, "MYSAFE_BOT_APPROVERS": approvers, "MYSAFE_BOT_APPROVALS_REQUIRED": required},
        dotenv=None,
    )
    assert settings.approvals_required == int(required)


# --- the callback allow-list: scheme, host and port -----------------------------------------------


@pytest.mark.parametrize(
    ("entry", "origin"),
    [
        ("tickets.example.com", Origin("https", "tickets.example.com", 443)),
        ("Tickets.Example.com:8443", Origin("https", "tickets.example.com", 8443)),
        ("https://tickets.example.com/", Origin("https", "tickets.example.com", 443)),
        ("http://ci.internal", Origin("http", "ci.internal", 80)),
        ("http://127.0.0.1:8080", Origin("http", "127.0.0.1", 8080)),
    ],
)
def test_each_callback_entry_names_one_scheme_host_and_port(
    env: dict[str, str], entry: str, origin: Origin
) -> None:
    settings = Settings.from_env({**env, "MYSAFE_BOT_CALLBACK_HOSTS": entry}, dotenv=None)
    assert settings.callback_hosts == {origin}


@pytest.mark.parametrize(
    "entry",
    [
        "ftp://tickets.example.com",
        "https://tickets.example.com/rest",
        "tickets.example.com:99999",
        "https://user:pw@tickets.example.com",
        "*.example.com",
        "tickets.example.com:0",
    ],
)
def test_a_callback_entry_that_could_never_match_is_named(env: dict[str, str], entry: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**env, "MYSAFE_BOT_CALLBACK_HOSTS": f"ok.example.com, {entry}"}, dotenv=None)
    assert caught.value.variable == "MYSAFE_BOT_CALLBACK_HOSTS"
    assert "entry 2" in str(caught.value) and "pw" not in str(caught.value)


# --- every problem at once ----------------------------------------------------------------------

BAD_AT_ONCE = {
    "REDIS_URL": "redis://h/notadb",
    "MYSAFE_TIMEOUT": "soon",
    "MYSAFE_BOT_APPROVAL_CHANNEL": "#approvals",
    "MYSAFE_BOT_CALLBACK_HOSTS": "ftp://tickets.example.com",
    "MYSAFE_BOT_APPROVALS_REQUIRED": "4",
}


def test_every_bad_variable_is_listed_at_once(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**env, **BAD_AT_ONCE}, dotenv=None)
    named = [p.variable for p in caught.value.problems]
    assert sorted(named) == sorted(BAD_AT_ONCE)
    assert caught.value.variable == named[0]
    assert str(caught.value).splitlines() == [str(p) for p in caught.value.problems]


@pytest.mark.slow
def test_serve_and_doctor_list_every_bad_variable_one_line_each(env: dict[str, str], tmp_path) -> None:
    served = _run("serve", {**env, **BAD_AT_ONCE}, tmp_path)
    assert served.returncode == 2 and "Traceback" not in served.stderr
    assert sorted(named(served.stderr)) == sorted(BAD_AT_ONCE)

    checked = _run("doctor", {**env, **BAD_AT_ONCE}, tmp_path)
    assert checked.returncode == 2 and "Traceback" not in checked.stderr
    failed = [
        line.split()[2].rstrip(":")
        for line in checked.stdout.splitlines()
        if line.startswith("FAIL settings")
    ]
    assert sorted(failed) == sorted(BAD_AT_ONCE)

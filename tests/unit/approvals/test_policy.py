"""The approval policy file: every field, first-match order, start-up errors, reload, the CLI."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from app.approvals.policy import PolicyBook
from app.approvals.policy_file import parse_policy
from app.approvals.rules import Defaults, Subject, default_policy
from app.foundations.errors import ConfigError, ValidationError
from app.foundations.settings import Scope, Settings
from app.ops.cli import main
from app.ops.runtime import load_settings, read_policy

ROOT = Path(__file__).parents[3]
DEFAULTS = Defaults(
    approvals=1, approvers=frozenset({"UAPPROVER1", "UAPPROVER2"}), channel="C0APPROVALS"
)

POLICY = textwrap.dedent("""
    rules:
      - name: production
        match: {tags: [prod], kinds: [password, secret], verbs: [share, update, rotate],
                sources: [slack, webhook, mcp]}
        approvals: 2
        approvers: [S0SECOPS, U0CISO]
        channel: C0PRODAPPROVALS
        reason: required
        ticket: required
        max_duration: 7d
        remind_after: 30m
        escalate_after: 2h
        escalate_to: [U0DUTYMGR]
      - name: own-entries-unshare
        match: {verbs: [unshare]}
        approvals: 0
      - name: mine
        match: {owners: [alices]}
        approvals: 1
        approvers: [UAPPROVER2]
      - name: default
        approvals: 1
""")


def subject(
    verb: str = "share",
    kind: str = "password",
    source: str = "slack",
    tags: tuple[str, ...] = (),
    requester: tuple[str, ...] = ("UALICE",),
) -> Subject:
    return Subject(
        verb=verb, kind=kind, source=source, tags=frozenset(tags), requester=frozenset(requester)
    )


def problem(text: str, defaults: Defaults = DEFAULTS) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_policy(textwrap.dedent(text), defaults, origin="policy.yml")
    assert caught.value.variable == "MYSAFE_BOT_POLICY" and "\n" not in str(caught.value)
    return caught.value.expected


# --- every field --------------------------------------------------------------------------------


def test_every_field_of_a_rule_is_read() -> None:
    production = parse_policy(POLICY, DEFAULTS).rule("production")
    assert production is not None
    assert production.approvals == 2 and production.approvers == {"S0SECOPS", "U0CISO"}
    assert production.channel == "C0PRODAPPROVALS"
    assert production.reason_required and production.ticket_required
    assert production.max_duration == 7 * 86400
    assert (production.remind_after, production.escalate_after) == (1800, 7200)
    assert production.escalate_to == ("U0DUTYMGR",)
    assert production.match.tags == {"prod"} and production.match.sources == {"slack", "webhook", "mcp"}


def test_what_a_rule_leaves_out_comes_from_the_settings() -> None:
    unshare = parse_policy(POLICY, DEFAULTS).rule("own-entries-unshare")
    assert unshare is not None and unshare.approvals == 0
    assert unshare.approvers == DEFAULTS.approvers and unshare.channel == "C0APPROVALS"
    assert not unshare.reason_required and not unshare.ticket_required
    assert unshare.remind_after is None and unshare.escalate_to == ()


def test_without_a_file_the_settings_are_the_one_rule() -> None:
    (rule,) = default_policy(DEFAULTS).rules
    assert (rule.name, rule.approvals, rule.approvers, rule.channel) == (
        "default",
        1,
        DEFAULTS.approvers,
        "C0APPROVALS",
    )
    assert default_policy(DEFAULTS).choose(subject(verb="unshare")).rule == rule


# --- first match wins ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (subject(tags=("prod", "db")), "production"),
        (subject(tags=("prod",), verb="unshare"), "own-entries-unshare"),  # production skips unshare
        (subject(tags=("prod",), verb="create"), "default"),  # production: not for creates
        (subject(verb="unshare"), "own-entries-unshare"),
        (subject(requester=("UALICE", "alices")), "mine"),  # owners: the requester's MySafe name
        (subject(source="ticket", tags=("prod",)), "production"),  # tickets come by webhook
        (subject(), "default"),
    ],
)
def test_rules_are_tried_in_order_and_the_first_match_wins(case: Subject, expected: str) -> None:
    assert parse_policy(POLICY, DEFAULTS).choose(case).rule.name == expected


def test_a_change_no_rule_matches_meets_the_settings_rule() -> None:
    policy = parse_policy("rules: [{name: prod, match: {tags: [prod]}, approvals: 2}]", DEFAULTS)
    choice = policy.choose(subject(tags=("dev",)))
    assert choice.rule.name == "settings" and choice.rule.approvals == 1
    assert choice.why[0] == "rule 1 “prod” skipped: tags dev is not one of [prod]"


def test_the_choice_says_why_rule_by_rule() -> None:
    choice = parse_policy(POLICY, DEFAULTS).choose(subject(verb="unshare", tags=("prod",)))
    assert choice.position == 2
    assert choice.why == (
        "rule 1 “production” skipped: verb unshare is not one of [rotate, share, update]",
        "rule 2 “own-entries-unshare” matches: verb unshare is one of [unshare]",
    )


# --- a bad file: one line naming the rule and the field -----------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  - name: prod\n    approvals: two\n",
            "rule 1 “prod”: approvals: Not a valid integer",
        ),
        ("rules:\n  - name: prod\n    approvals: 11\n", "rule 1 “prod”: approvals: Must be greater"),
        (
            "rules:\n  - name: prod\n    approvers: [alice]\n",
            "rule 1 “prod”: approvers: expected a Slack user ID (U…/W…) or user-group ID (S…)",
        ),
        (
            "rules:\n  - name: prod\n    channel: general\n",
            "rule 1 “prod”: channel: expected a Slack channel ID",
        ),
        ("rules:\n  - name: prod\n    reason: please\n", "rule 1 “prod”: reason: Must be one of"),
        ("rules:\n  - name: prod\n    ticket: yes\n", "rule 1 “prod”: ticket: Not a valid string"),
        (
            "rules:\n  - name: prod\n    max_duration: forever\n",
            "rule 1 “prod”: max_duration: expected a duration such as 30m",
        ),
        (
            "rules:\n  - name: prod\n    remind_after: 5s\n",
            "rule 1 “prod”: remind_after: expected between 1 minute and 366 days",
        ),
        (
            "rules:\n  - name: prod\n    escalate_after: 2h\n",
            "rule 1 “prod”: escalate_to: escalate_after needs escalate_to",
        ),
        (
            "rules:\n  - name: prod\n    escalate_to: [U0DUTY]\n",
            "rule 1 “prod”: escalate_after: escalate_to needs escalate_after",
        ),
        (
            "rules:\n  - name: prod\n    escalate_to: [S0GROUP]\n    escalate_after: 1h\n",
            "rule 1 “prod”: escalate_to: expected a Slack user ID (U…/W…) or channel ID",
        ),
        (
            "rules:\n  - name: ok\n  - name: prod\n    match: {verbs: [delete]}\n",
            "rule 2 “prod”: match.verbs: Must be one of",
        ),
        (
            "rules:\n  - name: prod\n    match: {sources: [email]}\n",
            "rule 1 “prod”: match.sources: Must be one of: slack, webhook, mcp",
        ),
        (
            "rules:\n  - name: prod\n    match: {colour: [red]}\n",
            "rule 1 “prod”: match.colour: Unknown",
        ),
        ("rules:\n  - name: prod\n    approve: 2\n", "rule 1 “prod”: approve: Unknown field"),
        ("rules:\n  - approvals: 2\n", "rule 1: name: Missing data"),
        ("rules:\n  - name: a\n  - name: a\n", "rule 2 “a”: name: used twice"),
        ("rules:\n  - name: settings\n", "rule 1 “settings”: name: used twice"),
        (
            "rules:\n  - name: prod\n    approvals: 3\n    approvers: [U1A, U2B]\n",
            "rule 1 “prod”: approvals: is 3, but approvers lists 2 user(s)",
        ),
        (
            "rules:\n  - name: prod\n    step_up: sms\n",
            "rule 1 “prod”: step_up: Must be one of: passkey",
        ),
        (
            "rules:\n  - name: prod\n    step_up_max_age: 5m\n",
            "rule 1 “prod”: step_up: step_up_max_age needs step_up",
        ),
        (
            "rules:\n  - name: prod\n    step_up: passkey\n    step_up_max_age: 2h\n",
            "rule 1 “prod”: step_up_max_age: expected at most 1h",
        ),
        (
            "rules:\n  - name: prod\n    break_glass: {max_duration: 1h, on_call: P1,"
            " review_within: 24h}\n",
            "rule 1 “prod”: break_glass: break_glass needs escalate_to",
        ),
        (
            "rules:\n  - name: prod\n    break_glass: {max_duration: 1h, on_call: P1,"
            " escalate_to: [U0LEAD]}\n",
            "rule 1 “prod”: break_glass.review_within: Missing data",
        ),
        (
            "rules:\n  - name: prod\n    break_glass: {max_duration: 1h, on_call: P1,"
            " review_within: 24h, escalate_to: [U0LEAD], notify: [security]}\n",
            "rule 1 “prod”: break_glass.notify: expected a Slack channel ID",
        ),
        ("rules: []\n", "rules: Length must be between 1 and 200"),
        ("- name: prod\n", "expected a mapping with a `rules:` list"),
        ("rules: [name: {\n", "not valid YAML (line"),
    ],
)
def test_a_bad_file_names_the_rule_and_the_field(text: str, expected: str) -> None:
    assert problem(text).startswith(f"policy.yml: {expected}")


def test_a_bad_file_stops_start_up_with_one_line_and_exit_2(
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "policy.yml"
    bad.write_text("rules:\n  - name: production\n    approvals: lots\n")
    environ = {**env, "MYSAFE_BOT_POLICY": str(bad)}
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, dotenv=None)
    assert str(caught.value) == (
        "MYSAFE_BOT_POLICY: policy.yml: rule 1 “production”: approvals: Not a valid integer"
    )
    monkeypatch.chdir(tmp_path)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert main(["worker", "--once"]) == 2
    assert capsys.readouterr().err == (
        "mysafe-bot: configuration error: MYSAFE_BOT_POLICY: policy.yml: rule 1 “production”: "
        "approvals: Not a valid integer\n"
    )


def test_a_good_file_is_read_once_at_start_up(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(POLICY)
    policy = read_policy(load_settings({**env, "MYSAFE_BOT_POLICY": str(path)}, dotenv=None))
    assert policy is not None
    assert [r.name for r in policy.rules] == [
        "production",
        "own-entries-unshare",
        "mine",
        "default",
        "settings",
    ]
    missing = {**env, "MYSAFE_BOT_POLICY": str(tmp_path / "nope.yml")}
    with pytest.raises(ConfigError, match="MYSAFE_BOT_POLICY: no such file"):
        Settings.from_env(missing, dotenv=None)


# --- what a rule enforces -----------------------------------------------------------------------


def test_a_rule_may_ask_each_approver_to_step_up_with_a_passkey() -> None:
    policy = parse_policy(
        "rules:\n  - name: prod\n    step_up: passkey\n    step_up_max_age: 10m\n"
        "  - name: plain\n    step_up: passkey\n  - name: none\n",
        DEFAULTS,
    )
    prod, plain, none = (policy.rule(n) for n in ("prod", "plain", "none"))
    assert (prod.step_up, prod.step_up_max_age) == ("passkey", 600)
    assert (plain.step_up, plain.step_up_max_age) == ("passkey", 300)  # five minutes by default
    assert none.step_up == ""
    assert "each approval confirmed with a passkey within 10 min" in prod.summary()
    assert "passkey" not in none.summary()


def test_reason_and_ticket_required_are_refused_when_missing() -> None:
    production = parse_policy(POLICY, DEFAULTS).rule("production")
    assert production is not None
    with pytest.raises(ValidationError, match="requires a reason"):
        production.refuse_missing(reason=" ", ticket={"key": "SEC-1"})
    with pytest.raises(ValidationError, match="requires a ticket"):
        production.refuse_missing(reason="on call", ticket={})
    production.refuse_missing(reason="on call", ticket={"key": "SEC-1"})


def test_a_share_longer_than_max_duration_is_refused() -> None:
    production = parse_policy(POLICY, DEFAULTS).rule("production")
    assert production is not None
    production.refuse_duration(7 * 86400)
    production.refuse_duration(None)
    with pytest.raises(ValidationError, match="allows at most 7 days"):
        production.refuse_duration(7 * 86400 + 1)


# --- SIGHUP reload ------------------------------------------------------------------------------


def test_reload_takes_a_good_file_and_keeps_the_rules_on_a_bad_one(
    env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(POLICY)
    book = PolicyBook(Settings.from_env({**env, "MYSAFE_BOT_POLICY": str(path)}, dotenv=None))
    assert book.current.choose(subject(tags=("prod",))).rule.approvals == 2

    path.write_text(POLICY.replace("approvals: 2", "approvals: 3"))
    assert book.reload() is True
    assert book.current.choose(subject(tags=("prod",))).rule.approvals == 3

    path.write_text(POLICY.replace("approvals: 2", "approvals: many"))
    caplog.set_level(logging.INFO, logger="app.approvals.policy")
    assert book.reload() is False
    assert book.current.choose(subject(tags=("prod",))).rule.approvals == 3  # kept
    (line,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert line.event == "policy.reload_error" and "rule 1 “production”: approvals" in line.problem


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "policy.yml"
    path.write_text(POLICY)
    return path


def test_policy_check_lists_the_rules_of_a_good_file(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "check", str(cli_env)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{cli_env}: OK, 4 rule(s), then the built-in `settings` rule"
    assert out[1].startswith(
        "  1. production: when tags in [prod] and kinds in [password, "
        "secret] and verbs in [rotate, share, update] and sources in "
    )
    assert (
        "2 approval(s) from [S0SECOPS, U0CISO]; posted in C0PRODAPPROVALS; reason required; "
        "ticket required; longest share 7 days; reminder after 30 min" in out[1]
    )
    assert out[2] == (
        "  2. own-entries-unshare: when verbs in [unshare] -> no approval (applied "
        "at once, audited); posted in C0APPROVALS"
    )


def test_policy_check_of_a_bad_file_is_one_line_and_exit_2(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_env.write_text("rules:\n  - name: x\n    ticket: sometimes\n")
    assert main(["policy", "check", str(cli_env)]) == 2
    assert capsys.readouterr().err == (
        "mysafe-bot: configuration error: MYSAFE_BOT_POLICY: "
        "policy.yml: rule 1 “x”: ticket: Must be one of: required, "
        "optional\n"
    )


def test_the_sample_policy_passes_check(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", str(ROOT / "deploy" / "policy.example.yml")]) == 0
    assert "OK" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("verb", "rule"), [("disable", "incident-disable"), ("enable", "incident-enable")]
)
def test_policy_explain_knows_the_incident_verbs(
    cli_env: Path, capsys: pytest.CaptureFixture[str], verb: str, rule: str
) -> None:
    sample = str(ROOT / "deploy" / "policy.example.yml")
    argv = ["policy", "explain", "--entry", "password:312", "--verb", verb, "--user", "U0ALICE"]
    assert main([*argv, "--tags", "prod", "--policy", sample]) == 0
    assert f"rule “{rule}”" in capsys.readouterr().out.splitlines()[0]


def test_policy_explain_reads_the_tags_from_mysafe_and_says_why(
    cli_env: Path, capsys: pytest.CaptureFixture[str], emulator, link, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MYSAFE_BOT_POLICY", str(cli_env))
    link("UALICE", "alices")
    entry = emulator.add_password(
        "alices", name="prod db", username="db", password="pw-1", tags="prod,db"
    )
    assert (
        main(
            ["policy", "explain", "--entry", f"password:{entry}", "--verb", "share", "--user", "UALICE"]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"share password {entry} by UALICE via slack: rule “production” (rule 1 of 5)"
    assert out[1] == "  rule 1 “production” matches: tags db, prod is one of [prod]"
    assert out[-1].startswith("  asks for: 2 approval(s) from [S0SECOPS, U0CISO]")

    assert (
        main(
            [
                "policy",
                "explain",
                "--entry",
                "password:9",
                "--verb",
                "update",
                "--user",
                "UBOB",
                "--tags",
                "dev",
                "--source",
                "webhook",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "update password 9 by UBOB via webhook: rule “default” (rule 4 of 5)"
    assert "  rule 1 “production” skipped: tags dev is not one of [prod]" in out


def test_policy_explain_refuses_a_malformed_entry(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(
            [
                "policy",
                "explain",
                "--entry",
                "password312",
                "--verb",
                "share",
                "--user",
                "UALICE",
                "--tags",
                "",
            ]
        )
        == 2
    )
    assert "--entry: expected password:ID or secret:ID" in capsys.readouterr().err


def test_settings_scope_none_still_reads_the_policy(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(POLICY)
    settings = load_settings({"MYSAFE_BOT_POLICY": str(path)}, scope=Scope.NONE, dotenv=None)
    policy = read_policy(settings, strict=False)
    assert policy is not None and policy.rules[0].name == "production"


def test_the_digest_tells_apart_exactly_what_decides_differently() -> None:
    """What a deployment compares (app.approvals.in_force): the rules as applied, settings'
    defaults included, and the version; never the file's layout."""
    text = "version: 2\nrules:\n  - name: prod\n    match: {tags: [prod, db]}\n    approvals: 2\n"
    same = "rules:\n  - approvals: 2\n    match: {tags: [db, prod]}\n    name: prod\nversion: 2\n"
    policy = parse_policy(text, DEFAULTS)
    assert policy.version == 2 and policy.digest.startswith("sha256:")
    assert parse_policy(same, DEFAULTS).digest == policy.digest
    assert parse_policy(text.replace("version: 2", "version: 3"), DEFAULTS).digest != policy.digest
    assert parse_policy(text.replace("approvals: 2", "approvals: 1"), DEFAULTS).digest != policy.digest
    other_defaults = Defaults(DEFAULTS.approvals, frozenset({"U0ONE", "U0TWO"}), DEFAULTS.channel)
    assert parse_policy(text, other_defaults).digest != policy.digest
    assert parse_policy(text.replace("version: 2\n", ""), DEFAULTS).version == 0


def test_a_version_must_be_a_whole_number_from_1() -> None:
    with pytest.raises(ConfigError, match="version: Must be greater than or equal to 1"):
        parse_policy("version: 0\nrules:\n  - name: a\n", DEFAULTS)
    with pytest.raises(ConfigError, match="version: Not a valid integer"):
        parse_policy("version: '3'\nrules:\n  - name: a\n", DEFAULTS)

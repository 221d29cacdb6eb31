"""`mysafe-bot doctor`: check every dependency once, one line each, with a fix for each failure.

Run it after deploying or when something is off. It only reads: it pings Redis, asks Slack
who the token is (`auth.test`), about the approvals channel and about each configured approver
and group (`users.info`, `usergroups.users.list`), asks MySafe for a protected path without a
token (a 401 proves MySafe answers, TLS included) and reads the worker's heartbeat. Where the
policy allows break-glass or a provider is set, it asks the on-call provider who is on call on
each schedule the rules name; where a rule asks for step-up or a public URL is set, it says
the passkeys' RP ID.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis
import requests
from slack_sdk.errors import SlackApiError

from app.foundations.errors import EXIT_CONFIG, ConfigError
from app.foundations.settings import Scope, Settings, merged_environment

if TYPE_CHECKING:
    from slack_sdk import WebClient

    from app.approvals.in_force import RulesInForce
    from app.approvals.rules import Rule
    from app.ops.runtime import Runtime
    from app.services import Services


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        fix = f"\n       fix: {self.fix}" if not self.ok and self.fix else ""
        return f"{mark} {self.name:<18} {self.detail}{fix}"


def run_checks(environ: Mapping[str, str] | None = None) -> Iterator[Check]:
    from app.ops.runtime import build_runtime, load_settings

    try:
        settings = load_settings(environ, scope=Scope.SERVICE)
    except ConfigError as error:
        for problem in error.problems:  # every bad variable, each with its own fix
            yield Check("settings", False, str(problem), setting_fix(problem.variable))
        return
    yield Check("settings", True, "every setting is present and well-formed")
    from app.slack.web_client import make_web_client

    runtime = build_runtime(settings, front=False)
    services = runtime.services
    try:
        yield _guard("redis", lambda: _redis(services), "check REDIS_URL and that Redis runs")
        client = runtime.slack or make_web_client(services)
        yield _guard(
            "slack token",
            lambda: _slack_token(client),
            "set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-…)",
        )
        yield _guard(
            "approval channel",
            lambda: _channel(client, settings),
            "set MYSAFE_BOT_APPROVAL_CHANNEL to the channel's ID and /invite the app",
        )
        yield _guard(
            "approvers",
            lambda: _approvers(client, settings),
            "set MYSAFE_BOT_APPROVERS to the user IDs (U…/W…) and user group IDs (S…) "
            "of people in this workspace (profile → ⋮ → Copy member ID)",
        )
        yield _guard(
            "mysafe",
            lambda: _mysafe(settings),
            "check MYSAFE_URL, the network path, and MYSAFE_CA_BUNDLE for a private CA",
        )
        yield _guard(
            "audit log",
            lambda: _audit_log(services, settings),
            "check MYSAFE_BOT_AUDIT_SIGNING_KEY (`mysafe-bot keygen --audit` makes one) and "
            "that a worker runs: it signs the checkpoints",
        )
        if settings.audit_sinks:
            yield _guard(
                "audit sinks",
                lambda: _audit_sinks(runtime),
                "check that each sink named here answers (its URL, the network path, the HEC "
                "token or webhook key) and that a worker runs: it delivers to them; nothing is "
                "lost meanwhile, Redis keeps what a sink has not taken",
            )
        if settings.on_call_provider or _rules_with(settings, "break_glass"):
            yield _guard(
                "on-call",
                lambda: _on_call(runtime),
                "set MYSAFE_BOT_ON_CALL_PROVIDER (pagerduty or opsgenie) and "
                "MYSAFE_BOT_ON_CALL_TOKEN (a PagerDuty REST API key or an Opsgenie API key, "
                "read access is enough), and make each rule's break_glass.on_call the ID of a "
                "schedule that provider has (docs/incidents.md#break-glass)",
            )
        if settings.public_url or _rules_with(settings, "step_up"):
            yield _guard(
                "step-up",
                lambda: _step_up(runtime),
                "set MYSAFE_BOT_PUBLIC_URL to the bot's https:// address as people's browsers "
                "reach it, with no path (docs/step-up.md)",
            )
        yield _guard(
            "worker",
            lambda: _worker(services, settings),
            "start `mysafe-bot worker` (it expires requests, takes over stuck applies "
            "and delivers ticket callbacks)",
        )
        yield _guard(
            "policy",
            lambda: _policy(runtime.engine.in_force),
            "give every process the policy file in force and reload it (`kill -HUP`) or restart "
            "it; an edited file takes force only with a higher `version:` (or run "
            "`mysafe-bot policy publish FILE`)",
        )
        yield _guard(
            "parked jobs",
            lambda: _parked(services, settings),
            "no configured key opens these jobs (sealed with a key since removed from "
            "MYSAFE_BOT_ENCRYPTION_KEY) or they are no job: ask the people named to repeat "
            "them; keep a retired key configured until `mysafe-bot users rotate-keys` has run",
        )
    finally:
        runtime.close()


#: Where each value comes from: the line under a bad setting says what to do, since the line
#: above it already says what is wrong.
SETTING_FIXES = {
    "SLACK_BOT_TOKEN": "copy the Bot User OAuth Token (xoxb-…) from api.slack.com/apps → your "
    "app → OAuth & Permissions",
    "SLACK_SIGNING_SECRET": "copy the Signing Secret from api.slack.com/apps → your app → "
    "Basic Information",
    "SLACK_APP_TOKEN": "create an app-level token with connections:write under Basic "
    "Information → App-Level Tokens (xapp-…), or unset it to use HTTP mode",
    "MYSAFE_URL": "use your Segura server's base URL, e.g. https://segura.example.com",
    "MYSAFE_BOT_ENCRYPTION_KEY": "run `mysafe-bot keygen` and use what it prints",
    "MYSAFE_BOT_APPROVAL_CHANNEL": "open the channel in Slack, click its name and copy the "
    "Channel ID (C…) shown at the bottom",
    "MYSAFE_BOT_APPROVERS": "in Slack, open each approver's profile → ⋮ → Copy member ID "
    "(U…); a user group's ID (S…) is in its link",
    "MYSAFE_BOT_PUBLIC_URL": "use the bot's https:// address as people's browsers reach it "
    "(http://localhost only for a demo); passkeys are bound to its host",
    "MYSAFE_BOT_ON_CALL_TOKEN": "create a REST API key in PagerDuty (Integrations → API Access "
    "Keys) or an API key in Opsgenie (Settings → API key management), read access is enough",
}


def setting_fix(variable: str) -> str:
    """How to get a good value for `variable`, and where to put it."""
    how = SETTING_FIXES.get(variable, "see its line in docs/configuration.md")
    return f"{how}; put it in the environment or .env (deploy/env.example lists them all)"


def _guard(name: str, probe: Callable[[], str], fix: str) -> Check:
    """One check; whatever it raises is that check's failure, and the others still run."""
    try:
        return Check(name, True, probe())
    except Exception as error:  # noqa: BLE001 - an unreachable Slack raises URLError, etc.
        return Check(name, False, _reason(error), fix)


class _Failed(Exception):
    pass


def _reason(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return f"Slack said {error.response.get('error', 'error')}"
    if isinstance(error, requests.exceptions.SSLError):
        return "TLS verification failed"
    if isinstance(error, _Failed | redis.RedisError):
        return str(error) or type(error).__name__
    if isinstance(error, OSError | requests.RequestException):  # URLError is an OSError
        return f"cannot reach it ({type(error).__name__})"
    return f"failed ({type(error).__name__})"


def _redis(services: Services) -> str:
    services.redis.ping()
    version = services.redis.info("server").get("redis_version", "?")
    return f"answers PING (Redis {version})"


def _slack_token(client: WebClient) -> str:
    who = client.auth_test()
    return f"valid: bot {who.get('user_id')} in team {who.get('team_id')}"


def _channel(client: WebClient, settings: Settings) -> str:
    info = client.conversations_info(channel=settings.approval_channel)["channel"]
    name = f"#{info.get('name', settings.approval_channel)}"
    if info.get("is_archived"):
        raise _Failed(f"{name} is archived")
    if info.get("is_member") is False:
        raise _Failed(f"{name} exists, but the bot is not a member: it cannot post requests")
    return f"{name} exists and the bot is a member"


def _approvers(client: WebClient, settings: Settings) -> str:
    """Every configured approver exists and is active, every group exists and has members,
    and every rule has as many approvers as approvals: a typo in MYSAFE_BOT_APPROVERS, or a
    rule asking 3 approvals of a 2-member group, otherwise shows only when nobody can approve
    (`policy check` can count only the user IDs a file lists; Slack knows the groups)."""
    problems, people = [], set(settings.approver_users)
    for user in sorted(settings.approver_users):
        problem = _user_problem(client, user)
        if problem:
            problems.append(problem)
    groups: dict[str, set[str] | None] = {}
    for group in sorted(settings.approver_groups):
        try:
            members = _members(client, group)
        except SlackApiError as error:
            groups[group] = None
            problems.append(f"group {group}: Slack said {error.response.get('error', 'error')}")
            continue
        groups[group] = members
        if not members:
            problems.append(f"group {group} has no members")
        people.update(members)
    problems += _short_rules(client, settings, groups)
    if problems:
        raise _Failed("; ".join(problems))
    return (
        f"{len(settings.approver_users)} user(s) and {len(settings.approver_groups)} "
        f"group(s) exist: {len(people)} people can approve"
    )


def _members(client: WebClient, group: str) -> set[str]:
    return set(client.usergroups_users_list(usergroup=group)["users"])


def _short_rules(
    client: WebClient, settings: Settings, groups: dict[str, set[str] | None]
) -> list[str]:
    """The rules (of the policy file, or the settings' one rule) needing more approvals than
    they have people to give them, counting each group's members as Slack lists them now.
    A rule with a group Slack does not answer for is left out (that problem is said apart)."""
    from app.foundations.settings import is_user_group
    from app.ops.runtime import read_policy

    policy = read_policy(settings)
    short = []
    for rule in policy.rules:
        listed = [a for a in rule.approvers if is_user_group(a)]
        if rule.approvals == 0 or not listed:
            continue  # none needed, or counted from the file by `policy check` already
        people = {a for a in rule.approvers if not is_user_group(a)}
        for group in sorted(listed):
            if group not in groups:
                try:
                    groups[group] = _members(client, group)
                except SlackApiError:
                    groups[group] = None
            people |= groups[group] or set()
        if all(groups[g] is not None for g in listed) and rule.approvals > len(people):
            short.append(
                f"rule “{rule.name}” needs {rule.approvals} approvals but has "
                f"{len(people)} approver(s): no request under it could ever be approved"
            )
    return short


def _user_problem(client: WebClient, user: str) -> str | None:
    try:
        found = client.users_info(user=user)["user"]
    except SlackApiError as error:
        return f"user {user}: Slack said {error.response.get('error', 'error')}"
    if found.get("deleted"):
        return f"user {user} is deactivated"
    if found.get("is_bot"):
        return f"user {user} is a bot"
    return None


def _audit_log(services: Services, settings: Settings) -> str:
    """The public key auditors verify exports with, and how far the signed log has come.
    Reads only: a key not made yet is said to be, not made here."""
    from app.audit.checkpoints import latest
    from app.audit.log import AuditLog
    from app.foundations.clock import timestamp
    from app.foundations.signing import KEY_FILE, load_private, public_text
    from app.ops.worker import HEARTBEAT_STALE

    kept = settings.data_dir / KEY_FILE
    if settings.audit_signing_key:
        key = f"public key {public_text(load_private(settings.audit_signing_key))}"
    elif kept.is_file():
        key = (
            f"public key {public_text(load_private(kept.read_text()))} (kept in {kept}: set "
            "MYSAFE_BOT_AUDIT_SIGNING_KEY when workers run on more than one host)"
        )
    else:
        key = f"no MYSAFE_BOT_AUDIT_SIGNING_KEY: the first checkpoint makes a key in {kept}"
    log = AuditLog(services.redis, prefix=settings.key_prefix)
    last = latest(services.redis, log.keys)
    signed = f"{last.checkpoint.size if last else 0} of {log.next_seq()} record(s) signed"
    waiting = next(log.entries(after=last.last_id if last else "-", count=100), None)
    age = timestamp() - int(waiting.stream_id.split("-")[0]) / 1000 if waiting else 0.0
    if age > 2 * settings.audit_checkpoint + HEARTBEAT_STALE:
        raise _Failed(f"{key}; {signed}: the oldest unsigned one has waited {age:.0f} s")
    return f"{key}; {signed}"


def _audit_sinks(runtime: Runtime) -> str:
    """Each sink's lag: records it has not acknowledged and how old the oldest is; a sink
    further behind than MYSAFE_BOT_AUDIT_LAG_ALERT fails the check."""
    from app.foundations.durations import describe

    lines, behind = [], []
    for runner in runtime.sinks:
        lag = runner.lag()
        said = f"{runner.sink.name}: {lag.records} behind"
        if lag.records:
            said += f", the oldest waiting {describe(max(1, int(lag.seconds)))}"
        lines.append(said)
        if lag.seconds > runtime.settings.audit_lag_alert:
            behind.append(runner.sink.name)
    if behind:
        raise _Failed("; ".join(lines) + f" (over {describe(runtime.settings.audit_lag_alert)})")
    return "; ".join(lines)


def _worker(services: Services, settings: Settings) -> str:
    from app.foundations.clock import timestamp
    from app.ops.worker import HEARTBEAT_STALE, Heartbeat

    beat = Heartbeat(services.redis, prefix=settings.key_prefix).latest()
    if beat is None:
        raise _Failed("no worker has ever reported in")
    age = timestamp() - beat
    if age > HEARTBEAT_STALE:
        raise _Failed(f"the last worker heartbeat is {age:.0f} s old")
    return f"alive (last heartbeat {age:.0f} s ago)"


def _rules_with(settings: Settings, field: str) -> list[Rule]:
    """The policy file's rules that set `field` (break_glass, step_up)."""
    from app.ops.runtime import read_policy

    rules = read_policy(settings, strict=False).rules if settings.policy_path is not None else ()
    return [rule for rule in rules if getattr(rule, field)]


def _on_call(runtime: Runtime) -> str:
    """Every schedule a break-glass rule names answers, with someone on call now: otherwise
    every break-glass under that rule is refused (fail closed), found out at 3 a.m."""
    from app.foundations.errors import OnCallUnavailable

    settings, client = runtime.settings, runtime.services.on_call
    rules = _rules_with(settings, "break_glass")
    if client is None:
        raise _Failed(
            f"policy rule “{rules[0].name}” allows break-glass, but MYSAFE_BOT_ON_CALL_PROVIDER "
            "is not set: nobody can be checked to be on call, so every break-glass is refused"
        )
    schedules: dict[str, list[str]] = {}
    for rule in rules:
        assert rule.break_glass is not None
        schedules.setdefault(rule.break_glass.on_call, []).append(rule.name)
    if not schedules:
        return f"{client.provider} is set, but no policy rule allows break-glass"
    said, problems = [], []
    for schedule, names in sorted(schedules.items()):
        try:
            people = len(client.on_call(schedule).people)
        except OnCallUnavailable as error:
            problems.append(f"schedule {schedule}: {error}")
            continue
        said.append(f"schedule {schedule}: {people} on call now")
        if not people:
            problems.append(
                f"schedule {schedule} has nobody on call now: break-glass under rule "
                f"“{names[0]}” is refused until someone is"
            )
    if problems:
        raise _Failed(f"{client.provider}: " + "; ".join(problems))
    return f"{client.provider} answers: " + "; ".join(said)


def _step_up(runtime: Runtime) -> str:
    """The public URL the passkey pages are reached at, and the RP ID it binds passkeys to:
    a rule asking for step-up without one could never count an approval."""
    settings = runtime.settings
    rules = [rule.name for rule in _rules_with(settings, "step_up")]
    if not settings.public_url:
        raise _Failed(
            f"policy rule “{rules[0]}” asks for step-up with a passkey, but "
            "MYSAFE_BOT_PUBLIC_URL is not set: no approval under it could ever count"
        )
    bound = (
        f"{settings.public_url}: passkeys are bound to RP ID {runtime.engine.stepup.rp_id} "
        "(a new host means registering them again)"
    )
    if settings.public_url.startswith("http://"):
        bound += "; plain http is for a demo on localhost only"
    if not rules:
        return f"{bound}; no policy rule asks for step-up"
    return f"{bound}; step-up asked by rule(s) {', '.join(rules)}"


#: A process that said it is out of date longer ago than this has stopped or caught up.
POLICY_REPORT_FRESH = 120.0


def _policy(in_force: RulesInForce) -> str:
    """Whether this configuration's rules are the deployment's in force, and whether any
    process said lately that its own are not (it decides nothing until it is given them)."""
    from app.text import for_terminal

    why = in_force.not_in_force(publish=False)
    if why is not None:
        raise _Failed(why)
    stale = in_force.out_of_date(within=POLICY_REPORT_FRESH)
    if stale:
        named = "; ".join(f"{for_terminal(n)}: {w}" for n, w in sorted(stale.items())[:5])
        raise _Failed(f"{len(stale)} process(es) run other rules and decide nothing: {named}")
    current = in_force.in_force(publish=False)
    return f"{current} in force" if current else "no policy file published; the settings' rule"


#: Parked jobs named on doctor's line; the count says how many more there are.
PARKED_SHOWN = 5


def _parked(services: Services, settings: Settings) -> str:
    """Jobs the consumers set aside unrun: each is a command, click or form somebody was
    told "Working on …" about and that will never run."""
    from app.jobs.queue import JobQueue
    from app.text import for_terminal

    queue = JobQueue(services.redis, services.keyring, prefix=settings.key_prefix)
    count = queue.parked_count()
    if not count:
        return "none: every job taken in could be read"
    shown = [
        f"{p.job} ({for_terminal(p.kind)} of {for_terminal(p.who)}, {_when(p.at)}): {p.why}"
        for p in queue.parked(limit=PARKED_SHOWN)
    ]
    more = f"; and {count - len(shown)} more" if count > len(shown) else ""
    raise _Failed(f"{count} job(s) set aside unrun: " + "; ".join(shown) + more)


def _when(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _mysafe(settings: Settings) -> str:
    response = requests.get(
        settings.mysafe_url + "/api/mysafe/password",
        timeout=10,
        verify=settings.mysafe_ca_bundle or True,
    )
    if response.status_code in (401, 403):
        return f"answers (HTTP {response.status_code} without a token, as expected)"
    if response.status_code == 404:
        raise _Failed("HTTP 404: no MySafe API at this URL")
    if response.status_code >= 500:
        raise _Failed(f"HTTP {response.status_code}: the gateway or server is failing")
    return f"answers (HTTP {response.status_code})"


#: Said first when no Slack variable is set: a newcomer who tries `doctor` beside `make run`
#: would otherwise read six failures about a Slack app the demo does not need.
DEMO_NOTE = (
    "No Slack variable is set, so `make run` (serve) runs the demo, which needs none of the "
    "settings below. doctor checks a real set-up: see docs/slack-app.md."
)


def doctor(environ: Mapping[str, str] | None = None) -> int:
    """0 when all pass; 2 for bad settings, as every command exits on a configuration error;
    1 when a dependency fails."""
    from app.ops.demo import wanted

    if wanted(merged_environment(environ, ".env")):
        print(DEMO_NOTE, flush=True)
    failed = [check for check in _printed(run_checks(environ)) if not check.ok]
    print("all checks passed" if not failed else f"{len(failed)} check(s) failed")
    if any(check.name == "settings" for check in failed):
        return EXIT_CONFIG
    return 1 if failed else 0


def _printed(checks: Iterator[Check]) -> Iterator[Check]:
    """Each check's line as soon as it is known: a slow probe should not hide the ones before."""
    for check in checks:
        print(check.line(), flush=True)
        yield check

"""Settings: read once from the environment (and `.env`), validated, typed, frozen.

Each setting is declared once, as a field of `Settings`: its variable, its kind (how it is read,
with its bounds), its default and one line for the docs. `Settings.parse` reads every declared
field; `app.foundations.settings_table` renders the table of docs/configuration.md from the
same fields, and a test keeps the two in step.

Bad values stop start-up with one line per variable, naming it and what was expected: every
problem is collected before one `ConfigError` carries them all, so an operator fixes the whole
file in one go. Values that are each well-formed but impossible together (more approvals needed
than there are approvers) are refused the same way. The CLI turns that into exit code 2 with no
traceback.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from app.foundations import env_reader as kinds
from app.foundations.env_reader import SLACK_USER_OR_GROUP as SLACK_USER_OR_GROUP
from app.foundations.env_reader import Kind, Reader
from app.foundations.errors import ConfigError
from app.foundations.origins import Origin

#: Set by `mysafe-bot serve` in the demo (app.ops.demo): the bot's own base URL on loopback.
DEMO = "MYSAFE_BOT_DEMO"
#: Whether web processes also run jobs; `mysafe-bot serve` sets it off for its gunicorn workers.
WEB_JOBS = "MYSAFE_BOT_WEB_JOBS"
#: Whether serve's workers keep a CPU each (app.ops.cpu_pinning); the bench's ceiling follows it.
CPU_PINNING = "MYSAFE_BOT_CPU_PINNING"
SLACK_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,20}$")
ON_CALL_PROVIDER = re.compile(r"^(pagerduty|opsgenie)$")
_KEY_PREFIX = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_CHANNEL_ID = "a Slack channel ID such as C0123ABCD"
_ROTATE_CLASSES = frozenset({"lower", "upper", "digits", "symbols"})
_T = TypeVar("_T")


class Scope(Enum):
    """What a command needs: the web service needs everything, vault tools only MySafe + keys."""

    NONE = "none"
    VAULT = "vault"
    SERVICE = "service"


class Need(Enum):
    """When a setting must be set: never, for anything that reaches MySafe, for the service,
    or for the service answering Slack over HTTP (no SLACK_APP_TOKEN: no Socket Mode)."""

    OPTIONAL = "optional"
    VAULT = "vault"
    SERVICE = "service"
    HTTP = "http"

    def required(self, scope: Scope, *, http_mode: bool) -> bool:
        if self is Need.VAULT:
            return scope in (Scope.VAULT, Scope.SERVICE)
        if self is Need.SERVICE:
            return scope is Scope.SERVICE
        return self is Need.HTTP and scope is Scope.SERVICE and http_mode


@dataclass(frozen=True)
class Setting:
    """One setting's declaration (see `setting`)."""

    env: str
    kind: Kind
    doc: str
    need: Need = Need.OPTIONAL
    #: The default as the docs' table says it, where the value alone says too little.
    shown: str = ""
    #: In the docs' table: MYSAFE_BOT_DEMO is set by `serve` alone, never by an operator.
    listed: bool = True


def setting(
    env: str,
    kind: Kind,
    default: _T,
    doc: str,
    *,
    need: Need = Need.OPTIONAL,
    shown: str = "",
    listed: bool = True,
    secret: bool = False,
) -> _T:
    """A `Settings` field read from `env`: the one place its name, kind and bounds, default
    and meaning are written. A `secret` one is left out of the settings' repr."""
    spec = Setting(env, kind, doc, need, shown, listed)
    return dataclasses.field(default=default, repr=not secret, metadata={"setting": spec})


def declared() -> tuple[tuple[dataclasses.Field[Any], Setting], ...]:
    """Every field read from the environment with its declaration, in declaration order."""
    return tuple(
        (field, field.metadata["setting"])
        for field in dataclasses.fields(Settings)
        if "setting" in field.metadata
    )


def read_one(
    name: str, environ: Mapping[str, str] | None = None, *, dotenv: str | Path | None = ".env"
) -> Any:
    """One setting (a `Settings` field's name) read as `Settings.parse` reads it (`.env`
    filling in what the environment leaves unset); its default when unset or bad. For a
    process that needs one value and must not depend on the rest (gunicorn's hooks, the
    bench's ceiling)."""
    field, spec = next((f, s) for f, s in declared() if f.name == name)
    reader = Reader(merged_environment(environ, dotenv))
    return spec.kind.read(reader, spec.env, default=field.default, required=False)


def is_user_group(slack_id: str) -> bool:
    """Slack's user-group IDs start with S, people's with U or W: the one place that says so."""
    return slack_id.startswith("S")


class NamesApprovers:
    """A list of approvers (people and user groups) and the two halves of it: shared by the
    settings' one rule and each rule of a policy file."""

    approvers: frozenset[str]

    @property
    def approver_users(self) -> frozenset[str]:
        return frozenset(a for a in self.approvers if not is_user_group(a))

    @property
    def approver_groups(self) -> frozenset[str]:
        return frozenset(a for a in self.approvers if is_user_group(a))


# The order below is the order problems are named in, and the docs' table's order.
@dataclass(frozen=True)
class Settings(NamesApprovers):
    mysafe_url: str = setting(
        "MYSAFE_URL", kinds.url(), "", "base URL of the Segura server", need=Need.VAULT
    )
    encryption_keys: tuple[str, ...] = setting(
        "MYSAFE_BOT_ENCRYPTION_KEY",
        kinds.fernet_keys(),
        (),
        "Fernet key(s), comma-separated, newest first",
        need=Need.VAULT,
        shown="required (`mysafe-bot keygen`)",
        secret=True,
    )
    slack_bot_token: str = setting(
        "SLACK_BOT_TOKEN",
        kinds.token("xoxb-"),
        "",
        "`xoxb-…` bot token",
        need=Need.SERVICE,
        secret=True,
    )
    slack_signing_secret: str = setting(
        "SLACK_SIGNING_SECRET",
        kinds.text(),
        "",
        "verifies every request from Slack",
        need=Need.HTTP,
        secret=True,
    )
    slack_app_token: str = setting(
        "SLACK_APP_TOKEN",
        kinds.token("xapp-"),
        "",
        "`xapp-…`; when set, the bot also runs in Socket Mode",
        secret=True,
    )
    slack_api_url: str = setting(
        "SLACK_API_URL",
        kinds.url(slash=True),
        "https://slack.com/api/",
        "base URL of the Slack Web API",
    )
    mysafe_token_path: str = setting(
        "MYSAFE_TOKEN_PATH",
        kinds.url_path(),
        "/api/oauth2/token",
        "OAuth 2.0 token path (`/iso/oauth2/token` on some installs)",
    )
    mysafe_basic_auth: bool = setting(
        "MYSAFE_BASIC_AUTH",
        kinds.boolean(),
        False,
        "send the key as `Authorization: Basic` (older installs)",
    )
    mysafe_ca_bundle: str | None = setting(
        "MYSAFE_CA_BUNDLE",
        kinds.existing_file(),
        None,
        "CA bundle for an on-premises certificate",
        shown="system CAs",
    )
    mysafe_timeout: float = setting(
        "MYSAFE_TIMEOUT",
        kinds.number(float, low=0.1, high=300),
        10.0,
        "seconds per MySafe call",
    )
    redis_url: str | None = setting(
        "REDIS_URL",
        kinds.redis_url(),
        None,
        "`redis://`, `rediss://`, `unix://`, `redis+sentinel://host:port,…/service`, "
        "`redis+cluster://host:port,…`",
        shown="embedded Redis under `MYSAFE_BOT_DATA_DIR`",
    )
    data_dir: Path = setting(
        "MYSAFE_BOT_DATA_DIR",
        kinds.directory(),
        Path(".mysafe-bot"),
        "where the embedded Redis keeps its files, and the demo and sandbox their seed and keys "
        "(`demo.json`, mode 0600)",
        shown="`./.mysafe-bot`",
    )
    approval_channel: str = setting(
        "MYSAFE_BOT_APPROVAL_CHANNEL",
        kinds.matching(SLACK_CHANNEL, _CHANNEL_ID),
        "",
        "channel ID where requests are posted",
        need=Need.SERVICE,
    )
    approvers: frozenset[str] = setting(
        "MYSAFE_BOT_APPROVERS",
        kinds.id_list(),
        frozenset(),
        "Slack user IDs (`U…`/`W…`) and user-group IDs (`S…`)",
        need=Need.SERVICE,
    )
    approvals_required: int = setting(
        "MYSAFE_BOT_APPROVALS_REQUIRED",
        kinds.number(int, low=1, high=10),
        1,
        "distinct approvals before a change is applied; at most the number of approver user IDs "
        "unless a user group is listed",
    )
    request_ttl: int = setting(
        "MYSAFE_BOT_REQUEST_TTL",
        kinds.number(int, low=60, high=30 * 86400),
        86400,
        "seconds a request stays open",
    )
    apply_lease: int = setting(
        "MYSAFE_BOT_APPLY_LEASE",
        kinds.number(int, low=5, high=3600),
        120,
        "seconds an apply may run before the worker takes it over",
    )
    audit_maxlen: int = setting(
        "MYSAFE_BOT_AUDIT_MAXLEN",
        kinds.number(int, low=100, high=100_000_000),
        100_000,
        "most audit records Redis keeps (only records a checkpoint covers are dropped; see "
        "[audit](audit.md))",
    )
    #: The verifiable audit log (app.audit): checkpoints, their key ("" = one kept under
    #: `data_dir`) and channel, and how long Redis keeps records a checkpoint covers.
    audit_checkpoint: int = setting(
        "MYSAFE_BOT_AUDIT_CHECKPOINT",
        kinds.duration(low=10, high=86400),
        600,
        "most time between signed audit checkpoints while records wait",
    )
    audit_signing_key: str = setting(
        "MYSAFE_BOT_AUDIT_SIGNING_KEY",
        kinds.signing_key(),
        "",
        "Ed25519 key signing the checkpoints, the same for every worker (`mysafe-bot keygen --audit`)",
        shown="a key kept in `MYSAFE_BOT_DATA_DIR/audit-signing.key`",
        secret=True,
    )
    audit_channel: str = setting(
        "MYSAFE_BOT_AUDIT_CHANNEL",
        kinds.matching(SLACK_CHANNEL, _CHANNEL_ID),
        "",
        "Slack channel ID each checkpoint is also posted to, and a sink's lag alert",
        shown="unset = not posted",
    )
    audit_retention: int = setting(
        "MYSAFE_BOT_AUDIT_RETENTION",
        kinds.duration(low=3600, high=3660 * 86400),
        30 * 86400,
        "how long Redis keeps audit records a checkpoint covers",
    )
    #: Where the audit log is delivered (app.audit.sinks), and the sinks' secrets (never
    #: logged, never in a URL).
    audit_sinks: tuple[str, ...] = setting(
        "MYSAFE_BOT_AUDIT_SINKS",
        kinds.sinks(),
        (),
        "comma-separated sink URLs the audit log is delivered to: `file:///…`, "
        "`splunk+https://…`, `webhook+https://…`, `syslog+tls://HOST:PORT` (see "
        "[audit](audit.md#sinks-the-siem-export))",
        shown="unset = none",
    )
    audit_lag_alert: int = setting(
        "MYSAFE_BOT_AUDIT_LAG_ALERT",
        kinds.duration(low=60, high=7 * 86400),
        900,
        "how far behind a sink may fall before it is logged and posted to the audit channel",
    )
    audit_sink_lease: int = setting(
        "MYSAFE_BOT_AUDIT_SINK_LEASE",
        kinds.duration(low=2, high=600),
        60,
        "how long a worker that stopped (killed, its host lost) keeps its sinks before another "
        "worker takes them over; a live worker renews it, during a slow send too",
    )
    audit_hec_token: str = setting(
        "MYSAFE_BOT_AUDIT_HEC_TOKEN",
        kinds.text(),
        "",
        "the Splunk HEC token of a `splunk+https://` sink (never logged)",
        shown="required with such a sink",
        secret=True,
    )
    audit_webhook_secret: str = setting(
        "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET",
        kinds.text(min_length=16),
        "",
        "the key a `webhook+https://` sink signs its batches with",
        shown="required with such a sink",
        secret=True,
    )
    key_prefix: str = setting(
        "MYSAFE_BOT_KEY_PREFIX",
        kinds.matching(_KEY_PREFIX, "letters, digits, '_', '.', '-'"),
        "mysafe-bot",
        "prefix of every Redis key",
    )
    webhook_secret: str = setting(
        "MYSAFE_BOT_WEBHOOK_SECRET",
        kinds.text(min_length=16),
        "",
        "shared secret for the ticketing webhook",
        shown="unset = webhook off",
        secret=True,
    )
    webhook_auth: frozenset[str] = setting(
        "MYSAFE_BOT_WEBHOOK_AUTH",
        kinds.choices(frozenset({"hmac", "token"})),
        frozenset({"hmac"}),
        "`hmac`, or `hmac,token`",
    )
    callback_hosts: frozenset[Origin] = setting(
        "MYSAFE_BOT_CALLBACK_HOSTS",
        kinds.origins(),
        frozenset(),
        "where the bot may send a ticket's outcome, comma-separated: `host` (https, port 443), "
        "`host:port` (https, that port), `http://host[:port]` (plain http, allowed for that "
        "host and port only)",
        shown="none",
    )
    log_format: str = setting(
        "LOG_FORMAT", kinds.one_of("json", "text"), "json", "format of the log lines"
    )
    #: The workspace's language: channel messages many people read (approval cards, their
    #: threads) and people whose own language the bot does not speak. Read as written
    #: (lowercased); `app.i18n.resolve` turns it into the locale the bot speaks.
    bot_locale: str = setting(
        "MYSAFE_BOT_LOCALE",
        kinds.one_of("en", "pt-br", "pt_br"),
        "en",
        "the workspace's language, `en` or `pt-BR` (any case): approval cards and their "
        "threads, and people whose Slack language the bot does not speak (everyone else is "
        "answered in their own; see [languages](languages.md))",
    )
    #: How approvers hear that a request waits for them.
    tell_approvers: str = setting(
        "MYSAFE_BOT_TELL_APPROVERS",
        kinds.one_of("dm", "thread", "off"),
        "dm",
        "how approvers hear a request waits for them: `dm` (each approver, group members "
        "included), `thread` (one mention in the request's thread) or `off`",
    )
    command_rate_limit: int = setting(
        "MYSAFE_BOT_RATE_LIMIT",
        kinds.number(int, low=0, high=100_000),
        20,
        "`/mysafe` commands (and MCP calls) per person per minute; `0` = off",
    )
    mcp_port: int = setting(
        "MYSAFE_BOT_MCP_PORT",
        kinds.number(int, low=0, high=65535),
        3001,
        "port of the MCP server `serve` starts beside the web app; `0` = off",
    )
    mcp_token_ttl: int = setting(
        "MYSAFE_BOT_MCP_TOKEN_TTL",
        kinds.duration(low=60, high=366 * 86400),
        90 * 86400,
        "how long an MCP token works",
    )
    max_share_duration: int = setting(
        "MYSAFE_BOT_MAX_SHARE_DURATION",
        kinds.duration(low=60, high=366 * 86400),
        30 * 86400,
        "the longest `share … for` period",
    )
    #: `share … rotate-after`: the new password's length and character classes.
    rotate_length: int = setting(
        "MYSAFE_BOT_ROTATE_LENGTH",
        kinds.number(int, low=12, high=128),
        24,
        "length of the password `rotate-after` sets",
    )
    rotate_classes: frozenset[str] = setting(
        "MYSAFE_BOT_ROTATE_CLASSES",
        kinds.choices(_ROTATE_CLASSES),
        _ROTATE_CLASSES,
        "its character classes, at least one of each",
        shown="all four",
    )
    mcp_public_url: str = setting(
        "MYSAFE_BOT_MCP_PUBLIC_URL",
        kinds.url(),
        "",
        "the MCP server's URL as assistants reach it; required when it listens on anything but "
        "loopback",
        shown="`http://HOST:PORT` on loopback",
    )
    #: The passkey pages live under it, and WebAuthn's RP ID (its host) and origin come from it.
    public_url: str = setting(
        "MYSAFE_BOT_PUBLIC_URL",
        kinds.origin_url(),
        "",
        "the bot's origin as browsers reach it (`http://localhost…` only for the demo and "
        "tests; `mysafe-bot doctor` names the RP ID it implies): the "
        "passkey pages of [step-up](step-up.md) live there and WebAuthn's RP ID is its host; "
        "needed by a rule with `step_up: passkey`",
    )
    trusted_proxies: int = setting(
        "MYSAFE_BOT_TRUSTED_PROXIES",
        kinds.number(int, low=0, high=5),
        0,
        "proxies in front whose `X-Forwarded-For` is trusted",
    )
    webhook_rate_limit: int = setting(
        "MYSAFE_BOT_WEBHOOK_RATE_LIMIT",
        kinds.number(int, low=0, high=100_000),
        60,
        "webhook requests per sender address per minute; `0` = off",
    )
    #: None: the settings above are the one rule. The runtime reads the file's rules at
    #: start-up (app.ops.runtime.load_settings, app.approvals.policy).
    policy_path: Path | None = setting(
        "MYSAFE_BOT_POLICY",
        kinds.policy_file(),
        None,
        "YAML file of approval rules (see [policy](policy.md))",
        shown="unset = `MYSAFE_BOT_APPROVAL_CHANNEL`, `…_APPROVERS` and "
        "`…_APPROVALS_REQUIRED` are the one rule",
    )
    #: The demo's own base URL (the console signs requests to it); "" when running for real.
    demo_url: str = setting(
        DEMO, kinds.url(), "", "set by `mysafe-bot serve` for the demo", listed=False
    )
    job_visibility: int = setting(
        "MYSAFE_BOT_JOB_VISIBILITY",
        kinds.number(int, low=1, high=3600),
        30,
        "seconds a job's consumer may be silent before another consumer takes the job over "
        "(see *Durable work*)",
    )
    job_threads: int = setting(
        "MYSAFE_BOT_JOB_THREADS",
        kinds.number(int, low=1, high=256),
        16,
        "jobs one process runs at once: its own bound on concurrent MySafe calls",
    )
    job_per_person: int = setting(
        "MYSAFE_BOT_JOB_PER_PERSON",
        kinds.number(int, low=1, high=64),
        2,
        "jobs running at once for one person, across every process of the deployment",
    )
    mysafe_concurrency: int = setting(
        "MYSAFE_BOT_MYSAFE_CONCURRENCY",
        kinds.number(int, low=1, high=10_000),
        32,
        "jobs running at once across every process: the deployment's bound on concurrent work "
        "against MySafe",
    )
    web_jobs: bool = setting(
        WEB_JOBS,
        kinds.boolean(),
        True,
        "whether web processes started as plain gunicorn also run jobs beside their acks "
        "(`off`: only `mysafe-bot worker` runs them, and acks never share a process with work); "
        "`mysafe-bot serve` always turns it off, since it runs a worker of its own",
        shown="`on`",
    )
    cpu_pinning: bool = setting(
        CPU_PINNING,
        kinds.boolean(),
        True,
        "whether each web worker, and each job worker `serve` starts, is kept on a CPU of its "
        "own when there are as many CPUs as web workers (`off`: the kernel moves them as it "
        "likes); see "
        "[operating](operating.md#one-cpu-per-worker)",
        shown="`on`",
    )
    #: Seconds from storing a form's job to its first `views.update` (see app.slack.views).
    ack_settle: float = setting(
        "MYSAFE_BOT_ACK_SETTLE",
        kinds.number(float, low=0, high=3),
        1.0,
        "seconds a form's job waits before replacing the form's \"Checking…\" view, so Slack "
        "has surely shown it first (nothing tells the bot when it has)",
    )
    #: Break-glass (app.approvals.break_glass): who is on call is asked of this provider, at
    #: this base URL ("" = the provider's own), with this token, waiting at most this long.
    on_call_provider: str = setting(
        "MYSAFE_BOT_ON_CALL_PROVIDER",
        kinds.matching(ON_CALL_PROVIDER, "pagerduty or opsgenie"),
        "",
        "where break-glass asks who is on call (see [incidents](incidents.md#break-glass)); "
        "unset = break-glass is always refused",
    )
    on_call_url: str = setting(
        "MYSAFE_BOT_ON_CALL_URL",
        kinds.url(),
        "",
        "the provider's API base URL (EU Opsgenie: `https://api.eu.opsgenie.com`)",
        shown="the provider's",
    )
    on_call_token: str = setting(
        "MYSAFE_BOT_ON_CALL_TOKEN",
        kinds.text(),
        "",
        "a read-only API token: PagerDuty REST API key, or Opsgenie API integration key; "
        "required with a provider",
        secret=True,
    )
    on_call_timeout: float = setting(
        "MYSAFE_BOT_ON_CALL_TIMEOUT",
        kinds.number(float, low=0.1, high=30),
        5.0,
        "seconds the on-call check may take; slower is refused (fail closed)",
    )
    #: Everyone else is matched by the e-mail Slack's users.info gives.
    on_call_people: tuple[tuple[str, str], ...] = setting(
        "MYSAFE_BOT_ON_CALL_PEOPLE",
        kinds.people(),
        (),
        "`SLACK_ID=e-mail` pairs for people whose on-call e-mail is not their Slack e-mail",
    )
    break_glass_per_day: int = setting(
        "MYSAFE_BOT_BREAK_GLASS_PER_DAY",
        kinds.number(int, low=0, high=100),
        2,
        "break-glass openings one person may make per UTC day",
    )

    @property
    def demo(self) -> bool:
        return bool(self.demo_url)

    def mcp_url(self, *, host: str, port: int) -> str:
        """The URL assistants reach the MCP server at, when it listens on `host:port`.

        Only a loopback bind may go without `MYSAFE_BOT_MCP_PUBLIC_URL`: any other address
        (0.0.0.0 above all) is not one a client can use, so it is never made up from the bind.
        """
        if self.mcp_public_url:
            return self.mcp_public_url
        if not is_loopback(host):
            raise ConfigError(
                "MYSAFE_BOT_MCP_PUBLIC_URL",
                f"is required when the MCP server listens on {host} (not loopback): "
                "the URL assistants use, e.g. https://mysafe-bot.example.com",
            )
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        scope: Scope = Scope.SERVICE,
        dotenv: str | Path | None = ".env",
    ) -> Settings:
        """Parse and validate; raise one `ConfigError` naming every bad variable."""
        settings, problems = cls.parse(environ, scope=scope, dotenv=dotenv)
        if problems:
            raise ConfigError.of(problems)
        return settings

    @classmethod
    def parse(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        scope: Scope = Scope.SERVICE,
        dotenv: str | Path | None = ".env",
    ) -> tuple[Settings, list[ConfigError]]:
        """The settings (defaults where a value is bad) and every problem found, so that a
        caller checking more (the policy file, app.ops.runtime) names them all at once."""
        env = merged_environment(environ, dotenv)
        reader = Reader(env)
        http_mode = not env.get("SLACK_APP_TOKEN")
        settings = cls(
            **{
                field.name: spec.kind.read(
                    reader,
                    spec.env,
                    default=field.default,
                    required=spec.need.required(scope, http_mode=http_mode),
                )
                for field, spec in declared()
            }
        )
        return settings, [*reader.problems, *_contradictions(settings, reader.failed)]


def _contradictions(settings: Settings, failed: set[str]) -> Iterator[ConfigError]:
    """Values each well-formed but impossible together (skipped where one is already bad)."""
    if settings.demo and not (
        is_loopback(urlsplit(settings.demo_url).hostname or "")
        and settings.slack_api_url.startswith(settings.demo_url + "/")
    ):
        yield ConfigError(
            DEMO,
            "is set by `mysafe-bot serve` for the demo only: a loopback URL "
            "whose console SLACK_API_URL points at",
        )
    if settings.on_call_provider and not settings.on_call_token:
        yield ConfigError(
            "MYSAFE_BOT_ON_CALL_TOKEN",
            f"is required with MYSAFE_BOT_ON_CALL_PROVIDER={settings.on_call_provider}",
        )
    names = {"MYSAFE_BOT_APPROVERS", "MYSAFE_BOT_APPROVALS_REQUIRED"}
    users, needed = settings.approver_users, settings.approvals_required
    if (
        not names & failed
        and settings.approvers
        and not settings.approver_groups
        and needed > len(users)
    ):
        yield ConfigError(
            "MYSAFE_BOT_APPROVALS_REQUIRED",
            f"is {needed}, but MYSAFE_BOT_APPROVERS lists {len(users)} user(s) and no "
            "user group (S…): no request could ever be approved",
        )
    yield from _sink_secrets(settings, failed)


def _sink_secrets(settings: Settings, failed: set[str]) -> Iterator[ConfigError]:
    """A sink whose secret is missing could only ever be refused."""
    if "MYSAFE_BOT_AUDIT_SINKS" in failed:
        return
    schemes = {urlsplit(url).scheme for url in settings.audit_sinks}
    if schemes & {"splunk+https", "splunk+http"} and not settings.audit_hec_token:
        yield ConfigError(
            "MYSAFE_BOT_AUDIT_HEC_TOKEN", "is required for a splunk+https:// sink (its HEC token)"
        )
    webhook = schemes & {"webhook+https", "webhook+http"}
    if (
        webhook
        and not settings.audit_webhook_secret
        and "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET" not in failed
    ):
        yield ConfigError(
            "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET",
            "is required for a webhook+https:// sink (the key its batches are signed with)",
        )


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def merged_environment(environ: Mapping[str, str] | None, dotenv: str | Path | None) -> dict[str, str]:
    """`.env` fills in what the real environment leaves unset; the environment wins."""
    merged: dict[str, str] = {}
    if dotenv and Path(dotenv).is_file():
        from dotenv import dotenv_values

        merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged

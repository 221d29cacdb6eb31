"""Settings: read once from the environment (and `.env`), validated, typed, frozen.

Bad values stop start-up with one line per variable, naming it and what was expected: every
problem is collected before one `ConfigError` carries them all, so an operator fixes the whole
file in one go. Values that are each well-formed but impossible together (more approvals needed
than there are approvers) are refused the same way. The CLI turns that into exit code 2 with no
traceback.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from app.durations import describe, parse_duration
from app.errors import ConfigError
from app.origins import Origin, parse_entry
from app.storage import url_problem

if TYPE_CHECKING:
    from app.approvals.policy import Policy

#: Set by `mysafe-bot serve` in the demo (app.ops.demo): the bot's own base URL on loopback.
DEMO = "MYSAFE_BOT_DEMO"
#: Whether web processes also run jobs; `mysafe-bot serve` sets it off for its gunicorn workers.
WEB_JOBS = "MYSAFE_BOT_WEB_JOBS"
SLACK_USER_OR_GROUP = re.compile(r"^[UWS][A-Z0-9]{2,20}$")
SLACK_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,20}$")
ON_CALL_PROVIDER = re.compile(r"^(pagerduty|opsgenie)$")
_PERSON_EMAIL = re.compile(r"^([UW][A-Z0-9]{2,20})=([^\s@=,]+@[^\s@=,]+)$")
_T = TypeVar("_T")
#: MYSAFE_BOT_LOCALE as written (lowercased) -> the locale the bot speaks (app.i18n.LOCALES).
_LOCALES = {"en": "en", "pt-br": "pt_BR", "pt_br": "pt_BR"}


class Scope(Enum):
    """What a command needs: the web service needs everything, vault tools only MySafe + keys."""

    NONE = "none"
    VAULT = "vault"
    SERVICE = "service"


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


@dataclass(frozen=True)
class Settings(NamesApprovers):
    mysafe_url: str = ""
    encryption_keys: tuple[str, ...] = ()
    slack_bot_token: str = ""
    slack_signing_secret: str = ""
    slack_app_token: str = ""
    slack_api_url: str = "https://slack.com/api/"
    mysafe_token_path: str = "/api/oauth2/token"
    mysafe_basic_auth: bool = False
    mysafe_ca_bundle: str | None = None
    mysafe_timeout: float = 10.0
    redis_url: str | None = None
    data_dir: Path = Path(".mysafe-bot")
    approval_channel: str = ""
    approvers: frozenset[str] = frozenset()
    approvals_required: int = 1
    request_ttl: int = 86400
    apply_lease: int = 120
    audit_maxlen: int = 100_000
    #: The verifiable audit log (app.audit): seconds between signed checkpoints while records
    #: wait, the Ed25519 key that signs them ("" = one kept under `data_dir`), the channel each
    #: is posted to ("" = none), and how long Redis keeps records a checkpoint covers.
    audit_checkpoint: int = 600
    audit_signing_key: str = ""
    audit_channel: str = ""
    audit_retention: int = 30 * 86400
    #: Where the audit log is delivered (app.audit.sinks): sink URLs, how far behind a sink
    #: may fall before it is reported, and the sinks' secrets (never logged, never in a URL).
    audit_sinks: tuple[str, ...] = ()
    audit_lag_alert: int = 900
    audit_hec_token: str = dataclasses.field(default="", repr=False)
    audit_webhook_secret: str = dataclasses.field(default="", repr=False)
    key_prefix: str = "mysafe-bot"
    webhook_secret: str = ""
    webhook_auth: frozenset[str] = frozenset({"hmac"})
    callback_hosts: frozenset[Origin] = frozenset()
    log_format: str = "json"
    #: The workspace's language (MYSAFE_BOT_LOCALE): channel messages many people read
    #: (approval cards, their threads) and people whose own language the bot does not speak.
    bot_locale: str = "en"
    #: How approvers hear that a request waits for them: a DM each, a mention in the
    #: request's thread, or not at all (they watch the channel).
    tell_approvers: str = "dm"
    command_rate_limit: int = 20
    mcp_port: int = 3001
    trusted_proxies: int = 0
    mcp_public_url: str = ""
    #: The bot's own address as people's browsers reach it (`https://host`, no path): the
    #: passkey pages live under it, and WebAuthn's RP ID (its host) and origin come from it.
    public_url: str = ""
    webhook_rate_limit: int = 60
    mcp_token_ttl: int = 90 * 86400
    max_share_duration: int = 30 * 86400
    #: `share … rotate-after`: the new password's length and character classes.
    rotate_length: int = 24
    rotate_classes: frozenset[str] = frozenset({"lower", "upper", "digits", "symbols"})
    #: MYSAFE_BOT_POLICY, and the rules read from it at start-up (None: the settings above
    #: are the one rule; see app.approvals.policy).
    policy_path: Path | None = None
    policy: Policy | None = None
    #: The demo's own base URL (the console signs requests to it); "" when running for real.
    demo_url: str = ""
    #: Break-glass (app.approvals.break_glass): who is on call is asked of this provider
    #: ("pagerduty" | "opsgenie"; "" = break-glass is refused), at this base URL ("" = the
    #: provider's own), with this token, waiting at most `on_call_timeout` seconds.
    on_call_provider: str = ""
    on_call_url: str = ""
    on_call_token: str = ""
    on_call_timeout: float = 5.0
    #: Slack ID -> the e-mail the on-call provider knows them by, for people whose Slack
    #: e-mail differs (everyone else is matched by the e-mail Slack's users.info gives).
    on_call_people: tuple[tuple[str, str], ...] = ()
    #: Break-glass openings one person may make per UTC day.
    break_glass_per_day: int = 2
    #: Seconds a job's consumer may be silent before another consumer takes the job over.
    job_visibility: int = 30
    #: Jobs one process runs at once (its own bound on concurrent calls to MySafe).
    job_threads: int = 16
    #: Jobs running at once for one person, across every consumer of the deployment …
    job_per_person: int = 2
    #: … and for everyone: the deployment's bound on concurrent work against MySafe.
    mysafe_concurrency: int = 32
    #: Whether web processes run jobs beside their acks (plain gunicorn); `serve` turns it off
    #: for its workers, since it runs a worker of its own.
    web_jobs: bool = True
    #: Seconds from storing a form's job to its first `views.update` (see app.slack.views).
    ack_settle: float = 1.0

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
        env = merged_environment(environ, dotenv)
        reader = _Reader(env)
        vault = scope in (Scope.VAULT, Scope.SERVICE)
        service = scope is Scope.SERVICE
        http_mode = not env.get("SLACK_APP_TOKEN")
        settings = cls(
            mysafe_url=reader.url("MYSAFE_URL", required=vault),
            encryption_keys=reader.fernet_keys("MYSAFE_BOT_ENCRYPTION_KEY", required=vault),
            slack_bot_token=reader.token("SLACK_BOT_TOKEN", "xoxb-", required=service),
            slack_signing_secret=reader.text("SLACK_SIGNING_SECRET", required=service and http_mode),
            slack_app_token=reader.token("SLACK_APP_TOKEN", "xapp-", required=False),
            slack_api_url=reader.url("SLACK_API_URL", default=cls.slack_api_url, slash=True),
            mysafe_token_path=reader.path("MYSAFE_TOKEN_PATH", default=cls.mysafe_token_path),
            mysafe_basic_auth=reader.boolean("MYSAFE_BASIC_AUTH", default=False),
            mysafe_ca_bundle=reader.existing_file("MYSAFE_CA_BUNDLE"),
            mysafe_timeout=reader.number("MYSAFE_TIMEOUT", float, default=10.0, low=0.1, high=300),
            redis_url=reader.redis_url("REDIS_URL"),
            data_dir=reader.directory("MYSAFE_BOT_DATA_DIR", default=cls.data_dir),
            approval_channel=reader.matching(
                "MYSAFE_BOT_APPROVAL_CHANNEL",
                SLACK_CHANNEL,
                "a Slack channel ID such as C0123ABCD",
                required=service,
            ),
            approvers=reader.id_list("MYSAFE_BOT_APPROVERS", required=service),
            approvals_required=reader.number(
                "MYSAFE_BOT_APPROVALS_REQUIRED", int, default=1, low=1, high=10
            ),
            request_ttl=reader.number(
                "MYSAFE_BOT_REQUEST_TTL", int, default=86400, low=60, high=30 * 86400
            ),
            apply_lease=reader.number("MYSAFE_BOT_APPLY_LEASE", int, default=120, low=5, high=3600),
            audit_maxlen=reader.number(
                "MYSAFE_BOT_AUDIT_MAXLEN", int, default=100_000, low=100, high=100_000_000
            ),
            audit_checkpoint=reader.duration(
                "MYSAFE_BOT_AUDIT_CHECKPOINT", default=600, low=10, high=86400
            ),
            audit_signing_key=reader.signing_key("MYSAFE_BOT_AUDIT_SIGNING_KEY"),
            audit_channel=reader.matching(
                "MYSAFE_BOT_AUDIT_CHANNEL", SLACK_CHANNEL, "a Slack channel ID such as C0123ABCD"
            ),
            audit_retention=reader.duration(
                "MYSAFE_BOT_AUDIT_RETENTION", default=30 * 86400, low=3600, high=3660 * 86400
            ),
            audit_sinks=reader.sinks("MYSAFE_BOT_AUDIT_SINKS"),
            audit_lag_alert=reader.duration(
                "MYSAFE_BOT_AUDIT_LAG_ALERT", default=900, low=60, high=7 * 86400
            ),
            audit_hec_token=reader.text("MYSAFE_BOT_AUDIT_HEC_TOKEN", required=False),
            audit_webhook_secret=reader.text(
                "MYSAFE_BOT_AUDIT_WEBHOOK_SECRET", required=False, min_length=16
            ),
            key_prefix=reader.matching(
                "MYSAFE_BOT_KEY_PREFIX",
                re.compile(r"^[A-Za-z0-9_.-]{1,40}$"),
                "letters, digits, '_', '.', '-'",
                default="mysafe-bot",
            ),
            webhook_secret=reader.text("MYSAFE_BOT_WEBHOOK_SECRET", required=False, min_length=16),
            webhook_auth=reader.choices(
                "MYSAFE_BOT_WEBHOOK_AUTH", {"hmac", "token"}, default=frozenset({"hmac"})
            ),
            callback_hosts=reader.origins("MYSAFE_BOT_CALLBACK_HOSTS"),
            log_format=reader.one_of("LOG_FORMAT", ("json", "text"), default="json"),
            bot_locale=_LOCALES[reader.one_of("MYSAFE_BOT_LOCALE", tuple(_LOCALES), default="en")],
            tell_approvers=reader.one_of(
                "MYSAFE_BOT_TELL_APPROVERS", ("dm", "thread", "off"), default="dm"
            ),
            command_rate_limit=reader.number(
                "MYSAFE_BOT_RATE_LIMIT", int, default=20, low=0, high=100_000
            ),
            mcp_port=reader.number("MYSAFE_BOT_MCP_PORT", int, default=3001, low=0, high=65535),
            mcp_token_ttl=reader.duration(
                "MYSAFE_BOT_MCP_TOKEN_TTL", default=90 * 86400, low=60, high=366 * 86400
            ),
            max_share_duration=reader.duration(
                "MYSAFE_BOT_MAX_SHARE_DURATION", default=30 * 86400, low=60, high=366 * 86400
            ),
            rotate_length=reader.number("MYSAFE_BOT_ROTATE_LENGTH", int, default=24, low=12, high=128),
            rotate_classes=reader.choices(
                "MYSAFE_BOT_ROTATE_CLASSES",
                {"lower", "upper", "digits", "symbols"},
                default=frozenset({"lower", "upper", "digits", "symbols"}),
            ),
            mcp_public_url=reader.url("MYSAFE_BOT_MCP_PUBLIC_URL"),
            public_url=reader.origin_url("MYSAFE_BOT_PUBLIC_URL"),
            trusted_proxies=reader.number("MYSAFE_BOT_TRUSTED_PROXIES", int, default=0, low=0, high=5),
            webhook_rate_limit=reader.number(
                "MYSAFE_BOT_WEBHOOK_RATE_LIMIT", int, default=60, low=0, high=100_000
            ),
            policy_path=reader.policy_file("MYSAFE_BOT_POLICY"),
            demo_url=reader.url(DEMO),
            job_visibility=reader.number(
                "MYSAFE_BOT_JOB_VISIBILITY", int, default=30, low=1, high=3600
            ),
            job_threads=reader.number("MYSAFE_BOT_JOB_THREADS", int, default=16, low=1, high=256),
            job_per_person=reader.number("MYSAFE_BOT_JOB_PER_PERSON", int, default=2, low=1, high=64),
            mysafe_concurrency=reader.number(
                "MYSAFE_BOT_MYSAFE_CONCURRENCY", int, default=32, low=1, high=10_000
            ),
            web_jobs=reader.boolean("MYSAFE_BOT_WEB_JOBS", default=True),  # = WEB_JOBS
            ack_settle=reader.number("MYSAFE_BOT_ACK_SETTLE", float, default=1.0, low=0, high=3),
            on_call_provider=reader.matching(
                "MYSAFE_BOT_ON_CALL_PROVIDER", ON_CALL_PROVIDER, "pagerduty or opsgenie"
            ),
            on_call_url=reader.url("MYSAFE_BOT_ON_CALL_URL"),
            on_call_token=reader.text("MYSAFE_BOT_ON_CALL_TOKEN", required=False),
            on_call_timeout=reader.number(
                "MYSAFE_BOT_ON_CALL_TIMEOUT", float, default=5.0, low=0.1, high=30
            ),
            on_call_people=reader.people("MYSAFE_BOT_ON_CALL_PEOPLE"),
            break_glass_per_day=reader.number(
                "MYSAFE_BOT_BREAK_GLASS_PER_DAY", int, default=2, low=0, high=100
            ),
        )
        problems = [*reader.problems, *_contradictions(settings, reader.failed)]
        settings = _with_policy(settings, problems, strict=service)
        if problems:
            raise ConfigError.of(problems)
        return settings


def _with_policy(settings: Settings, problems: list[ConfigError], *, strict: bool) -> Settings:
    """Read the policy file once, at start-up: its first problem joins the others."""
    if settings.policy_path is None:
        return settings
    from app.approvals.policy import Defaults, load_policy

    try:
        policy = load_policy(
            settings.policy_path, Defaults.of(settings), strict=strict, keep_last_good=True
        )
    except ConfigError as problem:
        problems.append(problem)
        return settings
    stepping = [rule.name for rule in policy.rules if rule.step_up]
    if stepping and strict and not settings.public_url:
        problems.append(
            ConfigError(
                "MYSAFE_BOT_PUBLIC_URL",
                f"is required: policy rule “{stepping[0]}” asks for step-up with a passkey, "
                "confirmed on the bot's own page (e.g. https://mysafe-bot.example.com)",
            )
        )
    return dataclasses.replace(settings, policy=policy)


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


def _recorded(fallback: Any = None) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Make a getter record its variable's `ConfigError` and go on with the default (or
    `fallback`), so that one start-up names every bad variable, not just the first."""

    def decorate(read: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(read)
        def reading(self: _Reader, name: str, *args: Any, **kwargs: Any) -> _T:
            try:
                return read(self, name, *args, **kwargs)
            except ConfigError as problem:
                if name not in self.failed:
                    self.failed.add(name)
                    self.problems.append(problem)
                return kwargs.get("default", fallback)

        return reading

    return decorate


class _Reader:
    """Typed getters over one environment mapping; each records a problem for its variable."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[ConfigError] = []
        self.failed: set[str] = set()

    def raw(self, name: str) -> str:
        return (self.env.get(name) or "").strip()

    @_recorded("")
    def text(self, name: str, *, required: bool, min_length: int = 1) -> str:
        value = self.raw(name)
        if not value:
            if required:
                raise ConfigError(name, "is required")
            return ""
        if len(value) < min_length:
            raise ConfigError(name, f"must be at least {min_length} characters")
        return value

    @_recorded("")
    def token(self, name: str, prefix: str, *, required: bool) -> str:
        value = self.text(name, required=required)
        if value and not value.startswith(prefix):
            raise ConfigError(name, f"expected a token starting with {prefix!r}")
        return value

    @_recorded("")
    def url(self, name: str, *, required: bool = False, default: str = "", slash: bool = False) -> str:
        value = self.raw(name) or default
        if not value:
            if required:
                raise ConfigError(name, "is required (e.g. https://segura.example.com)")
            return ""
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(name, "expected an http(s) URL such as https://segura.example.com")
        value = value.rstrip("/")
        return value + "/" if slash else value

    @_recorded("")
    def origin_url(self, name: str) -> str:
        """An origin a browser can use for WebAuthn: `https://host[:port]` with no path, or
        `http://localhost[:port]` (browsers treat localhost as secure: the demo, tests)."""
        value = self.raw(name).rstrip("/")
        if not value:
            return ""
        parts = urlsplit(value)
        local = parts.scheme == "http" and parts.hostname == "localhost"
        if (parts.scheme != "https" and not local) or not parts.hostname:
            raise ConfigError(
                name,
                "expected an https:// URL such as https://mysafe-bot.example.com "
                "(http:// only for localhost)",
            )
        if parts.path or parts.query or parts.fragment or parts.username:
            raise ConfigError(
                name,
                "expected the bot's origin only, with no path, e.g. https://mysafe-bot.example.com",
            )
        return value

    @_recorded()
    def path(self, name: str, *, default: str) -> str:
        value = self.raw(name) or default
        if not value.startswith("/") or " " in value:
            raise ConfigError(name, "expected a URL path starting with '/'")
        return value

    @_recorded()
    def boolean(self, name: str, *, default: bool) -> bool:
        value = self.raw(name).lower()
        if not value:
            return default
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigError(name, "expected true or false")

    @_recorded()
    def number(
        self, name: str, kind: Callable[[str], Any], *, default: Any, low: float, high: float
    ) -> Any:
        value = self.raw(name)
        if not value:
            return default
        try:
            number = kind(value)
        except ValueError:
            raise ConfigError(name, f"expected a number between {low} and {high}") from None
        if not low <= number <= high:
            raise ConfigError(name, f"expected a number between {low} and {high}")
        return number

    @_recorded()
    def duration(self, name: str, *, default: int, low: int, high: int) -> int:
        """`90d`, `12h`, `1d12h` or seconds, between `low` and `high` seconds."""
        value = self.raw(name)
        if not value:
            return default
        try:
            seconds = parse_duration(value)
        except ValueError as error:
            raise ConfigError(name, str(error)) from None
        if not low <= seconds <= high:
            raise ConfigError(name, f"expected between {describe(low)} and {describe(high)}")
        return seconds

    @_recorded()
    def existing_file(self, name: str) -> str | None:
        value = self.raw(name)
        if value and not Path(value).is_file():
            raise ConfigError(name, f"no such file: {value}")
        return value or None

    @_recorded()
    def policy_file(self, name: str) -> Path | None:
        value = self.existing_file(name)
        return Path(value) if value else None

    @_recorded(())
    def fernet_keys(self, name: str, *, required: bool) -> tuple[str, ...]:
        keys = tuple(self.csv(name))
        if not keys:
            if required:
                raise ConfigError(name, "is required (run `mysafe-bot keygen` to make one)")
            return ()
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key)
            except (ValueError, TypeError):
                raise ConfigError(
                    name, f"key {position} is not a Fernet key (run `mysafe-bot keygen`)"
                ) from None
        return keys

    @_recorded("")
    def signing_key(self, name: str) -> str:
        """An Ed25519 private key as `mysafe-bot keygen --audit` prints it, or ""."""
        value = self.raw(name)
        if value:
            from app.audit.signing import load_private

            try:
                load_private(value)
            except ValueError:
                raise ConfigError(
                    name, "is not an Ed25519 key (run `mysafe-bot keygen --audit`)"
                ) from None
        return value

    @_recorded()
    def redis_url(self, name: str) -> str | None:
        value = self.raw(name)
        if not value:
            return None
        problem = url_problem(value)
        if problem:
            raise ConfigError(name, problem)
        return value

    @_recorded()
    def directory(self, name: str, *, default: Path) -> Path:
        """A directory to create if missing: refused when it, or the nearest existing parent,
        is a file (the embedded Redis would fail there with a traceback)."""
        path = Path(self.raw(name) or default)
        existing = next((p for p in (path, *path.parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise ConfigError(name, "expected a directory, and this path is (inside) a file")
        return path

    @_recorded(frozenset())
    def origins(self, name: str) -> frozenset[Origin]:
        """Callback origins (see `app.origins`): https on 443 unless an entry says
        otherwise."""
        found = set()
        for position, entry in enumerate(self.csv(name), start=1):
            try:
                found.add(parse_entry(entry))
            except ValueError as error:
                raise ConfigError(name, f"entry {position}: {error} (see deploy/env.example)") from None
        return frozenset(found)

    @_recorded("")
    def matching(
        self,
        name: str,
        pattern: re.Pattern[str],
        expected: str,
        *,
        required: bool = False,
        default: str = "",
    ) -> str:
        value = self.raw(name) or default
        if not value:
            if required:
                raise ConfigError(name, f"is required ({expected})")
            return ""
        if not pattern.match(value):
            raise ConfigError(name, f"expected {expected}")
        return value

    @_recorded(())
    def sinks(self, name: str) -> tuple[str, ...]:
        """Audit sink URLs (app.audit.sinks.config), each once."""
        from app.audit.sinks.base import public_name
        from app.audit.sinks.config import problem

        urls = tuple(self.csv(name))
        for position, url in enumerate(urls, start=1):
            found = problem(url)
            if found:
                raise ConfigError(name, f"sink {position}: {found}")
        names = [public_name(u) for u in urls]
        if len(set(names)) != len(names):
            raise ConfigError(name, "names one sink twice (each keeps its own position)")
        return urls

    def csv(self, name: str) -> list[str]:
        return [item.strip() for item in self.raw(name).split(",") if item.strip()]

    @_recorded(frozenset())
    def id_list(self, name: str, *, required: bool) -> frozenset[str]:
        ids = self.csv(name)
        if not ids and required:
            raise ConfigError(
                name, "is required (comma-separated Slack user IDs U…/W… or user-group IDs S…)"
            )
        bad = [i for i in ids if not SLACK_USER_OR_GROUP.match(i)]
        if bad:
            raise ConfigError(name, f"{bad[0]!r} is not a Slack user ID (U…/W…) or user-group ID (S…)")
        return frozenset(ids)

    @_recorded(())
    def people(self, name: str) -> tuple[tuple[str, str], ...]:
        """`U0ALICE=alice@example.com,…`: Slack IDs and the e-mails another system knows."""
        found = []
        for item in self.csv(name):
            match = _PERSON_EMAIL.match(item)
            if match is None:
                raise ConfigError(
                    name, "expected SLACK_ID=e-mail pairs, e.g. U0ALICE=alice@example.com"
                )
            found.append((match.group(1), match.group(2).casefold()))
        return tuple(found)

    @_recorded()
    def choices(self, name: str, allowed: set[str], *, default: frozenset[str]) -> frozenset[str]:
        values = self.csv(name)
        if not values:
            return default
        bad = [v for v in values if v not in allowed]
        if bad:
            raise ConfigError(name, f"expected a comma-separated subset of {sorted(allowed)}")
        return frozenset(values)

    @_recorded()
    def one_of(self, name: str, allowed: tuple[str, ...], *, default: str) -> str:
        value = self.raw(name).lower() or default
        if value not in allowed:
            raise ConfigError(name, f"expected one of {', '.join(allowed)}")
        return value

"""Reading one environment variable: typed getters, and the kinds settings are declared with.

`Reader` holds a getter per kind of value (a number between bounds, a duration, a URL, a list
of Slack IDs…); each turns a bad value into one `ConfigError` naming the variable and what was
expected, records it, and goes on with the default. A `Kind` is one getter with its fixed
arguments (the bounds, the allowed values) and the phrase the docs' table shows for it:
`app.foundations.settings` declares each setting with one, so the bounds are written once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from app.foundations.durations import describe, parse_duration
from app.foundations.errors import ConfigError
from app.foundations.origins import Origin, parse_entry
from app.foundations.signing import load_private
from app.foundations.sink_urls import problem, public_name
from app.foundations.storage import url_problem

SLACK_USER_OR_GROUP = re.compile(r"^[UWS][A-Z0-9]{2,20}$")
_PERSON_EMAIL = re.compile(r"^([UW][A-Z0-9]{2,20})=([^\s@=,]+@[^\s@=,]+)$")
_T = TypeVar("_T")


def _recorded(fallback: Any = None) -> Callable[[Callable[..., _T]], Callable[..., _T]]:
    """Make a getter record its variable's `ConfigError` and go on with the default (or
    `fallback`), so that one start-up names every bad variable, not just the first."""

    def decorate(read: Callable[..., _T]) -> Callable[..., _T]:
        @functools.wraps(read)
        def reading(self: Reader, name: str, *args: Any, **kwargs: Any) -> _T:
            try:
                return read(self, name, *args, **kwargs)
            except ConfigError as problem:
                if name not in self.failed:
                    self.failed.add(name)
                    self.problems.append(problem)
                return kwargs.get("default", fallback)

        return reading

    return decorate


class Reader:
    """Typed getters over one environment mapping; each records a problem for its variable
    and returns the default, so one start-up names every bad variable."""

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
        """Callback origins (see `app.foundations.origins`): https on 443 unless an entry says
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
        """Audit sink URLs (app.foundations.sink_urls), each once."""
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
    def choices(self, name: str, allowed: Set[str], *, default: frozenset[str]) -> frozenset[str]:
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


# --- kinds: a getter with its fixed arguments, for declaring a setting ------------------------


@dataclass(frozen=True)
class Kind:
    """How one variable is read (a `Reader` getter and its fixed arguments) and what the docs
    say it accepts. `default`/`required` are passed only to getters that take them."""

    getter: Callable[..., Any]
    accepts: str
    args: tuple[Any, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    takes_default: bool = False
    takes_required: bool = False

    def read(self, reader: Reader, name: str, *, default: Any, required: bool) -> Any:
        """The variable's value, or `default` when it is unset or bad (a problem recorded)."""
        options = dict(self.options)
        if self.takes_default:
            options["default"] = default
        if self.takes_required:
            options["required"] = required
        return self.getter(reader, name, *self.args, **options)


def text(*, min_length: int = 1) -> Kind:
    accepts = f"at least {min_length} characters" if min_length > 1 else "text"
    options = (("min_length", min_length),) if min_length > 1 else ()
    return Kind(Reader.text, accepts, options=options, takes_required=True)


def token(prefix: str) -> Kind:
    return Kind(Reader.token, f"`{prefix}…`", args=(prefix,), takes_required=True)


def url(*, slash: bool = False) -> Kind:
    options = (("slash", True),) if slash else ()
    return Kind(Reader.url, "http(s) URL", options=options, takes_default=True, takes_required=True)


def origin_url() -> Kind:
    return Kind(Reader.origin_url, "`https://host[:port]`, no path")


def url_path() -> Kind:
    return Kind(Reader.path, "URL path (`/…`)", takes_default=True)


def boolean() -> Kind:
    return Kind(Reader.boolean, "true/false, on/off, yes/no, 1/0", takes_default=True)


def number(kind: Callable[[str], Any], *, low: float, high: float) -> Kind:
    name = "integer" if kind is int else "number"
    return Kind(
        Reader.number,
        f"{name}, {low} to {high}",
        args=(kind,),
        options=(("low", low), ("high", high)),
        takes_default=True,
    )


def duration(*, low: int, high: int) -> Kind:
    return Kind(
        Reader.duration,
        f"duration (`90d`, `12h`, `1d12h`, seconds), {describe(low)} to {describe(high)}",
        options=(("low", low), ("high", high)),
        takes_default=True,
    )


def existing_file() -> Kind:
    return Kind(Reader.existing_file, "path of an existing file")


def policy_file() -> Kind:
    return Kind(Reader.policy_file, "path of an existing YAML file")


def fernet_keys() -> Kind:
    return Kind(Reader.fernet_keys, "Fernet keys, comma-separated", takes_required=True)


def signing_key() -> Kind:
    return Kind(Reader.signing_key, "Ed25519 private key")


def redis_url() -> Kind:
    return Kind(Reader.redis_url, "Redis URL")


def directory() -> Kind:
    return Kind(Reader.directory, "directory (created if missing)", takes_default=True)


def origins() -> Kind:
    return Kind(Reader.origins, "`host`, `host:port`, `http://host[:port]`, comma-separated")


def matching(pattern: re.Pattern[str], expected: str) -> Kind:
    return Kind(
        Reader.matching, expected, args=(pattern, expected), takes_default=True, takes_required=True
    )


def sinks() -> Kind:
    return Kind(Reader.sinks, "sink URLs, comma-separated, each once")


def id_list() -> Kind:
    return Kind(Reader.id_list, "Slack IDs `U…`/`W…`/`S…`, comma-separated", takes_required=True)


def people() -> Kind:
    return Kind(Reader.people, "`SLACK_ID=e-mail` pairs, comma-separated")


def choices(allowed: frozenset[str]) -> Kind:
    listed = ", ".join(f"`{a}`" for a in sorted(allowed))
    return Kind(
        Reader.choices, f"some of {listed}, comma-separated", args=(allowed,), takes_default=True
    )


def one_of(*allowed: str) -> Kind:
    listed = ", ".join(f"`{a}`" for a in allowed)
    return Kind(Reader.one_of, f"one of {listed}", args=(allowed,), takes_default=True)

"""Where the bot may send a ticket's outcome: an allow-list of origins (scheme, host, port).

`MYSAFE_BOT_CALLBACK_HOSTS` lists entries, comma-separated:

    tickets.example.com            https, port 443 only
    tickets.example.com:8443       https, port 8443 only
    https://tickets.example.com    the same as the first line
    http://ci.internal:8080        plain http, port 8080 only (`http://host` alone: port 80)

A callback URL is allowed only when its scheme, host and port are all those of one entry: naming
a host never opens its other ports (Redis on 6379, an admin console) or plain http to it.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class Origin:
    """A scheme, a lower-case host name and a port: what a callback may be sent to."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_entry(text: str) -> Origin:
    """One allow-list entry; `ValueError` says what is wrong, without quoting the entry."""
    explicit = "://" in text
    try:
        parts = urlsplit(text if explicit else f"https://{text}")
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError("only https:// (the default) or http:// may be given")
    if "@" in parts.netloc:
        raise ValueError("a host name, optionally :port, without a user or password")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("a host name, optionally :port, without a path")
    if not parts.hostname or "*" in parts.hostname:
        raise ValueError("expected a host name such as tickets.example.com (no wildcards)")
    if port == 0:
        raise ValueError("the port must be a number from 1 to 65535")
    return Origin(parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme])


def origin_of(url: str) -> Origin | None:
    """The origin a URL would be sent to, or None when it is not an http(s) URL we could call."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return Origin(parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme])


def allowed(url: str, origins: Collection[Origin]) -> bool:
    """Whether `url` goes to exactly one of `origins` (scheme, host and port all equal)."""
    origin = origin_of(url)
    return origin is not None and origin in origins

"""What an audit sink URL (`MYSAFE_BOT_AUDIT_SINKS`) may say, read in one place.

The settings check each URL with `problem` when they are read, and each sink reads its own
options with the same functions when it is built (app.audit.sinks), so a URL the settings took
is one a sink can be built from, and the two never disagree. Nothing here opens a connection.

    file:///var/log/mysafe-bot/audit.jsonl[?max_bytes=N&keep=K]      OCSF JSON lines
    splunk+https://splunk.example.com:8088[?batch=N&index=I]         Splunk HEC
    webhook+https://siem.example.com/ingest                          signed webhook
    syslog+tls://siem.example.com:6514[?ca=/path/ca.pem]             RFC 5424/5425, CEF

`splunk+http` and `webhook+http` are accepted for a loopback host only (a collector on the same
host, and the tests). Secrets never appear in the URL: the HEC token and the webhook key are
their own settings, which are never logged.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

SCHEMES = ("file", "splunk+https", "splunk+http", "webhook+https", "webhook+http", "syslog+tls")


def public_name(url: str) -> str:
    """scheme://host[:port]/path: what may be shown and stored of a sink's URL (no user,
    password or query, where a careless operator might have put a token)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def problem(url: str) -> str | None:
    """What is wrong with one sink URL, or None."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        return f"{public_name(url)!r}: the scheme is one of {', '.join(SCHEMES)}"
    if parts.username or parts.password:
        return f"{public_name(url)!r}: no credentials in the URL (see MYSAFE_BOT_AUDIT_HEC_TOKEN)"
    if parts.scheme == "file":
        if not parts.path.startswith("/"):
            return f"{public_name(url)!r}: file:///absolute/path"
        return _options_problem(url)
    if not parts.hostname:
        return f"{public_name(url)!r}: names no host"
    if parts.scheme.endswith("+http") and not _loopback(parts.hostname):
        return f"{public_name(url)!r}: plain http is for a loopback host only; use https"
    if parts.scheme == "syslog+tls" and not parts.port:
        return f"{public_name(url)!r}: syslog+tls://HOST:PORT (6514 is syslog over TLS's port)"
    return _options_problem(url)


@dataclass(frozen=True)
class FileOptions:
    path: Path
    max_bytes: int
    keep: int


def file_options(url: str) -> FileOptions:
    """`file:///PATH?max_bytes=N&keep=K` (100 MB and 10 copies by default)."""
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost") or not parts.path:
        raise ValueError("a file sink is file:///absolute/path")
    query = parse_qs(parts.query)
    try:
        max_bytes = int(query.get("max_bytes", ["100000000"])[0])
        keep = int(query.get("keep", ["10"])[0])
    except ValueError:
        raise ValueError("max_bytes and keep are whole numbers") from None
    if max_bytes < 1 or keep < 1:
        raise ValueError("max_bytes and keep are positive")
    return FileOptions(Path(unquote(parts.path)), max_bytes, keep)


def hec_batch(url: str) -> int:
    """`?batch=N`: events per HEC POST (100 by default)."""
    batch = parse_qs(urlsplit(url).query).get("batch", ["100"])[0]
    if not batch.isdigit() or not 1 <= int(batch) <= 10_000:
        raise ValueError("batch is a number of events from 1 to 10000")
    return int(batch)


def tls_context(url: str) -> ssl.SSLContext:
    """The TLS context a `syslog+tls://` sink verifies its collector with (`?ca=` a CA file,
    the system's store otherwise)."""
    parts = urlsplit(url)
    if not parts.hostname or not parts.port:
        raise ValueError("a syslog+tls:// sink names a host and a port")
    ca = parse_qs(parts.query).get("ca", [None])[0]
    try:
        return ssl.create_default_context(cafile=ca)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"cannot read the CA file {ca}: {error.strerror or error}") from None


def _options_problem(url: str) -> str | None:
    """A sink's own options (sizes, a CA file) as the sink reads them."""
    scheme = urlsplit(url).scheme
    try:
        if scheme == "file":
            file_options(url)
        elif scheme.startswith("splunk+"):
            hec_batch(url)
        elif scheme == "syslog+tls":
            tls_context(url)
    except ValueError as error:
        return f"{public_name(url)!r}: {error}"
    return None


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

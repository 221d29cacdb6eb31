"""`MYSAFE_BOT_AUDIT_SINKS`: each URL's scheme picks the sink.

    file:///var/log/mysafe-bot/audit.jsonl[?max_bytes=N&keep=K]      OCSF JSON lines (file.py)
    splunk+https://splunk.example.com:8088[?batch=N&index=I]         Splunk HEC (hec.py)
    webhook+https://siem.example.com/ingest                          signed webhook (webhook.py)
    syslog+tls://siem.example.com:6514[?ca=/path/ca.pem]             RFC 5424/5425, CEF (syslog.py)

`splunk+http` and `webhook+http` are accepted for a loopback host only (a collector on the same
host, and the tests). Secrets never appear in the URL: the HEC token and the webhook key are
their own settings, which are never logged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

from app.audit.sinks.base import Sink, public_name

SCHEMES = ("file", "splunk+https", "splunk+http", "webhook+https", "webhook+http", "syslog+tls")


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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


def _options_problem(url: str) -> str | None:
    """A sink's own options (sizes, a CA file) as its constructor reads them: no network."""
    try:
        build((url,), hec_token="-", webhook_sign=lambda body: {})[0].close()
    except (ValueError, OSError) as error:
        return f"{public_name(url)!r}: {error}"
    return None


def build(
    urls: tuple[str, ...],
    *,
    hec_token: str,
    webhook_sign: Callable[[bytes], dict[str, str]],
) -> list[Sink]:
    """The sinks the URLs name (each already checked by the settings)."""
    from app.audit.sinks.file import FileSink
    from app.audit.sinks.hec import HecSink
    from app.audit.sinks.syslog import SyslogSink
    from app.audit.sinks.webhook import WebhookSink

    sinks: list[Sink] = []
    for url in urls:
        scheme = urlsplit(url).scheme
        if scheme == "file":
            sinks.append(FileSink(url))
        elif scheme.startswith("splunk+"):
            sinks.append(HecSink(url, token=hec_token))
        elif scheme.startswith("webhook+"):
            sinks.append(WebhookSink(url, sign=webhook_sign))
        elif scheme == "syslog+tls":
            sinks.append(SyslogSink(url))
        else:
            raise ValueError(f"{public_name(url)!r}: not a sink scheme")
    return sinks

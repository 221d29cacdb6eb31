"""`MYSAFE_BOT_AUDIT_SINKS`: each URL's scheme picks the sink (what a URL may say, and each
sink's options: app.foundations.sink_urls, which the settings check the URLs with)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from app.audit.sinks.base import Sink
from app.foundations.sink_urls import public_name


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

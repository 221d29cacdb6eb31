"""urllib3 connection pools for the bot's two ways of talking to Slack (the Web API and the
`response_url` answers), one `PoolManager` per proxy, kept open between calls.

Both go through urllib3 itself, the pool `requests` sits on: `requests`' own layers
(sessions, hooks, prepared requests, environment merging) cost more CPU than the exchange
they wrap (`benchmarks/README.md`, issue #33). What `requests` gave is kept where it is set:
the CA bundle the environment names (`ca_bundle`), else certifi's; certificates always
verified.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import certifi
import urllib3


def ca_bundle() -> str | None:
    """The CA bundle the environment names for outgoing HTTPS, as `requests` reads it."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def verified(**options: Any) -> dict[str, Any]:
    """Pool options that verify every certificate against `ca_bundle` (else certifi's)."""
    return {"cert_reqs": "CERT_REQUIRED", "ca_certs": ca_bundle() or certifi.where(), **options}


class Pools:
    """One `PoolManager` per proxy ("" for none), made on first use; thread-safe."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._pools: dict[str, urllib3.PoolManager] = {}
        self._lock = threading.Lock()

    def through(self, proxy: str) -> urllib3.PoolManager:
        with self._lock:
            if proxy not in self._pools:
                self._pools[proxy] = (
                    urllib3.ProxyManager(proxy, **self._options)
                    if proxy
                    else urllib3.PoolManager(**self._options)
                )
            return self._pools[proxy]

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.clear()

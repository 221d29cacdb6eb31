"""urllib3 connection pools for the bot's outgoing HTTP to Slack (the Web API, `response_url`
answers) and to MySafe: one `PoolManager` per proxy, connections kept open between calls.

They go through urllib3 itself, the pool `requests` sits on: with `requests`' own layers
(sessions, prepared requests, hooks, adapters, environment merging) a call cost 1.4 to 1.7
times the CPU (`benchmarks/README.md`, issue #33). What `requests` read from the environment is read
here the same way: the proxy for each host (`HTTPS_PROXY`, `NO_PROXY`, …, once per host), the
CA bundle (`REQUESTS_CA_BUNDLE`, `CURL_CA_BUNDLE`, else certifi's); certificates are always
verified.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import certifi
import requests
import urllib3


def ca_bundle() -> str | None:
    """The CA bundle the environment names for outgoing HTTPS, as `requests` reads it."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


def verified(*, ca_certs: str | None = None, **options: Any) -> dict[str, Any]:
    """Pool options that verify every certificate against `ca_certs`, else `ca_bundle`, else
    certifi's."""
    return {
        "cert_reqs": "CERT_REQUIRED",
        "ca_certs": ca_certs or ca_bundle() or certifi.where(),
        **options,
    }


def environ_proxy(url: str) -> str:
    """The proxy the environment gives `url`'s host ("" for none, or when `NO_PROXY` lists
    it), as `requests` finds it on each call."""
    parts = urlsplit(url)
    return _proxies(f"{parts.scheme}://{parts.netloc}/").get(parts.scheme.lower(), "")


@lru_cache(maxsize=64)
def _proxies(scheme_and_host: str) -> dict[str, str]:
    return dict(requests.utils.get_environ_proxies(scheme_and_host))


def cause(error: BaseException) -> BaseException:
    """What went wrong in a call through these pools: the last try's error once urllib3's
    retries are spent (it wraps it in `MaxRetryError`), else the error itself."""
    if isinstance(error, urllib3.exceptions.MaxRetryError) and error.reason is not None:
        return error.reason
    return error


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

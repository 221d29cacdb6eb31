"""Which registry `/metrics` reads: the process's own, or the multiprocess directory.

Under gunicorn with several workers each worker counts on its own; prometheus-client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR set before the workers start) adds them up.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector


def registry() -> CollectorRegistry:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = CollectorRegistry()
        MultiProcessCollector(collected)
        return collected
    return REGISTRY

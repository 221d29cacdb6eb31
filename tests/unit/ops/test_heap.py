"""A started process of the bot leaves what it built at start-up out of the garbage
collector's full passes (`app.ops.heap`): measured under a flood of acks, one full pass walked
a web worker's hundred thousand start-up objects for 144–181 ms, in both workers at once, and
was that run's p99 (`benchmarks/README.md`, issue #33).

Each test runs in a fresh interpreter, as the process starts, so nothing is frozen in the
test's own."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.support.processes import fresh_interpreter

#: Prints what a full pass walks and what it leaves alone, before and after the code given.
_MEASURE = textwrap.dedent(
    """
    import gc, json

    def heap():
        return {"walked": len(gc.get_objects()), "frozen": gc.get_freeze_count()}

    {start}
    print(json.dumps(result))
    """
)

#: A gunicorn web worker: the app built (gunicorn's `load`), then its post_worker_init hook.
_WEB_WORKER = """
from app import create_app
from app.ops.gunicorn_conf import post_worker_init

create_app()
built = heap()
post_worker_init(None)
result = {"built": built, "serving": heap()}
"""

#: `mysafe-bot worker`'s own function, one pass.
_JOB_WORKER = """
from app.ops.worker import run_worker

assert run_worker(interval=0.01, once=True) == 0
result = {"serving": heap()}
"""


def started(start: str, env: dict[str, str], tmp_path: Path) -> dict:
    script = _MEASURE.replace("{start}", textwrap.dedent(start))
    return json.loads(fresh_interpreter(script, env, tmp_path).stdout.splitlines()[-1])


@pytest.mark.slow
def test_a_web_worker_leaves_its_app_out_of_the_collectors_passes(
    slack_env: dict[str, str], redis, tmp_path: Path
) -> None:
    measured = started(_WEB_WORKER, slack_env, tmp_path)
    built, serving = measured["built"], measured["serving"]
    assert built["frozen"] == 0
    assert serving["frozen"] >= built["walked"] * 0.9  # the app, its runtime and modules
    assert serving["walked"] < built["walked"] / 20  # what a full pass still walks


@pytest.mark.slow
def test_a_job_worker_leaves_its_runtime_out_of_the_collectors_passes(
    slack_env: dict[str, str], redis, tmp_path: Path
) -> None:
    serving = started(_JOB_WORKER, slack_env, tmp_path)["serving"]
    assert serving["walked"] < serving["frozen"] / 5

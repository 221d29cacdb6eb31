"""The share row's diagnostic twin holds serve's job workers (SIGSTOP) while wrk runs and lets
them go after it, also when the run fails: a bench that died mid-row must not leave the work
stopped for the rows after it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from benchmarks.wrk_acks import held
from tests.support.processes import job_workers, state

#: A stand-in for `mysafe-bot serve`: one child whose command line ends in `worker`, as serve's
#: job workers' do, printing its pid so the test knows it is running.
SERVE = """\
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "worker"])
print(child.pid, flush=True)
child.wait()
"""


@pytest.fixture
def serve():
    proc = subprocess.Popen([sys.executable, "-c", SERVE], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    deadline = time.monotonic() + 10
    while job_workers(proc.pid) != {child}:  # the child's exec has not shown its argv yet
        assert time.monotonic() < deadline, "the stand-in's worker never appeared"
        time.sleep(0.01)
    yield SimpleNamespace(bot_proc=proc), child
    for pid in (proc.pid, child):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()


def test_the_job_workers_are_stopped_during_the_block_and_run_after_it(serve) -> None:
    bench, worker = serve
    with held(bench):
        assert state(worker) == "T"
    assert state(worker) != "T"


def test_the_job_workers_run_again_when_the_block_raises(serve) -> None:
    bench, worker = serve
    with pytest.raises(ZeroDivisionError), held(bench):
        1 / 0  # noqa: B018 - the run's failure
    assert state(worker) != "T"

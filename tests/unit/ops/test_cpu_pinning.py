"""Which CPU a new web worker keeps (`app.ops.cpu_pinning.chosen`), the CPUs serve plans for its
job workers (`planned`), the setting's reading, and a worker whose CPU went away."""

from __future__ import annotations

import os
import sys
from types import SimpleNamespace

import pytest

from app.foundations.settings import read_one
from app.ops.cpu_pinning import chosen, planned, post_fork
from app.ops.sibling import Sibling


def test_each_worker_takes_the_lowest_cpu_no_live_sibling_holds() -> None:
    assert chosen({0, 1}, [], workers=2) == 0
    assert chosen({0, 1}, [0], workers=2) == 1


def test_a_worker_started_in_place_of_a_dead_one_takes_its_cpu() -> None:
    # Workers on 0, 1 and 2; the one on 1 died and only 0 and 2 are alive.
    assert chosen({0, 1, 2, 3}, [0, 2], workers=3) == 1


def test_only_the_cpus_this_process_may_use_are_chosen() -> None:
    """A container's cpuset: CPUs 4 and 6 of the host."""
    assert chosen({6, 4}, [], workers=2) == 4
    assert chosen({6, 4}, [4], workers=2) == 6


def test_fewer_cpus_than_workers_pins_none_of_them() -> None:
    """Two workers on one CPU would take turns while another CPU idles."""
    assert chosen({0}, [], workers=2) is None
    assert chosen({0, 1}, [], workers=3) is None


def test_a_worker_added_past_the_cpus_is_left_to_the_kernel() -> None:
    """gunicorn's TTIN adds a worker live: every CPU is held already."""
    assert chosen({0, 1}, [0, 1], workers=2) is None


def test_workers_that_were_never_pinned_hold_no_cpu() -> None:
    assert chosen({0, 1}, [None, None], workers=2) == 0


def test_the_setting_is_on_unless_turned_off() -> None:
    assert read_one("cpu_pinning", {}, dotenv=None) is True
    off = {"MYSAFE_BOT_CPU_PINNING": "off"}
    assert read_one("cpu_pinning", off, dotenv=None) is False
    # A bad value is refused at start-up (`Settings.from_env`); a hook reading it alone
    # keeps the default.
    bad = {"MYSAFE_BOT_CPU_PINNING": "maybe"}
    assert read_one("cpu_pinning", bad, dotenv=None) is True


def test_the_setting_is_read_from_dotenv_as_every_setting_is(tmp_path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("MYSAFE_BOT_CPU_PINNING=off\n")
    assert read_one("cpu_pinning", {}, dotenv=dotenv) is False
    # The environment wins over the file, as for every setting.
    on = {"MYSAFE_BOT_CPU_PINNING": "on"}
    assert read_one("cpu_pinning", on, dotenv=dotenv) is True


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="two job workers need two CPUs")
def test_serve_plans_the_web_workers_cpus_for_its_job_workers(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # no `.env` here
    monkeypatch.delenv("MYSAFE_BOT_CPU_PINNING", raising=False)
    allowed = sorted(os.sched_getaffinity(0))
    assert planned(2) == allowed[:2]
    assert planned(len(allowed) + 1) == [None] * (len(allowed) + 1)
    monkeypatch.setenv("MYSAFE_BOT_CPU_PINNING", "off")
    assert planned(2) == [None, None]


#: A CPU no machine here has: the system refuses it, as it refuses one taken away.
GONE = 1 << 16


def test_a_web_worker_whose_cpu_was_taken_away_starts_where_it_is() -> None:
    """gunicorn stops the whole server when a worker fails to boot: one started after its CPU
    left the process's set must boot unpinned, not raise in `post_fork`."""
    before = os.sched_getaffinity(0)
    post_fork(None, SimpleNamespace(cpu=GONE))
    assert os.sched_getaffinity(0) == before


def test_a_job_worker_whose_cpu_was_taken_away_still_starts(tmp_path) -> None:
    """serve starts a dead job worker again on its CPU; once that CPU is gone, it starts it
    unpinned rather than never again."""
    out = tmp_path / "ran"
    code = f"import os; open({str(out)!r}, 'w').write(str(sorted(os.sched_getaffinity(0))))"
    sibling = Sibling([sys.executable, "-c", code], name="worker", cpu=GONE)
    process = sibling._spawn()
    assert process.wait(timeout=30) == 0
    assert out.read_text() == str(sorted(os.sched_getaffinity(0)))

"""Which CPU a new web worker keeps (`app.ops.cpu_pinning.chosen`), and the setting's reading."""

from __future__ import annotations

from app.foundations.settings import read_one
from app.ops.cpu_pinning import chosen


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
    assert read_one("web_cpu_pinning", {}) is True
    assert read_one("web_cpu_pinning", {"MYSAFE_BOT_WEB_CPU_PINNING": "off"}) is False
    # A bad value is refused at start-up (`Settings.from_env`); a hook reading it alone
    # keeps the default.
    assert read_one("web_cpu_pinning", {"MYSAFE_BOT_WEB_CPU_PINNING": "maybe"}) is True

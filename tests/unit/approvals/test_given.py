"""How each right on an entry came: a request's trace is credited only while it explains it."""

from __future__ import annotations

from app.approvals.given import Given, after_share, holders
from app.mysafe.models import Entry, GroupShare, Kind, UserShare

NOW = 1_800_000_000.0


def given(request: str, right: str, *, until: float = 0.0, at: float = NOW - 60) -> Given:
    return Given(request, right, "UALICE", "alices", ("UAPPROVER1",), at, "", until)


def entry(*users: UserShare, groups: tuple[GroupShare, ...] = ()) -> Entry:
    return Entry(Kind.PASSWORD, 312, "GCP", users_allowed=users, groups_allowed=groups)


def test_a_permanent_share_replaces_what_it_covers_and_keeps_running_time_bound_ones() -> None:
    earlier = [
        given("R-1", "view"),
        given("R-2", "edit", until=NOW + 60),
        given("R-3", "edit", until=NOW - 1),
    ]
    trace = after_share(earlier, given("R-4", "edit"), now=NOW)
    assert [g.request for g in trace] == ["R-2", "R-4"]


def test_an_extension_replaces_the_share_it_extends() -> None:
    earlier = [given("R-1", "view", until=NOW + 60)]
    trace = after_share(earlier, given("R-2", "view", until=NOW + 600), extends="R-1", now=NOW)
    assert [g.request for g in trace] == ["R-2"]


def test_only_running_requests_of_the_right_the_entry_shows_explain_it() -> None:
    shown = entry(
        UserShare("carol", True),
        UserShare("Bobm", False),
        UserShare("dave", False),
        groups=(GroupShare("Ops", False),),
    )
    traces = {
        ("users_allowed", "carol"): [given("R-1", "view")],  # raised by hand since
        ("users_allowed", "bobm"): [given("R-3", "view", until=NOW + 60), given("R-2", "view")],
        ("users_allowed", "dave"): [given("R-4", "view", until=NOW - 1)],  # ended, kept by hand
        ("groups_allowed", "ops"): [given("R-5", "view")],
    }
    found = {h.name: h for h in holders(shown, traces, now=NOW)}
    assert [h.name for h in holders(shown, traces, now=NOW)] == ["Bobm", "carol", "dave", "Ops"]
    assert found["carol"].outside and found["dave"].outside
    assert [g.request for g in found["Bobm"].via] == ["R-2", "R-3"]  # permanent first
    assert found["Ops"].is_group and [g.request for g in found["Ops"].via] == ["R-5"]


def test_a_trace_reads_back_as_written() -> None:
    one = given("R-1", "edit", until=NOW + 5)
    assert Given.from_json(one.to_json()) == one

"""`python -m benchmarks.run` picks its scenarios by name: every registered name is accepted,
the old one-scenario flags still pick theirs, and an unknown name fails before anything starts,
naming the scenarios there are. Nothing here starts a server or runs a scenario."""

from __future__ import annotations

import pytest

from benchmarks import run, scenarios
from benchmarks.scenarios import NAMES, SCENARIOS
from benchmarks.table import Row, table


def picked(*argv: str) -> list[str]:
    return [s.NAME for s in run.scenarios_of(run.build_parser().parse_args(list(argv)))]


@pytest.mark.parametrize("name", NAMES)
def test_every_registered_scenario_is_accepted_by_name(name: str) -> None:
    assert picked("--only", name) == [name]


def test_each_scenario_module_is_named_for_its_scenario() -> None:
    assert len(set(NAMES)) == len(NAMES)
    for scenario in SCENARIOS:
        assert scenario.__name__ == f"benchmarks.scenarios.{scenario.NAME.replace('-', '_')}"
        assert scenario.HELP and callable(scenario.run)


def test_no_name_runs_every_scenario_in_the_registry_order() -> None:
    assert picked() == list(NAMES)
    assert picked("--quick") == list(NAMES)


def test_names_run_in_the_full_runs_order_whatever_order_they_are_given() -> None:
    assert picked("--only", "kill,acks", "--only", "sweep") == ["acks", "sweep", "kill"]
    assert picked("--only", "review_campaign") == ["review-campaign"]


@pytest.mark.parametrize(
    ("flag", "name"),
    [
        ("--acks-only", "acks"),
        ("--answers-only", "answers"),
        ("--audit-only", "audit"),
        ("--share-burst", "share-burst"),
    ],
)
def test_the_old_flags_pick_their_scenario(flag: str, name: str) -> None:
    assert picked(flag) == [name]
    assert picked(flag, "--quick") == [name]


@pytest.mark.parametrize("value", ["nope", "acks,nope", "nope,acks"])
def test_an_unknown_name_fails_naming_the_scenarios(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run.build_parser().parse_args(["--only", value])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "argument --only: unknown scenario 'nope'" in error
    assert f"the scenarios are: {', '.join(NAMES)}" in error


def test_an_empty_name_list_fails(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run.build_parser().parse_args(["--only", ","])
    assert "no scenario named" in capsys.readouterr().err


def test_select_refuses_an_unknown_name() -> None:
    with pytest.raises(scenarios.UnknownScenario, match="the scenarios are: acks, share-burst"):
        scenarios.select({"acks", "nope"})


def test_list_names_every_scenario_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    assert run.main(["--list"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(NAMES)


def test_the_table_pads_columns_and_right_aligns_the_figures() -> None:
    printed = table([Row("a row", "1", "20", "3.5", rate="7", result="ok", target="met")])
    header, rule, line = printed.splitlines()
    assert header.startswith("measurement  users  n   p50 ms")
    assert rule.split() == [
        "-" * len("measurement"),
        "-----",
        "--",
        "------",
        "------",
        "------",
        "-----",
        "------",
        "------",
    ]
    assert line.startswith("a row            1  20     3.5")

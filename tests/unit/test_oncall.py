"""The on-call client against protocol fakes of PagerDuty and Opsgenie: who is on call, by
e-mail, and one error (`OnCallUnavailable`) for every way the answer cannot be had."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.foundations.errors import OnCallUnavailable
from app.oncall import OnCallClient
from tests.support.on_call_fakes import TOKEN, OnCallFake


@pytest.fixture(params=["pagerduty", "opsgenie"])
def fake(request: pytest.FixtureRequest) -> Iterator[OnCallFake]:
    served = OnCallFake(request.param, on_call={"S1": ["Alice@Example.com", "bob@example.com"]})
    yield served.start()
    served.stop()


def client(fake: OnCallFake, *, token: str = TOKEN) -> OnCallClient:
    return OnCallClient(
        provider=fake.provider, token=token, base_url=fake.url, timeout=0.3, clock=lambda: 42.0
    )


def test_who_is_on_call_by_e_mail(fake: OnCallFake) -> None:
    answer = client(fake).on_call("S1")
    assert answer.people == {"alice@example.com", "bob@example.com"}
    assert (answer.provider, answer.schedule, answer.checked) == (fake.provider, "S1", 42.0)


def test_someone_on_a_later_page_of_pagerduty_is_found() -> None:
    """One entry per escalation level using the schedule: a big rota spans pages."""
    rota = [f"level{n}@example.com" for n in range(230)]
    fake = OnCallFake("pagerduty", on_call={"S1": rota}).start()
    try:
        assert client(fake).on_call("S1").people == set(rota)
        assert [c["args"]["offset"] for c in fake.calls] == ["0", "100", "200"]
        fake.on_call["S1"] = [f"level{n}@example.com" for n in range(501)]
        with pytest.raises(OnCallUnavailable, match="more than 500"):
            client(fake).on_call("S1")
    finally:
        fake.stop()


@pytest.mark.parametrize(
    ("setup", "said"),
    [
        ({"token": "wrong"}, "answered HTTP 401"),
        ({"schedule": "NOPE"}, "answered HTTP 404"),
        ({"down": True}, "answered HTTP 503"),
        ({"garbage": True}, "cannot read"),
        ({"hang": True}, "did not answer within 0.3 s"),
        ({"gone": True}, "could not be reached"),
    ],
)
def test_every_failure_is_one_error_that_says_what(fake: OnCallFake, setup: dict, said: str) -> None:
    fake.down, fake.garbage, fake.hang = (
        setup.get("down", False),
        setup.get("garbage", False),
        setup.get("hang", False),
    )
    calling = client(fake, token=setup.get("token", TOKEN))
    if setup.get("gone"):
        fake.stop()
    with pytest.raises(OnCallUnavailable, match=said) as caught:
        calling.on_call(setup.get("schedule", "S1"))
    assert TOKEN not in str(caught.value)


def test_an_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown on-call provider"):
        OnCallClient(provider="victorops", token="t", clock=lambda: 0.0)

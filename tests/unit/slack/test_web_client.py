"""Web API calls over pooled keep-alive connections (app/slack/web_client.py), against the
recording Slack fake over real loopback connections: one connection for many calls, and every
error exactly as slack-sdk's stock `WebClient` reports it."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from app.foundations.settings import Settings
from app.services import Services
from app.slack.web_client import PooledWebClient, make_web_client
from tests.support.processes import free_port
from tests.support.slack_fake import SlackFake


@pytest.fixture
def pooled(slack_env: dict[str, str], redis) -> WebClient:
    """The client the bot builds (`make_web_client`), pointed at the fake."""
    services = Services.build(Settings.from_env(slack_env, dotenv=None), redis=redis)
    return make_web_client(services)


@pytest.fixture
def stock(pooled: WebClient) -> WebClient:
    """slack-sdk's own client with the same options: what the bot used before."""
    return WebClient(
        token=pooled.token,
        base_url=pooled.base_url,
        timeout=pooled.timeout,
        retry_handlers=pooled.retry_handlers,
    )


def test_many_calls_go_over_one_connection(
    pooled: WebClient, stock: WebClient, slack: SlackFake
) -> None:
    for n in range(30):
        pooled.chat_postMessage(channel="C0APPROVALS", text=f"pooled {n}")
    assert len({call.peer for call in slack.calls}) == 1
    for n in range(5):
        stock.chat_postMessage(channel="C0APPROVALS", text=f"stock {n}")
    assert len({call.peer for call in slack.calls[30:]}) == 5  # a connection per call


def test_concurrent_calls_reuse_at_most_one_connection_per_thread(
    pooled: WebClient, slack: SlackFake
) -> None:
    """Sixteen at a time (the sweep's batch), 320 calls: a handful of connections."""
    with ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(
                lambda n: pooled.chat_update(channel="C0APPROVALS", ts=f"1.{n}", text="expired"),
                range(320),
            )
        )
    assert all(answer["ok"] for answer in answers)
    assert len({call.peer for call in slack.calls}) <= 16


def _outcome(client: WebClient, call: str, **args: Any) -> tuple[Any, ...]:
    """What a caller sees: the answer, or the error with its status, data and headers."""
    try:
        answer = getattr(client, call)(**args)
    except SlackApiError as error:
        response = error.response
        return (
            "error",
            type(error),
            str(error),
            response.status_code,
            response.data,
            response.headers.get("Retry-After") or response.headers.get("retry-after"),
        )
    return ("ok", answer.status_code, answer.data)


def test_a_refusal_is_the_same_slack_api_error_as_before(
    pooled: WebClient, stock: WebClient, slack: SlackFake
) -> None:
    slack.not_member.add("C0GONE")
    seen = _outcome(pooled, "chat_postMessage", channel="C0GONE", text="hello")
    assert seen[0] == "error" and seen[4] == {"ok": False, "error": "not_in_channel"}
    assert seen == _outcome(stock, "chat_postMessage", channel="C0GONE", text="hello")


@pytest.mark.slow
@pytest.mark.parametrize("times", [1, 3])
def test_ratelimited_is_retried_after_retry_after_as_before(
    pooled: WebClient, stock: WebClient, slack: SlackFake, times: int
) -> None:
    """429 with Retry-After: slack-sdk's handler waits and tries again, twice; a third 429
    reaches the caller as `ratelimited` with its Retry-After, through either client."""
    outcomes = []
    for client in (pooled, stock):
        before = len(slack.calls)
        slack.fail("chat.postMessage", error="ratelimited", status=429, times=times)
        outcomes.append(
            (
                _outcome(client, "chat_postMessage", channel="C0APPROVALS", text="hi"),
                len(slack.calls) - before,
            )
        )
    (pooled_seen, pooled_calls), (stock_seen, stock_calls) = outcomes
    assert pooled_calls == stock_calls == min(times + 1, 3)
    if times < 3:
        assert pooled_seen[0] == stock_seen[0] == "ok"
    else:
        assert pooled_seen == stock_seen
        assert pooled_seen[3] == 429 and pooled_seen[4]["error"] == "ratelimited"
        assert pooled_seen[5] == "0"


def test_nothing_listening_is_a_connection_error_retried_as_before() -> None:
    port = free_port()  # nothing listens on it, and no other test takes it meanwhile
    handlers = [
        ConnectionErrorRetryHandler(
            max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0)
        )
    ]
    for client_class in (PooledWebClient, WebClient):
        client = client_class(
            token="xoxb-fake",
            base_url=f"http://127.0.0.1:{port}/api/",
            timeout=2,
            retry_handlers=handlers,
        )
        with pytest.raises(URLError):
            client.chat_postMessage(channel="C0APPROVALS", text="hi")


def test_an_answer_that_never_comes_is_a_timeout_as_before() -> None:
    """A server that takes the call and never answers: the read times out, and the caller
    sees the `TimeoutError` the stock client raises (slack-sdk does not retry it)."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        url = f"http://127.0.0.1:{listening.getsockname()[1]}/api/"
        for client_class in (PooledWebClient, WebClient):
            client = client_class(token="xoxb-fake", base_url=url, timeout=0.3)
            with pytest.raises(TimeoutError):
                client.chat_postMessage(channel="C0APPROVALS", text="hi")

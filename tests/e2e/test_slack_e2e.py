"""End to end through `POST /slack/events`: signed as Slack signs, the MySafe emulator behind,
the Slack Web API fake recording everything the bot says."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.approvals.change_request import ChangeRequest
from app.approvals.machine import State
from app.sandbox.emulator import Emulator
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import Bot
from tests.support.slack_requests import SlackClient, text_input

PUT = "/api/mysafe/password/update"


@pytest.fixture
def vault_entry(bot: Bot, emulator: Emulator, link) -> int:
    link("UALICE", "alices")
    for name in ("bobm", "carol"):
        emulator.add_user(name)
    bot.services.vault.map_mention("UCAROL", "carol")
    return emulator.add_password(
        "alices",
        name="GCP console",
        username="ops@example.com",
        password="old-Password-9",
        users_allowed=[{"username": "bobm"}],
    )


def approval_posts(slack: SlackFake) -> list:
    return [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == "C0APPROVALS"]


def wait_request_message(slack: SlackFake):
    return slack.wait_for(lambda: approval_posts(slack))[0]


def request_id_of(message) -> str:
    return message.args["text"].split(":")[0]


def buttons(call) -> list[str]:
    return [
        e["text"]["text"]
        for b in call.args.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    ]


def share(user: SlackClient, slack: SlackFake, entry: int, who: str = "<@UCAROL|carol>") -> str:
    response = user.command("UALICE", f'share password {entry} with {who} reason "on-call"')
    assert response.status_code == 200
    slack.wait_responses(1)  # told last, after the message's place is stored
    return request_id_of(wait_request_message(slack))


def test_share_is_approved_and_applied(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, vault_entry: int
) -> None:
    request_id = share(user, slack, vault_entry)
    message = approval_posts(slack)[0]
    assert buttons(message) == ["Approve", "Deny"]
    shown = message.blocks_text()
    assert "GCP console" in shown and "+ <@UCAROL> (view)" in shown and "on-call" in shown
    assert "bobm" not in shown  # what changes, not the whole sharing list
    told = slack.wait_responses()[0]
    assert request_id in told["text"] and told["response_type"] == "ephemeral"

    assert user.click("UAPPROVER1", "approve", request_id).status_code == 200
    update = slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.update") if "Applied" in c.blocks_text()]
    )[0]
    assert buttons(update) == [] and "Password successfully updated" in update.blocks_text()
    (put,) = emulator.calls_to("PUT", PUT)
    assert put.user == "alices"
    assert put.json["users_allowed"] == [
        {"username": "bobm", "can_edit": False},
        {"username": "carol", "can_edit": False},
    ]
    dms = slack.wait_for(
        lambda: {c.args["channel"] for c in slack.calls_to("chat.postMessage")} >= {"UALICE", "UCAROL"}
    )
    assert dms
    to_carol = [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == "UCAROL"]
    assert "shared MySafe password" in to_carol[0].args["text"]
    assert "old-Password-9" not in slack.everything_sent()


def test_deny_with_a_reason(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, vault_entry: int
) -> None:
    request_id = share(user, slack, vault_entry)
    user.click("UAPPROVER2", "deny", request_id)
    modal = slack.wait_calls("views.open")[0].args["view"]
    assert modal["private_metadata"] == request_id
    denied = slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.update") if "Denied" in c.blocks_text()]
    )[0]
    assert buttons(denied) == []  # settled by the click, before any reason is typed
    user.submit_view(
        "UAPPROVER2",
        "deny_reason",
        {"reason": {"value": text_input("not on call")}},
        private_metadata=request_id,
    )
    slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.update") if "not on call" in c.blocks_text()]
    )
    told = slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.postMessage") if c.args["channel"] == "UALICE"]
    )
    assert len(told) == 1  # one DM for the denial, not a second one for the reason
    assert emulator.calls_to("PUT", PUT) == []


def test_a_deny_click_settles_before_the_reason_is_typed(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, vault_entry: int
) -> None:
    request_id = share(user, slack, vault_entry)
    user.click("UAPPROVER2", "deny", request_id)
    slack.wait_calls("views.open")  # the denier is typing a reason...
    user.click("UAPPROVER1", "approve", request_id)  # ...while someone else approves
    told = slack.wait_responses(2)[-1]
    assert "denied" in told["text"]
    assert bot.engine.get(request_id).state is State.DENIED
    assert emulator.calls_to("PUT", PUT) == []


def test_someone_gaining_access_cannot_approve_it(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, vault_entry: int
) -> None:
    """UAPPROVER3 is linked as MySafe user carol: a share with carol is not theirs to approve,
    whether they are named by mention or by MySafe username."""
    bot.services.vault.map_mention("UAPPROVER3", "carol")
    # The second share raises carol to edit: a share with nothing to change is refused.
    for n, who in enumerate(("<@UAPPROVER3|approver3>", "user:Carol edit")):
        user.command("UALICE", f"share password {vault_entry} with {who}")
        request_id = request_id_of(
            slack.wait_for(lambda n=n: len(approval_posts(slack)) > n and approval_posts(slack)[n])
        )
        before = len(slack.wait_responses(2 * n + 1))
        user.click("UAPPROVER3", "approve", request_id)
        told = slack.wait_for(lambda n=before: len(slack.responses) > n and slack.responses[-1])
        assert "gives you access" in told["text"]
        assert bot.engine.get(request_id).state is State.PENDING
        user.click("UAPPROVER1", "approve", request_id)
        slack.wait_for(lambda r=request_id: bot.engine.get(r).state is State.APPLIED)


@pytest.mark.parametrize(
    ("clicker", "words"), [("UALICE", "own request"), ("URANDOM", "not one of the configured")]
)
def test_requester_and_non_approver_cannot_approve(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    vault_entry: int,
    clicker: str,
    words: str,
) -> None:
    request_id = share(user, slack, vault_entry)
    slack.wait_responses(1)
    user.click(clicker, "approve", request_id)
    answer = slack.wait_responses(2)[1]
    assert words in answer["text"] and answer["response_type"] == "ephemeral"
    assert answer.get("replace_original") is False
    assert bot.engine.get(request_id).state is State.PENDING
    assert slack.calls_to("chat.update") == [] and emulator.calls_to("PUT", PUT) == []


def test_member_of_an_approver_group_can_approve(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, vault_entry: int
) -> None:
    request_id = share(user, slack, vault_entry)
    user.click("UGROUPAPPROVER", "approve", request_id)
    slack.wait_for(lambda: [c for c in slack.calls_to("chat.update") if "Applied" in c.blocks_text()])
    assert len(emulator.calls_to("PUT", PUT)) == 1


def test_twenty_concurrent_clicks_make_one_put(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, vault_entry: int
) -> None:
    request_id = share(user, slack, vault_entry)
    barrier = threading.Barrier(20)
    approvers = ["UAPPROVER1", "UAPPROVER2", "UAPPROVER3"]

    def click(n: int) -> int:
        barrier.wait()
        return user.click(approvers[n % 3], "approve", request_id).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert set(pool.map(click, range(20))) == {200}
    slack.wait_for(lambda: [c for c in slack.calls_to("chat.update") if "Applied" in c.blocks_text()])
    bot_engine = bot.engine
    slack.wait_for(lambda: bot_engine.get(request_id).state is State.APPLIED)
    # Every click has been answered (ephemeral "changed nothing" for the late ones) before counting.
    slack.wait_for(lambda: len(slack.responses) >= 1 + 19)
    assert len(emulator.calls_to("PUT", PUT)) == 1


def test_expiry_updates_the_message(
    bot: Bot, user: SlackClient, slack: SlackFake, vault_entry: int
) -> None:
    request_id = share(user, slack, vault_entry)
    from app.ops.runtime import assemble

    worker_engine = assemble(bot.services).engine  # what `mysafe-bot worker` builds
    assert worker_engine.sweep(now=time.time() + 86400 + 5) == 1
    update = slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.update") if "Expired" in c.blocks_text()]
    )[0]
    assert buttons(update) == [] and request_id in update.args["text"]


def test_failed_apply_shows_retry_and_retry_works(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, vault_entry: int
) -> None:
    request_id = share(user, slack, vault_entry)
    emulator.inject(status=503, method="PUT", path_prefix=PUT, times=3)
    user.click("UAPPROVER1", "approve", request_id)
    failed = slack.wait_for(
        lambda: [c for c in slack.calls_to("chat.update") if "Failed" in c.blocks_text()]
    )[0]
    assert buttons(failed) == ["Retry", "Deny"] and "unavailable" in failed.blocks_text()
    user.click("UAPPROVER2", "retry", request_id)
    slack.wait_for(lambda: [c for c in slack.calls_to("chat.update") if "Applied" in c.blocks_text()])
    assert len(emulator.calls_to("PUT", PUT)) == 4  # three refused tries, then the retry


def test_secret_typed_in_a_command_is_refused_and_appears_nowhere(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    vault_entry: int,
    redis,
    key_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    typed = "Sup3r-Secret-Typed!"
    response = user.command("UALICE", f"update password {vault_entry} password={typed}")
    assert response.status_code == 200
    body = (
        response.json()
        if response.headers.get("content-type", "").startswith("application/json")
        else {"text": response.text}
    )
    assert "rotate" in body["text"] and typed not in response.text
    assert typed not in slack.everything_sent()
    assert typed not in caplog.text
    for key in redis.scan_iter(match=f"{key_prefix}:*"):
        assert typed not in json.dumps(redis.dump(key).decode("latin-1") if redis.dump(key) else "")
    assert bot.engine.queue() == []


def test_bad_signature_and_stale_timestamp_are_401(
    bot: Bot, user: SlackClient, slack: SlackFake, vault_entry: int, redis, key_prefix: str
) -> None:
    before = set(redis.scan_iter(match=f"{key_prefix}:*"))
    wrong = user.command(
        "UALICE", f"share password {vault_entry} with user:carol", secret="not-the-signing-secret"
    )
    stale = user.command(
        "UALICE", f"share password {vault_entry} with user:carol", timestamp=int(time.time()) - 6 * 60
    )
    assert (wrong.status_code, stale.status_code) == (401, 401)
    assert set(redis.scan_iter(match=f"{key_prefix}:*")) == before
    assert slack.calls == []


def test_slack_retries_never_make_a_second_request(
    bot: Bot, user: SlackClient, slack: SlackFake, vault_entry: int
) -> None:
    share(user, slack, vault_entry)
    retried = user.command(
        "UALICE",
        f"share password {vault_entry} with user:carol",
        headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retried.status_code == 200
    assert len(bot.engine.queue()) == 1


def test_home_tab_shows_own_requests_and_the_queue(
    bot: Bot, user: SlackClient, slack: SlackFake, vault_entry: int
) -> None:
    request_id = share(user, slack, vault_entry)
    user.event({"type": "app_home_opened", "user": "UAPPROVER1", "channel": "D1", "tab": "home"})
    view = slack.wait_calls("views.publish")[0].args["view"]
    assert request_id in json.dumps(view) and "Approve" in json.dumps(view)
    user.event({"type": "app_home_opened", "user": "UALICE", "channel": "D2", "tab": "home"})
    mine = slack.wait_calls("views.publish", 2)[1].args["view"]
    assert request_id in json.dumps(mine) and "Waiting for your approval" not in json.dumps(mine)


def test_socket_mode_only_has_no_unsigned_http_route(slack_env: dict[str, str], redis) -> None:
    """Without a signing secret nothing could prove a request came from Slack: no route."""
    from app import create_app
    from app.foundations.settings import Settings

    env = {k: v for k, v in slack_env.items() if k != "SLACK_SIGNING_SECRET"}
    settings = Settings.from_env({**env, "SLACK_APP_TOKEN": "xapp-1-test"}, dotenv=None)
    from app.ops.runtime import build_runtime

    runtime = build_runtime(settings, redis=redis)
    app = create_app(runtime, socket_mode=False)
    assert app.test_client().post("/slack/events", data="command=/mysafe").status_code == 404
    assert runtime.front is not None  # the listeners exist, for Socket Mode


def test_slack_down_at_creation_then_the_worker_posts_the_message(
    bot: Bot, user: SlackClient, slack: SlackFake, vault_entry: int
) -> None:
    from app.ops.reposting import repost
    from app.ops.runtime import assemble

    slack.fail("chat.postMessage", error="service_unavailable", status=503, times=1)
    user.command("UALICE", f"share password {vault_entry} with user:carol")
    told = slack.wait_responses(1)[0]
    assert "waiting for approval" in told["text"]  # the request is kept, Slack or not
    (request,) = bot.engine.queue()
    assert bot.sent(request.id).ts == ""
    worker = assemble(bot.services)
    assert repost(worker) == 0  # too recent: the web process may still be posting it
    assert worker.notifier is not None
    assert worker.notifier.post_missing(worker.engine.queue(), older_than=request.created + 1) == 1
    assert bot.sent(request.id).ts
    assert buttons(approval_posts(slack)[-1]) == ["Approve", "Deny"]


def test_a_request_the_approvals_channel_refuses_is_not_left_waiting(
    bot: Bot, user: SlackClient, slack: SlackFake, vault_entry: int
) -> None:
    """The bot is not in the approvals channel: the requester is told, nothing waits unseen,
    and the same command works once the bot is invited."""
    slack.fail("chat.postMessage", error="not_in_channel")
    user.command("UALICE", f"share password {vault_entry} with <@UCAROL|carol>")
    told = slack.wait_responses(1)[0]["text"]
    assert "could not be posted" in told and "not_in_channel" in told
    assert "waiting for approval" not in told
    assert bot.engine.queue() == [] and bot.engine.open_for("UALICE") == []
    user.command("UALICE", f"share password {vault_entry} with <@UCAROL|carol>")
    second = slack.wait_for(lambda: len(approval_posts(slack)) > 1 and approval_posts(slack)[1])
    assert bot.engine.get(request_id_of(second)).state is State.PENDING


def test_someone_removed_from_an_approver_group_stops_approving(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    vault_entry: int,
    redis,
    key_prefix: str,
) -> None:
    request_id = share(user, slack, vault_entry)
    assert "UGROUPAPPROVER" in bot.runtime.front.approvers  # cached now
    assert 0 < redis.ttl(f"{key_prefix}:approver-group:SAPPROVERS") <= 30
    slack.usergroups["SAPPROVERS"] = []  # removed from the group in Slack...
    user.event(
        {
            "type": "subteam_members_changed",
            "subteam_id": "SAPPROVERS",
            "team_id": "T1",
            "removed_users": ["UGROUPAPPROVER"],
        }
    )  # ...and Slack says so
    user.click("UGROUPAPPROVER", "approve", request_id)
    told = slack.wait_responses(2)[-1]["text"]
    assert "not one of the configured approvers" in told
    assert bot.engine.get(request_id).state is State.PENDING


def test_storage_failing_after_the_write_says_the_change_was_sent(
    bot: Bot,
    user: SlackClient,
    slack: SlackFake,
    emulator: Emulator,
    vault_entry: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Redis fails after MySafe took the PUT: the approver hears what is known, not "nothing
    was changed"; once storage is back the worker records it, without writing again."""
    import redis as redis_module

    from app.foundations.clock import timestamp

    request_id = share(user, slack, vault_entry)
    store = bot.engine.store
    transition = store.transition

    def failing(request_id_: str, action: str, **kwargs):  # noqa: ANN202
        if action == "finish":
            raise redis_module.ConnectionError("storage went away")
        return transition(request_id_, action, **kwargs)

    monkeypatch.setattr(store, "transition", failing)
    user.click("UAPPROVER1", "approve", request_id)
    told = slack.wait_responses(2)[-1]["text"]
    assert "sent to MySafe" in told and "nothing was changed" not in told
    monkeypatch.setattr(store, "transition", transition)
    assert len(emulator.calls_to("PUT", PUT)) == 1
    bot.engine.sweep(now=timestamp() + 2 * bot.engine.settings.apply_lease)
    assert bot.engine.get(request_id).state is State.APPLIED
    assert len(emulator.calls_to("PUT", PUT)) == 1


def _open_with_the_newest_unposted(
    bot: Bot, vault_entry: int, redis, key_prefix: str
) -> list[ChangeRequest]:
    """120 open requests, oldest first; the newest one's first post failed, as if Slack had
    been down when it was made, long enough ago for the worker to post it."""
    from app.approvals.changes import Change, Verb
    from app.mysafe.models import Kind, UserShare

    made = [
        bot.engine.submit(
            Change(Verb.SHARE, Kind.PASSWORD, vault_entry, add_users=(UserShare("carol"),)),
            requester="UALICE",
        )
        for _ in range(120)
    ]
    key = f"{key_prefix}:req:{{{made[-1].id}}}"
    redis.hdel(key, "ts", "channel")
    redis.hset(key, "created", repr(made[-1].created - 120))
    return made


@pytest.mark.slow
def test_the_worker_posts_an_unposted_message_however_many_are_open(
    bot: Bot, user: SlackClient, slack: SlackFake, vault_entry: int, redis, key_prefix: str
) -> None:
    """120 requests are open; the newest one's first post failed: the worker's pass posts it
    (it used to look only at the oldest 100)."""
    from app.ops.reposting import repost
    from app.ops.runtime import assemble

    newest = _open_with_the_newest_unposted(bot, vault_entry, redis, key_prefix)[-1]
    posts = len(approval_posts(slack))
    assert repost(assemble(bot.services)) == 1
    assert len(approval_posts(slack)) == posts + 1
    assert bot.sent(newest.id).ts


@pytest.mark.slow
def test_the_worker_turns_reach_an_unposted_message_behind_many_open_and_closing(
    bot: Bot, user: SlackClient, slack: SlackFake, vault_entry: int, redis, key_prefix: str
) -> None:
    """The deployment's pass reads 50 open requests a turn: of 120, the newest one, never
    posted, is posted at the third turn, though requests ahead of the position close
    meanwhile (a cursor by rank would step over as many)."""
    from app.ops.reposting import Rounds, take_turn
    from app.ops.runtime import assemble

    made = _open_with_the_newest_unposted(bot, vault_entry, redis, key_prefix)
    newest = made[-1]
    worker = assemble(bot.services)
    rounds = Rounds(redis, f"{key_prefix}:worker:repost:at", worker.engine.store, size=50)
    assert take_turn(worker, rounds) == 0
    for request in made[:40]:  # all read already, ahead of the position
        bot.engine.cancel(request.id, "UALICE")
    assert take_turn(worker, rounds) == 0
    assert not bot.sent(newest.id).ts
    assert take_turn(worker, rounds) == 1
    assert bot.sent(newest.id).ts


@pytest.mark.slow
def test_the_home_queue_pages_through_everything_waiting(
    bot: Bot, user: SlackClient, slack: SlackFake, emulator: Emulator, vault_entry: int
) -> None:
    """25 requests wait for an approver who also has requests of their own: the Home counts
    them, shows the newest first, and *More* walks through every one; none of the approver's
    own requests is offered for their approval."""
    from app.approvals.changes import Change, Verb
    from app.mysafe.models import Kind, UserShare

    change = Change(Verb.SHARE, Kind.PASSWORD, vault_entry, add_users=(UserShare("carol"),))
    waiting = [bot.engine.submit(change, requester="UALICE").id for _ in range(25)]
    client_id, client_secret = emulator.add_user("approver1")
    bot.services.vault.link(
        "UAPPROVER1", client_id=client_id, client_secret=client_secret, mysafe_username="approver1"
    )
    theirs = emulator.add_password("approver1", name="Theirs", username="a", password="p")
    own = bot.engine.submit(
        Change(Verb.SHARE, Kind.PASSWORD, theirs, add_users=(UserShare("carol"),)),
        requester="UAPPROVER1",
    ).id
    user.event({"type": "app_home_opened", "user": "UAPPROVER1", "channel": "D1", "tab": "home"})
    seen: list[str] = []
    for page in range(1, 10):
        view = slack.wait_calls("views.publish", page)[page - 1].args["view"]
        text = json.dumps(view)
        assert "25 waiting for you" in text and len(view["blocks"]) <= 100
        queue = text.split("Waiting for your approval")[1]
        seen += [r for r in waiting if r in queue and r not in seen]
        assert own not in queue
        more = [
            e
            for b in view["blocks"]
            if b.get("block_id") == "home-paging"
            for e in b["elements"]
            if e["text"]["text"].startswith("More")
        ]
        if not more:
            break
        user.click("UAPPROVER1", "home_page", more[0]["value"], channel="")
    assert sorted(seen) == sorted(waiting)


def test_homes_that_show_a_request_are_refreshed_when_it_changes(
    bot: Bot, user: SlackClient, slack: SlackFake, vault_entry: int
) -> None:
    """Approved in the channel: the requester's and the approver's open Homes lose their
    Cancel and Approve buttons for it, without anyone reopening the tab."""
    request_id = share(user, slack, vault_entry)
    for person in ("UALICE", "UAPPROVER2"):
        user.event({"type": "app_home_opened", "user": person, "channel": "D1", "tab": "home"})
    slack.wait_calls("views.publish", 2)

    def latest_home(person: str) -> str:
        homes = [c for c in slack.calls_to("views.publish") if c.args["user_id"] == person]
        return json.dumps(homes[-1].args["view"]) if homes else ""

    assert request_id in latest_home("UALICE") and request_id in latest_home("UAPPROVER2")
    user.click("UAPPROVER1", "approve", request_id)
    slack.wait_for(
        lambda: request_id not in latest_home("UALICE") and request_id not in latest_home("UAPPROVER2")
    )

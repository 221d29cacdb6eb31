"""Each person reads the bot in their own Slack language; the approval card in the
workspace's (MYSAFE_BOT_LOCALE), since many people read it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from app.sandbox.emulator import Emulator
from tests.support.slack_fake import SlackFake
from tests.support.slack_harness import SIGNING_SECRET, Bot, served_bot
from tests.support.slack_requests import SlackClient

from .test_slack_e2e import approval_posts, buttons, request_id_of
from .test_slack_verbs import opened, submit


@pytest.fixture
def vault_entry(bot: Bot, emulator: Emulator, link) -> int:
    link("UALICE", "alices")
    emulator.add_user("carol")
    bot.services.vault.map_mention("UCAROL", "carol")
    return emulator.add_password("alices", name="GCP console", username="ops", password="x-Pass-9")


@pytest.fixture
def speakers(slack: SlackFake) -> None:
    slack.profiles["UALICE"] = {"locale": "pt-BR"}
    slack.profiles["UAPPROVER1"] = {"locale": "en-US"}


def dms_to(slack: SlackFake, user: str) -> list[str]:
    return [c.args["text"] for c in slack.calls_to("chat.postMessage") if c.args["channel"] == user]


def test_a_portuguese_requester_and_an_english_approver_each_read_their_own(
    speakers: None, bot: Bot, user: SlackClient, slack: SlackFake, vault_entry: int
) -> None:
    user.command("UALICE", f'compartilhar password {vault_entry} with <@UCAROL|carol> reason "plantão"')
    card = slack.wait_for(lambda: approval_posts(slack))[0]
    request_id = request_id_of(card)
    assert buttons(card) == ["Approve", "Deny"]  # MYSAFE_BOT_LOCALE: en
    assert "asks to give" in card.blocks_text()
    told = slack.wait_for(lambda: [r for r in slack.responses if request_id in r.get("text", "")])[0]
    assert "aguarda aprovação" in told["text"] and "Cancele com" in told["text"]
    asked = slack.wait_for(lambda: dms_to(slack, "UAPPROVER1"))[0]
    assert "waits for your approval" in asked

    user.click("UAPPROVER1", "approve", request_id)
    outcome = slack.wait_for(lambda: [t for t in dms_to(slack, "UALICE") if request_id in t])[0]
    assert outcome.startswith(f"Seu pedido {request_id} de compartilhar senha")
    assert "✅ Aplicado" in outcome and "aprovado por <@UAPPROVER1>" in outcome


@pytest.fixture
def portuguese_bot(slack_env: dict[str, str], redis) -> Iterator[Bot]:
    with served_bot({**slack_env, "MYSAFE_BOT_LOCALE": "pt-BR"}, redis) as served:
        yield served


def test_the_card_follows_the_workspace_language_whoever_asks(
    speakers: None, portuguese_bot: Bot, slack: SlackFake, emulator: Emulator, link
) -> None:
    link("UALICE", "alices")
    emulator.add_user("carol")
    portuguese_bot.services.vault.map_mention("UCAROL", "carol")
    entry = emulator.add_password("alices", name="GCP console", username="ops", password="x-Pass-9")
    client = SlackClient(portuguese_bot.url, SIGNING_SECRET, slack.response_url)
    client.command("UAPPROVER1", "help")  # an English speaker's own reply stays English
    client.command("UALICE", f"share password {entry} with <@UCAROL|carol>")
    card = slack.wait_for(lambda: approval_posts(slack))[0]
    assert buttons(card) == ["Aprovar", "Negar"]
    shown = json.dumps(card.args["blocks"], ensure_ascii=False)
    assert "pede para dar a" in shown and "0 de 1 aprovação" in shown
    assert card.args["text"].endswith(
        "compartilhar senha 1 “GCP console” — pendente. Mudanças: + <@UCAROL> (leitura)"
    )


def test_a_language_changed_in_slack_is_spoken_from_the_next_answer(
    bot: Bot, user: SlackClient, slack: SlackFake, link
) -> None:
    link("UALICE", "alices")
    user.command("UALICE", "whoami")
    assert slack.wait_responses(1)[0]["text"].startswith("You act in MySafe as")
    slack.profiles["UALICE"] = {"locale": "pt-BR"}  # she switches Slack to Portuguese...
    user.event({"type": "user_change", "user": {"id": "UALICE", "locale": "pt-BR"}})  # ...Slack says so
    assert user.command("UALICE", "whoami").text.startswith("Trabalhando em /mysafe whoami")
    assert slack.wait_responses(2)[-1]["text"].startswith("Você age no MySafe como")


def test_a_portuguese_speakers_form_and_its_field_errors_are_portuguese(
    speakers: None, bot: Bot, user: SlackClient, slack: SlackFake, vault_entry: int
) -> None:
    user.command("UALICE", f"rotacionar password {vault_entry}")
    view = opened(slack)
    assert view["title"]["text"] == "Trocar senha"
    assert view["submit"]["text"] == "Pedir aprovação"
    labels = [b["label"]["text"] for b in view["blocks"] if b["type"] == "input"]
    assert labels == ["Nova senha", "Nova semente TOTP (base32)", "Motivo"]
    refused = submit(user, "UALICE", view, {}).json()
    assert refused["errors"] == {"password": "dê uma nova senha, uma nova semente TOTP, ou ambas"}


def test_a_portuguese_speakers_create_form_says_what_is_wrong_in_portuguese(
    speakers: None, bot: Bot, user: SlackClient, slack: SlackFake, link
) -> None:
    link("UALICE", "alices")
    user.command("UALICE", "criar secret")
    view = opened(slack)
    assert view["title"]["text"] == "Criar segredo de API"
    typed = {
        "name": "Billing",
        "url": "https://api.example.com",
        "client_id": "c1",
        "client_secret": "s-Ecret-9",
        "method": "fetch",
    }
    refused = submit(user, "UALICE", view, typed).json()
    assert refused["errors"] == {
        "method": "precisa ser um de get, post, put, patch, delete, head, options"
    }

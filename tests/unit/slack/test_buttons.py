"""Each durable button is declared once: its action id and its job kind name no other button."""

from __future__ import annotations

from app.slack.listeners.actions import BUTTONS, CLICKS, MODALS


def test_no_two_buttons_share_an_action_id_or_a_job_kind() -> None:
    assert len(CLICKS) == len(BUTTONS)
    assert len({button.kind for button in BUTTONS}) == len(BUTTONS)


def test_a_button_that_opens_a_modal_is_never_also_a_job() -> None:
    assert not {action_id for action_id, _ in MODALS} & set(CLICKS)

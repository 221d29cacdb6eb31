"""The passkey ceremony's refusals (app.approvals.stepup), in the reader's language.

The ceremony raises them in English, before the page knows whose language to speak (a
verification reads its link inside the ceremony); the page translates them as it answers.
Each sentence here is the ceremony's own, word for word; those that carry py_webauthn's words
(`_said`, never translated) are matched by their beginning and keep those words after it.
"""

from __future__ import annotations

from app.i18n import N_, _

#: The ceremony's fixed sentences.
FIXED = (
    N_(
        "Passkeys need MYSAFE_BOT_PUBLIC_URL, the bot's address for browsers: "
        "ask the bot's operator to set it."
    ),
    N_(
        "This link has expired or was already used. Links work once, for a few "
        "minutes: go back to Slack and ask for a new one."
    ),
    N_("This link was already used: go back to Slack for a new one."),
    N_(
        "You have no passkey registered with the bot yet: type /mysafe passkey in "
        "Slack to register one, then click Approve again."
    ),
    N_("This check was already used or took too long: go back to Slack for a new link."),
    N_("This link has expired: go back to Slack for a new one."),
    N_("This passkey is registered already, or you have too many."),
    N_("That passkey is not one you registered with the bot."),
    N_("The passkey's counter went back: it may have been copied."),
    N_("This passkey check did not succeed."),
)

#: Sentences that end with py_webauthn's words: their English beginning, and the whole
#: sentence to translate with those words as `{why}`.
SAYING = (
    ("The passkey could not be registered: ", N_("The passkey could not be registered: {why}.")),
    ("The passkey check failed: ", N_("The passkey check failed: {why}.")),
)


def translated(refusal: str) -> str:
    """`refusal` in the language spoken now; a sentence not known here stays as it came."""
    if refusal in FIXED:
        return _(refusal)
    for start, sentence in SAYING:
        if refusal.startswith(start) and refusal.endswith("."):
            return _(sentence).format(why=refusal[len(start) : -1])
    return refusal

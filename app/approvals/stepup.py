"""Step-up with a passkey: one-time links, WebAuthn challenges and their verification.

A Slack click proves only that someone holds a Slack session. A rule with `step_up: passkey`
makes the click record "confirming" (app/approvals/lua/transition.lua) and answers the
approver alone with a one-time link; the approval counts when the bot's page has verified an
assertion of one of *that approver's* passkeys, for a challenge made after the click, within
the rule's `step_up_max_age`. `/mysafe passkey` sends a link of the same kind to register one.

    P:{stepup}:link:{sha256(token)}       -> JSON of a `Link`      (TTL: the link's life)
    P:{stepup}:challenge:{sha256(token)}  -> JSON of the challenge (TTL: the ceremony's)

Only a token's hash is stored. Opening the page only reads the link; asking for the
WebAuthn options *takes* it (GETDEL: a link starts one ceremony, once) and stores the
challenge; verifying takes the challenge (GETDEL: an assertion is checked once). The
challenge is SHA-256 of request id, approver and a 256-bit nonce, so it names what it
confirms. Verification is py_webauthn's: RP ID and origin from `MYSAFE_BOT_PUBLIC_URL`, user
verification required, the credential must be the link's person's, and its signature counter
must move forward (a cloned authenticator is refused).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from app.accounts.passkeys import Passkey, Passkeys
from app.foundations.clock import timestamp
from app.foundations.errors import ApprovalError
from app.foundations.storage import RedisClient

RP_NAME = "MySafe approvals"
#: How long a registration link works.
REGISTER_TTL = 600
#: How long a ceremony may take once its options are handed out (the browser's own timeout).
CEREMONY_TTL = 120


class StepUpRefused(ApprovalError):
    """A step-up or registration that cannot go on; the message is for the person. `link`
    is the one-time link it was refused for, once the link is known (for the audit record)."""

    user_message = "This passkey check did not succeed."

    def __init__(self, message: str, *, link: Link | None = None) -> None:
        super().__init__(message)
        self.link = link


class Purpose(StrEnum):
    REGISTER = "register"
    CONFIRM = "confirm"


@dataclass(frozen=True)
class Link:
    """What a one-time token stands for: whose it is and, to confirm, which click."""

    purpose: Purpose
    user: str
    request: str = ""
    #: The click's time as the request records it (`ChangeRequest.confirming`).
    clicked: str = ""
    expires: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> Link:
        data = json.loads(raw)
        return cls(**{**data, "purpose": Purpose(data["purpose"])})


@dataclass(frozen=True)
class Confirmed:
    """A verified assertion: the click it confirms and the passkey that signed."""

    link: Link
    credential_id: str


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def challenge_for(link: Link, nonce: bytes) -> bytes:
    """The WebAuthn challenge: bound to the request, the approver and a fresh nonce."""
    return hashlib.sha256(b"\0".join((link.request.encode(), link.user.encode(), nonce))).digest()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StepUp:
    def __init__(
        self,
        redis: RedisClient,
        *,
        prefix: str,
        public_url: str,
        passkeys: Passkeys,
        clock: Callable[[], float] = timestamp,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.public_url = public_url
        self.passkeys = passkeys
        self.clock = clock

    @property
    def rp_id(self) -> str:
        return urlsplit(self.public_url).hostname or ""

    def _key(self, kind: str, token: str) -> str:
        return ":".join((self.prefix, "{stepup}", kind, _digest(token)))

    def _need_url(self) -> None:
        if not self.public_url:
            raise StepUpRefused(
                "Passkeys need MYSAFE_BOT_PUBLIC_URL, the bot's address for browsers: "
                "ask the bot's operator to set it."
            )

    # --- links -----------------------------------------------------------------------------

    def _issue(self, link: Link, ttl: int) -> str:
        self._need_url()
        token = secrets.token_urlsafe(32)
        self.redis.set(self._key("link", token), link.to_json(), ex=max(int(ttl), 1))
        return token

    def register_link(self, user: str) -> str:
        """A one-time URL of the page where `user` registers a passkey."""
        link = Link(Purpose.REGISTER, user, expires=self.clock() + REGISTER_TTL)
        return f"{self.public_url}/passkeys/{self._issue(link, REGISTER_TTL)}"

    def confirm_link(self, *, request: str, user: str, clicked: str, max_age: int) -> str:
        """A one-time URL of the page where `user` confirms their click of `clicked`; it
        works until the click is `max_age` old, as the approval would."""
        expires = float(clicked) + max_age
        link = Link(Purpose.CONFIRM, user, request=request, clicked=clicked, expires=expires)
        return f"{self.public_url}/step-up/{self._issue(link, int(expires - self.clock()) + 1)}"

    def peek(self, token: str, purpose: Purpose) -> Link:
        """The link as it stands, without using it (the page shows what it confirms)."""
        raw = self.redis.get(self._key("link", token)) if _plausible(token) else None
        link = Link.from_json(raw) if raw else None
        if link is None or link.purpose is not purpose or link.expires < self.clock():
            raise StepUpRefused(
                "This link has expired or was already used. Links work once, for a few "
                "minutes: go back to Slack and ask for a new one."
            )
        return link

    # --- ceremonies ------------------------------------------------------------------------

    def begin(self, token: str, purpose: Purpose) -> tuple[Link, str]:
        """Use the link (once) and hand out the WebAuthn options, as JSON for the page."""
        self.peek(token, purpose)
        raw = self.redis.getdel(self._key("link", token))
        if not raw:
            raise StepUpRefused("This link was already used: go back to Slack for a new one.")
        link = Link.from_json(raw)
        nonce = secrets.token_bytes(32)
        kept = {"link": raw, "nonce": b64url(nonce)}
        ttl = CEREMONY_TTL if purpose is Purpose.REGISTER else int(link.expires - self.clock()) + 1
        self.redis.set(
            self._key("challenge", token), json.dumps(kept), ex=max(min(ttl, CEREMONY_TTL), 1)
        )
        challenge = challenge_for(link, nonce)
        if purpose is Purpose.REGISTER:
            return link, self._registration_options(link, challenge)
        return link, self._authentication_options(link, challenge)

    def _registration_options(self, link: Link, challenge: bytes) -> str:
        options = generate_registration_options(
            rp_id=self.rp_id,
            rp_name=RP_NAME,
            user_id=hashlib.sha256(link.user.encode()).digest()[:16],
            user_name=link.user,
            challenge=challenge,
            timeout=CEREMONY_TTL * 1000,
            attestation=AttestationConveyancePreference.NONE,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=unb64url(p.credential_id))
                for p in self.passkeys.of(link.user)
            ],
        )
        return options_to_json(options)

    def _authentication_options(self, link: Link, challenge: bytes) -> str:
        mine = self.passkeys.of(link.user)
        if not mine:
            raise StepUpRefused(
                "You have no passkey registered with the bot yet: type /mysafe passkey in "
                "Slack to register one, then click Approve again."
            )
        options = generate_authentication_options(
            rp_id=self.rp_id,
            challenge=challenge,
            timeout=CEREMONY_TTL * 1000,
            allow_credentials=[
                PublicKeyCredentialDescriptor(id=unb64url(p.credential_id)) for p in mine
            ],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return options_to_json(options)

    def _take_challenge(self, token: str, purpose: Purpose) -> tuple[Link, bytes]:
        raw = self.redis.getdel(self._key("challenge", token)) if _plausible(token) else None
        if not raw:
            raise StepUpRefused(
                "This check was already used or took too long: go back to Slack for a new link."
            )
        kept = json.loads(raw)
        link = Link.from_json(kept["link"])
        if link.purpose is not purpose or link.expires < self.clock():
            raise StepUpRefused("This link has expired: go back to Slack for a new one.")
        return link, challenge_for(link, unb64url(kept["nonce"]))

    def register(
        self, token: str, credential: dict[str, Any], *, label: str = "passkey"
    ) -> tuple[str, Passkey]:
        """Verify a new passkey's registration (attestation `none`, user verified) and keep it."""
        link, challenge = self._take_challenge(token, Purpose.REGISTER)
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.public_url,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as error:
            raise StepUpRefused(f"The passkey could not be registered: {_said(error)}.") from None
        passkey = Passkey(
            credential_id=b64url(verified.credential_id),
            public_key=b64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            created=self.clock(),
            label=label[:60] or "passkey",
        )
        if not self.passkeys.add(link.user, passkey):
            raise StepUpRefused("This passkey is registered already, or you have too many.")
        return link.user, passkey

    def verify(self, token: str, credential: dict[str, Any]) -> Confirmed:
        """Verify an assertion for a confirm link: of the link's person's own passkey, for
        this link's challenge, RP ID and origin, user verified, its counter going forward."""
        link, challenge = self._take_challenge(token, Purpose.CONFIRM)
        passkey = self.passkeys.get(link.user, str(credential.get("id", ""))[:1024])
        if passkey is None:
            raise StepUpRefused("That passkey is not one you registered with the bot.", link=link)
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.public_url,
                credential_public_key=unb64url(passkey.public_key),
                # The counter is checked once, below, in one Redis script (two assertions
                # racing cannot both pass) and told in words a person understands.
                credential_current_sign_count=0,
                require_user_verification=True,
            )
        except (WebAuthnException, ValueError, KeyError, TypeError) as error:
            raise StepUpRefused(f"The passkey check failed: {_said(error)}.", link=link) from None
        if not self.passkeys.raise_count(link.user, passkey.credential_id, verified.new_sign_count):
            raise StepUpRefused("The passkey's counter went back: it may have been copied.", link=link)
        return Confirmed(link, passkey.credential_id)


def _plausible(token: str) -> bool:
    return 20 <= len(token) <= 100


def _said(error: Exception) -> str:
    """py_webauthn's own words (they name the check, never key material), one line."""
    return " ".join(str(error).split())[:200].rstrip(".") or type(error).__name__

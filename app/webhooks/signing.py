"""The webhook's HMAC scheme, used both to check what ticket systems send and to sign callbacks.

`X-MySafe-Bot-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{raw body}">`, with the Unix
timestamp in `X-MySafe-Bot-Timestamp`; a signature older than five minutes is refused, so a
captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-MySafe-Bot-Timestamp"
SIGNATURE_HEADER = "X-MySafe-Bot-Signature"
MAX_AGE = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if now is None else now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str, timestamp: str | None, given: str | None, body: bytes, *, now: float | None = None
) -> bool:
    """True only for a fresh timestamp and a matching signature (compared in constant time)."""
    if not timestamp or not given or not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_AGE:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), given)


def bearer_matches(secret: str, authorization: str | None) -> bool:
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), secret.encode())

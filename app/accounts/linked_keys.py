"""Per-person MySafe keys, and who a Slack mention means in MySafe.

Redis layout (all under one hash tag, so a link is one MULTI on one slot, even on a cluster):

    {prefix}:{vault}:account:{slack_id}   hash: client_id, client_secret (Fernet), mysafe_username,
                                          linked_at, confirmed ("1" when an administrator set
                                          the name, "0" when the person only claimed it)
    {prefix}:{vault}:accounts             set of linked Slack IDs (for `users list`)
    {prefix}:{vault}:mentions             hash: Slack ID -> MySafe username (people who have not
                                          linked a key but can be shared with)
    {prefix}:{vault}:token:{slack_id}     string: the cached MySafe token (Fernet; app.mysafe.tokens)

The client secret is never stored or shown in clear; `LinkedAccount` has no secret at all.

Who someone is in MySafe: the MySafe API has no "who am I" call, so a key proves access, not
a name. The trustworthy source is an administrator: `mysafe-bot users link … --mysafe-username`
or `mysafe-bot users map`. A name typed into `/mysafe login` is kept as *claimed*: shown
marked unconfirmed, and never used to resolve a mention, to decide who gains access, or (with
the approval policy) to count an approval, until an administrator maps that person.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from app.foundations.clock import utcnow
from app.foundations.crypto import Keyring
from app.foundations.errors import CredentialsMissing, ValidationError
from app.foundations.storage import RedisClient, compare_and_set
from app.mysafe.client import MySafe
from app.mysafe.tokens import Credentials, vault_key

SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,20}$")
MYSAFE_USERNAME = re.compile(r"^[^\s<>@\"'`]{1,128}$")


@dataclass(frozen=True)
class LinkedAccount:
    slack_id: str
    client_id: str
    mysafe_username: str
    linked_at: str
    #: True when an administrator set the MySafe name; False when the person only typed it.
    confirmed: bool = True


def check_slack_id(slack_id: str) -> str:
    if not SLACK_USER.match(slack_id or ""):
        raise ValidationError({"slack_id": "expected a Slack user ID such as U012ABCDEF"})
    return slack_id


#: Unicode categories never in a username: controls (ESC, DEL, C1) and format characters
#: (bidi overrides, zero-width ones), which can rewrite or hide text on a terminal or in Slack.
_INVISIBLE = frozenset({"Cc", "Cf"})


def check_username(name: str) -> str:
    if not MYSAFE_USERNAME.match(name or ""):
        raise ValidationError({"mysafe_username": "expected a MySafe username without spaces"})
    if any(unicodedata.category(c) in _INVISIBLE for c in name):
        raise ValidationError(
            {"mysafe_username": "expected a MySafe username without control or invisible characters"}
        )
    return name


class Vault:
    def __init__(self, redis: RedisClient, keyring: Keyring, *, prefix: str) -> None:
        self.redis = redis
        self.keyring = keyring
        self.prefix = prefix

    # --- keys ----------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return vault_key(self.prefix, *parts)

    def account_key(self, slack_id: str) -> str:
        return self._key("account", slack_id)

    # --- accounts ------------------------------------------------------------------------

    def link(
        self,
        slack_id: str,
        *,
        client_id: str,
        client_secret: str,
        mysafe_username: str,
        confirmed: bool = True,
    ) -> LinkedAccount:
        """Store a key (secret encrypted). Callers verify it first: see `link_verified`.

        `confirmed` says an administrator vouches for the MySafe name (the CLI); a name the
        person typed is stored unconfirmed unless the administrators' map already says so."""
        check_slack_id(slack_id)
        check_username(mysafe_username)
        if not client_id.strip() or len(client_id) > 512:
            raise ValidationError({"client_id": "expected MySafe's client ID (1-512 characters)"})
        if not client_secret or len(client_secret) > 4096:
            raise ValidationError({"client_secret": "expected MySafe's client secret"})
        mapped = self.redis.hget(self._key("mentions"), slack_id)
        confirmed = confirmed or (
            mapped is not None and mapped.casefold() == mysafe_username.casefold()
        )
        account = LinkedAccount(
            slack_id,
            client_id.strip(),
            mysafe_username,
            utcnow().isoformat(timespec="seconds"),
            confirmed,
        )
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self.account_key(slack_id),
                mapping={
                    "client_id": account.client_id,
                    "client_secret": self.keyring.encrypt(client_secret).decode("ascii"),
                    "mysafe_username": account.mysafe_username,
                    "linked_at": account.linked_at,
                    "confirmed": "1" if account.confirmed else "0",
                },
            )
            pipe.sadd(self._key("accounts"), slack_id)
            pipe.execute()
        return account

    def unlink(self, slack_id: str) -> bool:
        """Forget the key and its cached token in one step: no call after this finds either."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.account_key(slack_id))
            pipe.srem(self._key("accounts"), slack_id)
            pipe.delete(self._key("token", slack_id))
            deleted, _, _ = pipe.execute()
        return bool(deleted)

    def account(self, slack_id: str) -> LinkedAccount | None:
        return _account(slack_id, self.redis.hgetall(self.account_key(slack_id)))

    def account_and_name(self, slack_id: str) -> tuple[LinkedAccount | None, str | None]:
        """`account` and `mysafe_username` in one round trip (`/mysafe whoami` shows both)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(self._key("mentions"), slack_id)
        pipe.hgetall(self.account_key(slack_id))
        mapped, data = pipe.execute()
        name, _ = _names(mapped, data.get("mysafe_username"), data.get("confirmed"))
        return _account(slack_id, data), name

    def accounts(self) -> list[LinkedAccount]:
        ids = sorted(self.redis.smembers(self._key("accounts")))
        return [a for a in (self.account(i) for i in ids) if a is not None]

    def credentials(self, slack_id: str) -> Credentials:
        """The person's key, decrypted; `CredentialsMissing` when they have not linked one."""
        data = self.redis.hmget(self.account_key(slack_id), "client_id", "client_secret")
        if not data[0] or not data[1]:
            raise CredentialsMissing()
        return Credentials(data[0], self.keyring.decrypt(data[1]))

    def client_id(self, slack_id: str) -> str | None:
        """The client ID linked now (the fencing check before a write made with the key)."""
        return self.redis.hget(self.account_key(slack_id), "client_id")

    def rotate_keys(self) -> int:
        """Re-encrypt every client secret with the newest key; returns how many were rewritten.

        Each rewrite is a compare-and-set: an account re-linked or unlinked meanwhile keeps
        what that link or unlink wrote (never its new client ID with the old secret, never
        brought back)."""
        count = 0
        for slack_id in self.redis.smembers(self._key("accounts")):
            key = self.account_key(slack_id)
            stored = self.redis.hget(key, "client_secret")
            if stored:
                fresh = self.keyring.rotate(stored).decode("ascii")
                count += compare_and_set(self.redis, key, "client_secret", stored, fresh)
        return count

    def linked_ids(self) -> set[str]:
        return set(self.redis.smembers(self._key("accounts")))

    # --- mentions ------------------------------------------------------------------------

    def map_mention(self, slack_id: str, mysafe_username: str) -> None:
        self.redis.hset(
            self._key("mentions"), check_slack_id(slack_id), check_username(mysafe_username)
        )

    def unmap_mention(self, slack_id: str) -> bool:
        return bool(self.redis.hdel(self._key("mentions"), slack_id))

    def mentions(self) -> dict[str, str]:
        return dict(self.redis.hgetall(self._key("mentions")))

    def mysafe_username(self, slack_id: str) -> str | None:
        """Who this person is in MySafe, from a trustworthy source only: the administrators'
        map, else a linked account whose name an administrator set. A claimed name is None
        here (see `claimed_username`)."""
        return self.usernames(slack_id)[0]

    def claimed_username(self, slack_id: str) -> str | None:
        """A name the person typed at login and no administrator has confirmed (display only)."""
        return self.usernames(slack_id)[1]

    def usernames(self, slack_id: str) -> tuple[str | None, str | None]:
        """(`mysafe_username`, `claimed_username`) in one round trip: a request's submit
        names its requester three times (the policy's subject, the message, the stored ids)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hget(self._key("mentions"), slack_id)
        pipe.hmget(self.account_key(slack_id), "mysafe_username", "confirmed")
        mapped, (name, confirmed) = pipe.execute()
        return _names(mapped, name, confirmed)


def _account(slack_id: str, data: dict[str, str]) -> LinkedAccount | None:
    """The account as its hash holds it; None when there is none."""
    if not data:
        return None
    return LinkedAccount(
        slack_id,
        data["client_id"],
        data["mysafe_username"],
        data.get("linked_at", ""),
        data.get("confirmed", "1") == "1",
    )


def _names(
    mapped: str | None, name: str | None, confirmed: str | None
) -> tuple[str | None, str | None]:
    """(`mysafe_username`, `claimed_username`) from the administrators' map and the linked
    account's name and its `confirmed` flag."""
    if mapped:
        return mapped, None
    if not name:
        return None, None
    return (name, None) if confirmed != "0" else (None, name)


def link_verified(
    vault: Vault,
    mysafe: MySafe,
    slack_id: str,
    *,
    client_id: str,
    client_secret: str,
    mysafe_username: str,
    confirmed: bool,
) -> LinkedAccount:
    """Fetch a token with the key first; a key MySafe rejects is never stored. `confirmed`:
    an administrator set the name (see the module docstring)."""
    check_slack_id(slack_id)
    check_username(mysafe_username)
    credentials = Credentials(client_id.strip(), client_secret)
    mysafe.session_for(slack_id, credentials).check()
    account = vault.link(
        slack_id,
        client_id=credentials.client_id,  # the one checked, not what was pasted around it
        client_secret=client_secret,
        mysafe_username=mysafe_username,
        confirmed=confirmed,
    )
    return account


def unlink_person(vault: Vault, slack_id: str) -> bool:
    """`/mysafe logout` and `users unlink`: forget the key, its token and the MCP token, so
    nothing the person set up keeps acting for them."""
    from app.accounts.mcp_tokens import McpTokens

    removed = vault.unlink(slack_id)
    McpTokens(vault.redis, prefix=vault.prefix).revoke(slack_id)
    return removed

"""Who may take part at all: members of this organisation, not guests, not bots, not deleted.

Guests (`is_restricted`, `is_ultra_restricted`), people from another organisation in a shared
channel (their `team_id` is not ours, nor their Enterprise Grid org), deactivated accounts and
bots can neither request nor approve. Slack says which through `users.info`; each answer is
cached in Redis for `PROFILE_CACHE_SECONDS`, so a burst of clicks does not wait on Slack and
every process agrees, while a guest made a member (or a member deactivated) is seen within a
minute. If Slack cannot be asked, the answer is "not now": an outage never widens who takes part.

The same answer carries the person's language (`locale`, asked with `include_locale`): it is
kept with the profile and, for `LOCALE_CACHE_SECONDS`, on its own, so an ack (which never asks
Slack) can answer in it. That one is kept under the jobs' hash tag (`locale_key`), not with the
person's other facts: a command's ack reads it in the same script that counts and stores the
command (`JobQueue.take`), one round trip, and on a Redis Cluster a script's keys share a slot.
Every process reads it from Redis, never from its own memory, so after a person switches
language every web worker answers in the new one at once.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app.foundations.storage import RedisClient
from app.i18n import N_, _
from app.jobs.queue import hash_tag

log = logging.getLogger(__name__)

PROFILE_CACHE_SECONDS = 60
#: Our own organisation (auth.test) changes only if the token does: kept an hour.
TEAM_CACHE_SECONDS = 3600
#: A person's language changes rarely, and a stale one only words a reply differently: a week.
LOCALE_CACHE_SECONDS = 7 * 86400

GUEST = N_("Guests cannot request or approve MySafe changes.")
OTHER_ORG = N_("People from another organisation cannot request or approve MySafe changes here.")
DEACTIVATED = N_("A deactivated Slack account cannot request or approve MySafe changes.")
BOT = N_("Bots and apps cannot request or approve MySafe changes.")
UNKNOWN = N_("Slack could not say who you are just now, so nothing was done. Try again in a minute.")


#: Slack's locales are IETF tags such as `pt-BR`; anything longer is not one.
MAX_LOCALE = 16


class People:
    def __init__(self, redis: RedisClient, slack: WebClient, *, prefix: str) -> None:
        self.redis = redis
        self.slack = slack
        self.prefix = prefix

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, "people", *parts))

    def _person(self, user_id: str, fact: str) -> str:
        """One person's cached facts share a hash tag, so they are dropped together on a
        Redis Cluster too (one DEL)."""
        return self._key(f"{{{user_id}}}", fact)

    def standing(self, user_id: str) -> str | None:
        """Why this person may neither request nor approve, in the language spoken, or None
        when they may."""
        why = self._standing(user_id)
        return None if why is None else _(why)

    def _standing(self, user_id: str) -> str | None:
        profile, ours = self._profile_and_organisation(user_id)
        if profile is None or ours is None:
            return UNKNOWN
        if profile.get("deleted"):
            return DEACTIVATED
        if profile.get("is_bot") or profile.get("is_app_user") or user_id == "USLACKBOT":
            return BOT
        if profile.get("is_restricted") or profile.get("is_ultra_restricted"):
            return GUEST
        if not _same_organisation(profile, ours):
            return OTHER_ORG
        return None

    def _profile_and_organisation(
        self, user_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """`_profile` and our organisation (`auth.test`), both read from their cache in one
        round trip (a pipeline, not a transaction: on a Redis Cluster they are two slots)."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self._person(user_id, "user"))
            pipe.get(self._key("team"))
            profile, team = pipe.execute()
        return self._profile_from(user_id, profile), self._organisation_from(team)

    def _profile(self, user_id: str) -> dict[str, Any] | None:
        """The fields of `users.info` that decide, cached (never the person's name or e-mail)."""
        return self._profile_from(user_id, self.redis.get(self._person(user_id, "user")))

    def _profile_from(self, user_id: str, cached: str | None) -> dict[str, Any] | None:
        """The profile as `cached` (what its key held), or asked of Slack when it held none."""
        key = self._person(user_id, "user")
        if cached is not None:
            return dict(json.loads(cached))
        try:
            user = self.slack.users_info(user=user_id, include_locale=True)["user"]
        except SlackApiError as error:
            log.warning(
                "cannot read a Slack profile",
                extra={
                    "event": "people.profile_error",
                    "user": user_id,
                    "error": error.response.get("error", ""),
                },
            )
            return None
        kept = {
            k: user.get(k)
            for k in (
                "team_id",
                "deleted",
                "is_bot",
                "is_app_user",
                "is_restricted",
                "is_ultra_restricted",
            )
        }
        kept["enterprise_id"] = (user.get("enterprise_user") or {}).get("enterprise_id")
        kept["locale"] = str(user.get("locale") or "")[:MAX_LOCALE]
        self.redis.set(key, json.dumps(kept), ex=PROFILE_CACHE_SECONDS)
        if kept["locale"]:
            self.redis.set(self.locale_key(user_id), kept["locale"], ex=LOCALE_CACHE_SECONDS)
        return kept

    def locale(self, user_id: str) -> str | None:
        """The person's Slack locale (`pt-BR`) as their profile says it (cached a minute, so
        a change in Slack is seen within one), or as last read when Slack cannot be asked;
        None when neither says (the workspace's language is spoken then)."""
        profile = self._profile(user_id)
        if profile is not None and profile.get("locale"):
            return str(profile["locale"])
        return self.known_locale(user_id)

    def locale_key(self, user_id: str) -> str:
        """Where the person's language is kept for the acks: under the jobs' hash tag, so a
        command's ack reads it in its own script (`JobQueue.take`), on a Redis Cluster too.
        Its value is the locale, or "" when none is known (no second read then)."""
        return f"{hash_tag(self.prefix)}:locale:{user_id}"

    def known_locale(self, user_id: str) -> str | None:
        """The person's locale as last read from Slack, without asking Slack (for an ack).
        None when Redis cannot say: the ack still answers (that nothing was done, when Redis
        is down), in the workspace's language."""
        try:
            read = self.redis.get(self.locale_key(user_id))
        except redis.RedisError:
            return None
        return self.locale_from(user_id, read)

    def locale_from(self, user_id: str, read: str | None) -> str | None:
        """The person's locale from what was read at `locale_key` (by an ack's own script),
        None for the workspace's. An absent key is looked up where earlier releases kept it
        (`_moved_locale`), once: the answer is copied to `locale_key`."""
        if read is None:
            try:
                read = self._moved_locale(user_id)
            except redis.RedisError:
                return None
        return str(read) or None

    def _moved_locale(self, user_id: str) -> str:
        """The locale kept with the person's facts (`people:{U}:locale`, written by earlier
        releases for a week), copied to `locale_key`, or "" copied there when there is none,
        so the next ack reads its answer in its own round trip. NX: a locale written there
        since (by a job or a `user_change`) is newer than this one."""
        moved = str(self.redis.get(self._person(user_id, "locale")) or "")
        self.redis.set(self.locale_key(user_id), moved, nx=True, ex=LOCALE_CACHE_SECONDS)
        return moved

    def changed(self, user: dict[str, Any]) -> None:
        """Slack says the person changed (`user_change`: their language, or their standing):
        drop what is kept of them, so their next click or command reads them afresh, and keep
        the language the event carries (Slack adds it to these events), so even the next
        acknowledgement speaks it. The profile and the language are in two slots of a Redis
        Cluster: two writes, each whole; the language's key of earlier releases goes first,
        so an ack between them cannot copy it back (`_moved_locale`)."""
        user_id = str(user.get("id", ""))
        locale = str(user.get("locale") or "")[:MAX_LOCALE]
        self.redis.delete(self._person(user_id, "user"), self._person(user_id, "locale"))
        if locale:
            self.redis.set(self.locale_key(user_id), locale, ex=LOCALE_CACHE_SECONDS)
        else:
            self.redis.delete(self.locale_key(user_id))

    def email(self, user_id: str) -> str | None:
        """The person's e-mail as Slack shows it (`users.info`, scope users:read.email),
        asked afresh and never cached: the on-call check matches on it. None when Slack
        cannot say (the check then refuses)."""
        try:
            user = self.slack.users_info(user=user_id)["user"]
        except SlackApiError as error:
            log.warning(
                "cannot read a Slack e-mail",
                extra={
                    "event": "people.email_error",
                    "user": user_id,
                    "error": error.response.get("error", ""),
                },
            )
            return None
        email = (user.get("profile") or {}).get("email")
        return str(email) if email else None

    def _organisation_from(self, cached: str | None) -> dict[str, Any] | None:
        """Our organisation as `cached` (what its key held), or asked of Slack (`auth.test`)."""
        key = self._key("team")
        if cached is not None:
            return dict(json.loads(cached))
        try:
            answer = self.slack.auth_test()
        except SlackApiError as error:
            log.warning(
                "cannot read the bot's own team",
                extra={"event": "people.team_error", "error": error.response.get("error", "")},
            )
            return None
        ours = {"team_id": answer.get("team_id"), "enterprise_id": answer.get("enterprise_id")}
        self.redis.set(key, json.dumps(ours), ex=TEAM_CACHE_SECONDS)
        return ours


def _same_organisation(profile: dict[str, Any], ours: dict[str, Any]) -> bool:
    """Same workspace, or the same Enterprise Grid organisation."""
    if ours.get("team_id") and profile.get("team_id") == ours["team_id"]:
        return True
    return bool(ours.get("enterprise_id")) and profile.get("enterprise_id") == ours["enterprise_id"]

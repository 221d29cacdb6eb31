"""Everything a process needs to do the bot's work, built once from the settings.

The web app, the worker and the CLI each build one `Services`; tests build it with their own
settings and Redis. Nothing here is created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.accounts.linked_keys import Vault
from app.foundations.clock import timestamp
from app.foundations.crypto import Keyring
from app.foundations.settings import Settings
from app.foundations.storage import EmbeddedRedis, RedisClient, connect
from app.mysafe.client import MySafe
from app.mysafe.tokens import TokenCache
from app.mysafe.transport import Transport
from app.oncall import OnCallClient


@dataclass
class Services:
    settings: Settings
    redis: RedisClient
    keyring: Keyring
    vault: Vault
    mysafe: MySafe
    embedded: EmbeddedRedis | None = None
    #: Who is on call, for break-glass (None: no MYSAFE_BOT_ON_CALL_PROVIDER).
    on_call: OnCallClient | None = None

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        redis: RedisClient | None = None,
        transport: Transport | None = None,
    ) -> Services:
        embedded = None
        if redis is None:
            if settings.redis_url:
                redis = connect(settings.redis_url)
            else:
                embedded = EmbeddedRedis(settings.data_dir)
                redis = connect(embedded.url)
        keyring = Keyring(settings.encryption_keys)
        prefix = settings.key_prefix
        mysafe = MySafe(
            base_url=settings.mysafe_url,
            transport=transport or Transport(ca_bundle=settings.mysafe_ca_bundle),
            tokens=TokenCache(redis, keyring, prefix=prefix),
            timeout=settings.mysafe_timeout,
            token_path=settings.mysafe_token_path,
            basic_auth=settings.mysafe_basic_auth,
        )
        vault = Vault(redis, keyring, prefix=prefix)
        return cls(settings, redis, keyring, vault, mysafe, embedded, on_call_client(settings))

    def close(self) -> None:
        self.mysafe.transport.close()
        if self.on_call is not None:
            self.on_call.session.close()
        if self.embedded is not None:
            self.embedded.stop()


def on_call_client(settings: Settings) -> OnCallClient | None:
    """The on-call provider's client, when one is set (break-glass is refused otherwise)."""
    if not settings.on_call_provider:
        return None
    return OnCallClient(
        provider=settings.on_call_provider,
        token=settings.on_call_token,
        base_url=settings.on_call_url,
        timeout=settings.on_call_timeout,
        clock=timestamp,
    )

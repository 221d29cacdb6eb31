"""The Ed25519 key that signs checkpoints: text forms, generation, and the demo's key file.

Both keys travel as URL-safe base64 of their 32 raw bytes (as Fernet keys do): short enough for
an environment variable, a Slack message or `audit verify --key`. With no
`MYSAFE_BOT_AUDIT_SIGNING_KEY` the key is made once and kept in `DATA_DIR/audit-signing.key`
(mode 0600), so the demo and a single-host set-up sign with nothing set; `doctor` says when a
deployment relies on that file.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

KEY_FILE = "audit-signing.key"


def _raw(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("not base64") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 key is 32 bytes")
    return raw


def load_private(text: str) -> Ed25519PrivateKey:
    """The key from its text form; `ValueError` when it is not one."""
    return Ed25519PrivateKey.from_private_bytes(_raw(text))


#: Before a public key's text: it names the algorithm, and a key whose base64 starts with "-"
#: would otherwise be read by the command line as an option (`audit verify --key -Xy…`).
PUBLIC_PREFIX = "ed25519:"


def load_public(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw(text.strip().removeprefix(PUBLIC_PREFIX)))


def private_text(key: Ed25519PrivateKey) -> str:
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return base64.urlsafe_b64encode(raw).decode("ascii")


def public_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii")


def generate() -> str:
    """A new private key's text form (`mysafe-bot keygen --audit`)."""
    return private_text(Ed25519PrivateKey.generate())


def verified(public: Ed25519PublicKey, signature: str, message: bytes) -> bool:
    try:
        public.verify(base64.urlsafe_b64decode(signature.encode("ascii")), message)
    except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError):
        return False
    return True


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.urlsafe_b64encode(key.sign(message)).decode("ascii")


def signing_key(configured: str, data_dir: Path) -> Ed25519PrivateKey:
    """The configured key, else the one kept under `data_dir` (made on first use, 0600)."""
    if configured:
        return load_private(configured)
    path = data_dir / KEY_FILE
    if not path.is_file():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{KEY_FILE}.{os.getpid()}"
        # Created 0600 before anything is written, then linked into place whole: no reader
        # ever sees it half written, and a second process of this host keeps the first's.
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(generate() + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return load_private(path.read_text())

"""New random passwords for `rotate-after`: made with `secrets`, shown nowhere, kept sealed.

The value goes into the MySafe update of the revoke that needs it: no log line, audit record
or Slack message ever holds it. Until the revoke is recorded it is kept on the revoke's record
only sealed with the keyring, as pending secret values are, so a worker that takes the revoke
over after a kill sends the same one. The owner is told to look it up in MySafe.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable

CLASSES = {
    "lower": string.ascii_lowercase,
    "upper": string.ascii_uppercase,
    "digits": string.digits,
    "symbols": "!#$%*+-.:=?@_~",
}


def new_password(length: int, classes: Iterable[str]) -> str:
    """`length` characters with at least one of each class, placed at random."""
    pools = [CLASSES[name] for name in sorted(classes)]
    if length < len(pools):
        raise ValueError("the length cannot fit one character of each class")
    every = "".join(pools)
    chosen = [secrets.choice(pool) for pool in pools]
    chosen += [secrets.choice(every) for _ in range(length - len(pools))]
    for i in range(len(chosen) - 1, 0, -1):  # Fisher-Yates with the system's randomness
        j = secrets.randbelow(i + 1)
        chosen[i], chosen[j] = chosen[j], chosen[i]
    return "".join(chosen)

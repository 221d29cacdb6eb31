"""A faithful emulator of the Segura MySafe REST API: the names tests and tools import.

The emulator lives in three modules, one idea each: `state` (users, keys, entries and the
vendor's rules), `http` (the Flask routes with the vendor's envelope and quirks, and a server
on a loopback port) and `demo_data` (the demo vault of `make run` and `make sandbox`).
`EmulatorOptions` switches on the variants older installations show, and `Emulator.inject()`
queues faults.
"""

from __future__ import annotations

from app.sandbox.http import EmulatorServer, create_emulator_app
from app.sandbox.state import (
    PASSWORD,
    SECRET,
    BusinessError,
    Call,
    Emulator,
    EmulatorOptions,
    Entry,
    Fault,
    Gate,
    Kind,
    totp,
)

__all__ = [
    "PASSWORD",
    "SECRET",
    "BusinessError",
    "Call",
    "Emulator",
    "EmulatorOptions",
    "EmulatorServer",
    "Entry",
    "Fault",
    "Gate",
    "Kind",
    "create_emulator_app",
    "totp",
]

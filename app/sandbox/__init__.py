"""A MySafe emulator that follows the vendor's API contract, for tests and `mysafe-bot sandbox`."""

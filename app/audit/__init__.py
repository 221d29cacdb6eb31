"""The verifiable audit log: sequence numbers, an RFC 6962 Merkle tree, signed checkpoints,
export and verify (docs/audit.md). Knows nothing of the bot around it: the engine appends
through `log.AuditLog`, the worker runs the `checkpointer.Checkpointer`, the CLI exports and
verifies."""

"""Sinks: consumers of the audit log that carry every record to a SIEM or an archive.

Each sink has its own position in Redis (app.audit.sinks.position) and its own lease, so one
process at a time delivers to it, in order, and the position moves only after the sink said it
took the batch: at least once, never a gap. A record's `seq` travels with it as its stable id
so the receiver can drop a repeat. Sinks are named by URL in `MYSAFE_BOT_AUDIT_SINKS`
(app.audit.sinks.config); each protocol is one small module (file, hec, webhook, syslog).
"""

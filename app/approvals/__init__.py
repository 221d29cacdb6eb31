"""The approval engine: change requests and their Redis state machine, the per-entry write
lock, apply and verify, the sweeper, and the audit trail. Knows nothing of Slack.
"""

"""The MySafe REST client: transport and retry policy, per-person token cache, endpoints,
error mapping, models and schemas. Knows nothing of Slack or of change requests.
"""

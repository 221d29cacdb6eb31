"""Running it: serve (gunicorn), the worker, health and metrics routes, logs, rate limits,
doctor, and the supervised MCP sibling.
"""

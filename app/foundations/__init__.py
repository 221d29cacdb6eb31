"""What every part of the bot stands on: time, secrets, errors, settings, storage, logs, metrics.

Nothing here imports anything above it (an import-linter contract in pyproject.toml): a module
here may be used by the MySafe client, the job queue, the engine and every front alike, and
changing one never drags a front or the engine along. The assembly that builds the bot from
these parts is in `app.ops` (`runtime`, `cli`, `gunicorn_conf`).
"""

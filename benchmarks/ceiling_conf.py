"""gunicorn's config file for the ceiling: the bot's own placement of its web workers, one CPU
each (`app.ops.cpu_pinning`), the one pair of its hooks that changes how fast a worker answers.

Options with a flag reach the ceiling as flags (`harness.gunicorn_cli_flags`); hooks have none,
so without this file the bot's workers would keep their CPUs and the ceiling's would hop. It
reads `MYSAFE_BOT_CPU_PINNING` as the bot does, and the bench hands it the bot's value.
"""

from app.ops.cpu_pinning import post_fork, pre_fork

__all__ = ["post_fork", "pre_fork"]

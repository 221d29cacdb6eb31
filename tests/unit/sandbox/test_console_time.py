"""The console's relative times (Slack's `{ago}` in a date token), run in Node as the page
runs them: a moment ahead reads "in …", one unit is singular."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import app.sandbox

CONSOLE_JS = Path(app.sandbox.__file__).parent / "static" / "console.js"
NODE = shutil.which("node")
NOW = 1_800_000_000_000  # ms

#: Seconds from now -> what the console says.
EXPECTED = {
    20: "in 1 minute",
    60: "in 1 minute",
    150: "in 3 minutes",
    3600: "in 1 hour",
    3 * 86400: "in 3 days",
    -20: "just now",
    -60: "1 minute ago",
    -120: "2 minutes ago",
    -7200: "2 hours ago",
}


def _said(offsets: list[int]) -> list[str]:
    """`relativeTime` from the page's own script, in a context with only a stub `document`."""
    script = f"""
        const vm = require("vm"), fs = require("fs");
        const source = fs.readFileSync({json.dumps(str(CONSOLE_JS))}, "utf8") + ";relativeTime";
        const relativeTime = vm.runInNewContext(source, {{document: {{addEventListener() {{}}}}}});
        const offsets = {json.dumps(offsets)};
        console.log(JSON.stringify(offsets.map((s) => relativeTime({NOW} + s * 1000, {NOW}))));
    """
    assert NODE is not None
    done = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(done.stdout)


@pytest.mark.slow
@pytest.mark.skipif(NODE is None, reason="node is not installed: the console's script runs in it")
def test_relative_times_say_in_for_the_future_and_count_in_the_singular() -> None:
    offsets = list(EXPECTED)
    assert dict(zip(offsets, _said(offsets), strict=True)) == EXPECTED

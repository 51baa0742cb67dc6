"""``edustream loadtest`` as a command: help, and usage errors before any request."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EDUSTREAM = str(Path(sys.executable).parent / "edustream")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EDUSTREAM, "loadtest", *args], capture_output=True, text=True, timeout=60, check=False)


def test_help_lists_scenarios_and_options() -> None:
    result = _run("--help")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: edustream loadtest")
    for text in ("contention", "throughput", "churn", "mixed", "--url", "--students", "--tutors", "--slots",
                 "--concurrency", "--rate", "--duration", "--watchers", "--json", "--database-url", "--reuse"):
        assert text in result.stdout, text


def test_an_unknown_mix_weight_is_a_usage_error() -> None:
    result = _run("--url", "http://127.0.0.1:9", "--mix", "teleport=3")

    assert result.returncode == 2
    assert "teleport=3" in result.stderr


def test_the_url_is_required() -> None:
    result = _run("--scenario", "churn")

    assert result.returncode == 2
    assert "--url" in result.stderr

"""Building the Next.js frontend for the browser tests (and for ``scripts/test``).

``python -m tests.browser.frontend`` installs the Node dependencies when ``node_modules`` is
missing or older than the lock file and runs ``npm run build`` when ``.next`` is missing or
older than a source file; otherwise it does nothing. The browser tests call the same
:func:`ensure_built`, so a plain ``pytest tests/browser`` works too.

The build bakes no API address in: the tests point the production server at their API with
``EDUSTREAM_API_URL`` at run time (``/runtime-config.js``), so any existing build will do as
long as its sources have not changed, whatever ``NEXT_PUBLIC_API_URL`` it was made with.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from devtools.supervisor import BUILD_STAMP, install_command, write_build_stamp
from server.settings import PROJECT_ROOT

FRONTEND = PROJECT_ROOT / "frontend"
CHROMIUM = Path("/usr/bin/chromium")
# What ``next build`` reads; unit tests, docs and editor files do not make a build stale.
BUILD_INPUTS = ("app", "components", "lib", "public", "package.json", "package-lock.json", "next.config.ts",
                "postcss.config.mjs", "tsconfig.json")
NODE_ENV = {"NEXT_TELEMETRY_DISABLED": "1", "NO_COLOR": "1", "NPM_CONFIG_COLOR": "false",
            "NPM_CONFIG_PROGRESS": "false", "NPM_CONFIG_FUND": "false", "NPM_CONFIG_AUDIT": "false"}
LOCK = PROJECT_ROOT / "test-output" / ".frontend-build.lock"


class FrontendUnavailable(RuntimeError):
    """The frontend cannot be built or served here (no Node.js/npm, or the build failed)."""


def in_ci() -> bool:
    """True on CI (``CI`` set to anything but an empty/false value)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _newest_input_mtime(frontend: Path) -> float:
    newest = 0.0
    for name in BUILD_INPUTS:
        path = frontend / name
        if path.is_file():
            newest = max(newest, path.stat().st_mtime)
        elif path.is_dir():
            for root, dirs, files in os.walk(path):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for file in files:
                    with contextlib.suppress(OSError):
                        newest = max(newest, (Path(root) / file).stat().st_mtime)
    return newest


def build_is_stale(frontend: Path = FRONTEND) -> bool:
    """True when ``.next`` is missing, unfinished, or older than a file the build reads."""
    stamp = frontend / ".next" / BUILD_STAMP
    if not (frontend / ".next" / "BUILD_ID").exists() or not stamp.exists():
        return True
    return _newest_input_mtime(frontend) > stamp.stat().st_mtime


def node_env() -> dict[str, str]:
    """The environment for npm/next: plain output, no telemetry, no build-time API address."""
    env = {k: v for k, v in os.environ.items() if k != "NEXT_PUBLIC_API_URL"}
    env.update(NODE_ENV)
    return env


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    # Several pytest runs share one working tree: only one may install or build at a time.
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(argv: list[str], what: str, frontend: Path) -> None:
    print(f"[frontend] {what}: {' '.join(argv)}", file=sys.stderr, flush=True)
    result = subprocess.run(argv, cwd=frontend, env=node_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, check=False)
    if result.returncode != 0:
        raise FrontendUnavailable(f"{what} failed (exit {result.returncode}) in {frontend}:\n{result.stdout[-4000:]}")


def _require_node(what: str) -> None:
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise FrontendUnavailable(f"{what} need Node.js (>= 20.9) with npm, and `npm`/`node` are not on PATH; "
                                  "install Node.js 20 LTS")


def _install(frontend: Path) -> None:
    install = install_command(frontend)
    if install:
        _run(install, "installing frontend dependencies", frontend)


def ensure_installed(frontend: Path = FRONTEND) -> None:
    """Install the Node dependencies (``npm ci``) when ``node_modules`` is missing or stale."""
    _require_node("the frontend's tools")
    with _build_lock():
        _install(frontend)


def ensure_built(frontend: Path = FRONTEND) -> None:
    """Install Node dependencies and build the production bundle when needed."""
    _require_node("the browser tests (to build the frontend)")
    with _build_lock():
        _install(frontend)
        if build_is_stale(frontend):
            _run(["npm", "run", "build"], "building the frontend", frontend)
            write_build_stamp(frontend, {})


def main() -> int:
    """Build if needed; exit 1 with a clear message when it cannot be done."""
    try:
        ensure_built()
    except FrontendUnavailable as exc:
        print(f"[frontend] ERROR: {exc}", file=sys.stderr)
        return 1
    print("[frontend] build is up to date", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

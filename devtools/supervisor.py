"""``edustream dev``: run every EduStream process in one terminal.

The :class:`Supervisor` starts each process as a child in its own process group, prefixes
every line it prints with the child's name (``[api] ...``), forwards SIGINT/SIGTERM/SIGHUP
to the children and stops them all, and stops everything with a non-zero exit when one of
them dies. The frontend helpers decide whether ``npm ci`` and ``next build`` are needed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from devtools.seed import STUDENTS, TUTOR_PASSWORD, TUTORS
from server.settings import PROJECT_ROOT, Settings

log = logging.getLogger("edustream.dev")

MIN_NODE = (20, 9)
GRACE_SECONDS = 10.0
# Colour and cursor escapes, stripped from children's output (some tools colour even pipes).
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
# Asks well-behaved tools (Node, npm, Next.js, Python's colourful bits) for plain output.
_PLAIN_ENV = {"PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "FORCE_COLOR": "0", "NPM_CONFIG_COLOR": "false",
              "NPM_CONFIG_PROGRESS": "false"}


class StopRequested(Exception):
    """A signal asked the supervisor to stop."""


class ChildFailed(Exception):
    """A child process exited on its own (or a preparation step failed)."""


@dataclass(slots=True)
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    pump: threading.Thread
    long_running: bool = True
    stopping: bool = False


@dataclass(slots=True)
class Supervisor:
    """Starts, watches and stops the child processes of ``edustream dev``."""

    out: IO[str] = field(default_factory=lambda: sys.stdout)
    children: list[Child] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    received: int | None = None
    _print_lock: threading.Lock = field(default_factory=threading.Lock)

    # --- output ---------------------------------------------------------------------------

    def emit(self, text: str) -> None:
        """Print lines to the terminal without interleaving them mid-line."""
        with self._print_lock:
            self.out.write(text if text.endswith("\n") else text + "\n")
            self.out.flush()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = _ANSI.sub("", raw.decode(errors="replace").rstrip())
            self.emit(f"[{name}] {line}")
        stream.close()

    # --- signals --------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        self.stop_event.set()

    # --- children -------------------------------------------------------------------------

    def start(self, name: str, argv: Sequence[str], *, cwd: Path | None = None,
              env: Mapping[str, str] | None = None, long_running: bool = True) -> Child:
        """Start ``argv`` as a child named ``name`` in its own process group.

        Its own group, so a Ctrl-C in the terminal reaches only the supervisor, which
        forwards it once: processes that treat a second SIGINT as "force quit" (uvicorn,
        taskiq) then still shut down gracefully."""
        child_env = {**os.environ, **_PLAIN_ENV, **(env or {})}
        proc = subprocess.Popen(list(argv), cwd=cwd, env=child_env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0)
        assert proc.stdout is not None
        pump = threading.Thread(target=self._pump, args=(name, proc.stdout), name=f"pump-{name}", daemon=True)
        pump.start()
        child = Child(name, proc, pump, long_running=long_running)
        self.children.append(child)
        log.info("started %s (pid %d): %s", name, proc.pid, " ".join(argv))
        return child

    def check(self) -> None:
        """Raise if a signal arrived or a long-running child exited."""
        if self.stop_event.is_set():
            raise StopRequested
        for child in self.children:
            if child.long_running and not child.stopping:
                code = child.proc.poll()
                if code is not None:
                    child.stopping = True
                    raise ChildFailed(f"{child.name} exited with code {code}")

    def wait_for(self, predicate: Callable[[], bool], *, timeout: float, interval: float = 0.5) -> bool:
        """Poll ``predicate`` until it is true (True) or ``timeout`` passes (False),
        watching for signals and dead children meanwhile."""
        deadline = time.monotonic() + timeout
        while True:
            self.check()
            if predicate():
                return True
            if time.monotonic() > deadline:
                return False
            self.stop_event.wait(interval)

    def run_step(self, name: str, argv: Sequence[str], *, cwd: Path | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        """Run a preparation command to completion (output prefixed), or raise."""
        child = self.start(name, argv, cwd=cwd, env=env, long_running=False)
        self.wait_for(lambda: child.proc.poll() is not None, timeout=float("inf"), interval=0.2)
        child.pump.join(timeout=5)
        self.children.remove(child)
        if child.proc.returncode != 0:
            raise ChildFailed(f"{name} failed with exit code {child.proc.returncode}")

    def run_forever(self) -> None:
        """Block until a signal arrives or a child dies (then raise)."""
        while True:
            self.check()
            self.stop_event.wait(0.5)

    def shutdown(self, signum: int = signal.SIGTERM) -> None:
        """Send ``signum`` to every child still running, wait for them, then kill stragglers
        (and anything left in their process groups)."""
        alive = [c for c in self.children if c.proc.poll() is None]
        for child in reversed(alive):
            child.stopping = True
            log.info("stopping %s (pid %d)", child.name, child.proc.pid)
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signum)
        deadline = time.monotonic() + GRACE_SECONDS
        for child in alive:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0fs; killing it", child.name, GRACE_SECONDS)
        for child in self.children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)  # the group: leftover grandchildren too
            child.proc.wait()
            child.pump.join(timeout=2)
        self.children.clear()


# --- frontend -----------------------------------------------------------------------------


def node_version() -> tuple[int, int] | None:
    """The installed Node.js version as (major, minor), or None when there is no ``node``."""
    node = shutil.which("node")
    if node is None:
        return None
    try:
        raw = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v?(\d+)\.(\d+)", raw.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def install_command(frontend: Path) -> list[str] | None:
    """``npm ci`` when ``node_modules`` is missing or older than the lock file, else None."""
    marker = frontend / "node_modules" / ".package-lock.json"
    lock = frontend / "package-lock.json"
    if marker.exists() and (not lock.exists() or marker.stat().st_mtime >= lock.stat().st_mtime):
        return None
    verb = "ci" if lock.exists() else "install"
    return ["npm", verb, "--no-audit", "--no-fund"]


_SKIP = {"node_modules", ".next", ".turbo", "test-output", "playwright-report"}
BUILD_STAMP = "edustream-build.json"


def _newest_source_mtime(frontend: Path) -> float:
    newest = 0.0
    for root, dirs, files in os.walk(frontend):
        dirs[:] = [d for d in dirs if d not in _SKIP and not d.startswith(".")]
        for name in files:
            with contextlib.suppress(OSError):
                newest = max(newest, (Path(root) / name).stat().st_mtime)
    return newest


def needs_build(frontend: Path, build_env: Mapping[str, str]) -> bool:
    """True when ``.next`` is missing, older than a source file, or was built with
    other ``NEXT_PUBLIC_*`` values (they are inlined into the bundle at build time)."""
    stamp = frontend / ".next" / BUILD_STAMP
    if not (frontend / ".next" / "BUILD_ID").exists() or not stamp.exists():
        return True
    try:
        recorded = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return True
    if recorded != dict(build_env):
        return True
    return _newest_source_mtime(frontend) > stamp.stat().st_mtime


def write_build_stamp(frontend: Path, build_env: Mapping[str, str]) -> None:
    (frontend / ".next" / BUILD_STAMP).write_text(json.dumps(dict(build_env), sort_keys=True))


# --- edustream dev --------------------------------------------------------------------------


def _http_ok(url: str, *, accept_any: bool = False) -> bool:
    import httpx

    try:
        status = httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return False
    return status < 500 if accept_any else status == 200


def _probe_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "localhost", "") else host


def start_frontend(sup: Supervisor, frontend: Path, *, host: str, port: int, api_url: str) -> str | None:
    """Install, build (when stale) and start the Next.js frontend; its URL, or None if skipped."""
    if not (frontend / "package.json").exists():
        log.warning("no %s: skipping the frontend", frontend / "package.json")
        return None
    version = node_version()
    if version is None or version < MIN_NODE or shutil.which("npm") is None:
        found = "none" if version is None else ".".join(map(str, version))
        log.warning("the frontend needs Node.js >= %d.%d with npm (found: %s): skipping it. Install Node 20 LTS "
                    "(https://nodejs.org/) and run again, or pass --no-frontend to silence this.",
                    *MIN_NODE, found)
        return None
    build_env = {"NEXT_PUBLIC_API_URL": api_url}
    env = {**build_env, "NEXT_TELEMETRY_DISABLED": "1"}
    install = install_command(frontend)
    if install:
        log.info("installing frontend dependencies (%s)", " ".join(install))
        sup.run_step("npm", install, cwd=frontend, env=env)
    if needs_build(frontend, build_env):
        log.info("building the frontend (next build); later runs reuse the build until a source file changes")
        sup.run_step("build", ["npm", "run", "build"], cwd=frontend, env=env)
        write_build_stamp(frontend, build_env)
    # node straight on next's script, so the child's pid is the server's and signals reach it.
    sup.start("frontend", ["node", "node_modules/next/dist/bin/next", "start", "-p", str(port), "-H", host],
              cwd=frontend, env={**env, "PORT": str(port)})
    return f"http://localhost:{port}"


def banner(*, api_url: str, frontend_url: str | None, logins: bool, embedded_dir: Path | None,
           elapsed: float) -> str:
    """The "what is running where" block printed once everything answers."""

    rule = "=" * 78
    lines = [rule, f" EduStream is running (ready in {elapsed:.0f}s). Press Ctrl-C to stop everything.", ""]
    if frontend_url:
        lines.append(f"   Frontend    {frontend_url}")
    lines += [f"   API         {api_url}/api/v1", f"   API docs    {api_url}/api/v1/docs",
              f"   OpenAPI     {api_url}/api/v1/openapi.json"]
    lines.append(f"   Live        {api_url}/socket.io/  (Socket.IO namespace /live)")
    lines.append(f"   Health      {api_url}/healthz  {api_url}/readyz")
    if logins:
        lines += ["", " Demo logins (the full list is printed above):"]
        lines += [f"   student  {s.email:<34} {s.password}" for s in STUDENTS]
        lines.append(f"   tutor    {TUTORS[0].email:<34} {TUTOR_PASSWORD}  (every demo tutor uses this password)")
    if embedded_dir is not None:
        lines += ["", f" Data: embedded PostgreSQL and Redis in {embedded_dir} (kept between runs;",
                  "       `edustream dev --stop-embedded` stops them)."]
    lines.append(rule)
    return "\n".join(lines)


def run_dev(args: Any, settings: Settings, *, demo_logins: bool, embedded_dir: Path | None) -> int:
    """Run the API, worker, scheduler and frontend until Ctrl-C or until one of them dies."""
    sup = Supervisor()
    sup.install_signal_handlers()
    python = sys.executable
    api_url = f"http://localhost:{args.api_port}"
    probe = _probe_host(args.host)
    fport = args.frontend_port
    api_env = {key: value for key, value in {
        "CORS_ORIGINS": f"http://localhost:{fport},http://127.0.0.1:{fport}",
        "FRONTEND_URL": f"http://localhost:{fport}",
        "PUBLIC_URL": api_url,
    }.items() if key not in os.environ}
    code = 0
    try:
        sup.start("api", [python, "-m", "edustream", "api", "--host", args.host, "--port", str(args.api_port),
                          "--no-migrate", *(["--reload"] if args.reload else [])], env=api_env)
        if not args.no_tasks:
            sup.start("worker", [python, "-m", "edustream", "worker"])
            sup.start("scheduler", [python, "-m", "edustream", "scheduler"])
        frontend_url = None
        if not args.no_frontend:
            frontend_url = start_frontend(sup, PROJECT_ROOT / "frontend", host=args.host, port=fport,
                                          api_url=api_url)
        if not sup.wait_for(lambda: _http_ok(f"http://{probe}:{args.api_port}/readyz"), timeout=120):
            raise ChildFailed("the API did not answer /readyz within 120s")
        if frontend_url and not sup.wait_for(lambda: _http_ok(f"http://{probe}:{fport}/", accept_any=True),
                                             timeout=120):
            raise ChildFailed("the frontend did not answer within 120s")
        sup.emit(banner(api_url=api_url, frontend_url=frontend_url, logins=demo_logins,
                        embedded_dir=embedded_dir, elapsed=time.monotonic() - args.started))
        sup.run_forever()
    except StopRequested:
        assert sup.received is not None
        log.info("received %s: stopping", signal.Signals(sup.received).name)
    except ChildFailed as exc:
        log.error("%s (its output is above); stopping the other processes", exc)
        code = 1
    finally:
        forwarded = sup.received if sup.received in (signal.SIGINT, signal.SIGTERM) else signal.SIGTERM
        sup.shutdown(forwarded)
    log.info("all processes stopped")
    return code

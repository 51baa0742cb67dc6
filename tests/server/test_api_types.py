"""The frontend's API types are generated from the OpenAPI document the current code serves.

Two generated files are committed so the frontend builds without a running server:
``frontend/lib/api/openapi.json`` (``python -m server.openapi --json``) and
``frontend/lib/api/schema.d.ts`` (openapi-typescript's output for it, ``npm run gen:api``).
These tests fail when either differs from what the current code generates. The TypeScript
check needs Node.js: without it, it is skipped, and fails on CI (``CI`` set), like the browser tests.
"""

from __future__ import annotations

import difflib
import json
import shlex
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from server.openapi import current_spec, render_json
from server.settings import PROJECT_ROOT
from tests.browser.frontend import FRONTEND, FrontendUnavailable, ensure_installed, in_ci, node_env

DOCUMENT = FRONTEND / "lib" / "api" / "openapi.json"
TYPES = FRONTEND / "lib" / "api" / "schema.d.ts"
FIX = "run `./scripts/gen-api-types` and commit the result"


def _assert_generated(committed: Path, generated: str) -> None:
    """Equal, or fail with the fix and the start of the diff (the files are too big for pytest's own)."""
    actual = committed.read_text() if committed.exists() else ""
    if actual == generated:
        return
    name = str(committed.relative_to(PROJECT_ROOT))
    diff = list(difflib.unified_diff(actual.splitlines(), generated.splitlines(), f"{name} (committed)",
                                     f"{name} (generated)", lineterm="", n=2))
    shown = "\n".join(diff[:60]) + ("\n..." if len(diff) > 60 else "")
    pytest.fail(f"{name} is stale: {FIX}\n{shown}", pytrace=False)


def _gen_api_argv(output: Path) -> list[str]:
    """``npm run gen:api`` as package.json spells it, writing to ``output``: the flags live in one place."""
    script = json.loads((FRONTEND / "package.json").read_text())["scripts"]["gen:api"]
    argv = shlex.split(script)
    argv[argv.index("--output") + 1] = str(output)
    return [str(FRONTEND / "node_modules" / ".bin" / argv[0]), *argv[1:]]


def test_committed_openapi_document_is_generated_from_the_current_code() -> None:
    _assert_generated(DOCUMENT, render_json(current_spec()))


def test_committed_typescript_types_are_generated_from_the_document(tmp_path: Path) -> None:
    if shutil.which("node") is None:
        message = "node is not on PATH: checking frontend/lib/api/schema.d.ts needs Node.js (>= 20.9) with npm"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        ensure_installed()
    except FrontendUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    output = tmp_path / "schema.d.ts"
    result = subprocess.run(_gen_api_argv(output), cwd=FRONTEND, env=node_env(), capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, f"openapi-typescript failed:\n{result.stdout}{result.stderr}"
    _assert_generated(TYPES, output.read_text())


async def test_served_openapi_is_the_generated_document(client: httpx.AsyncClient) -> None:
    served = (await client.get("/api/v1/openapi.json")).json()
    assert served == json.loads(render_json(current_spec())), \
        "/api/v1/openapi.json and server.openapi.current_spec() must build the same document"

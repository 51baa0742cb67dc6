"""The observability package stays in small modules with its imports at the top (issue 13):
a function-level import hides a dependency from import-linter and from the reader."""

from __future__ import annotations

import ast
from pathlib import Path

from server.settings import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "server" / "observability"
MAX_LINES = 400
# Imported where they are used, on purpose: only the configured span exporter is loaded (the gRPC
# one pulls in grpcio, slow to import and unused by most processes).
LAZY_IMPORTS = {
    "tracing/config.py": {"opentelemetry.exporter.otlp.proto.http.trace_exporter",
                          "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"},
}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _function_level_imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(func):
                if isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom):
                    found.add(node.module or "")
    return found


def test_every_module_is_under_the_size_limit() -> None:
    too_long = {str(p.relative_to(PACKAGE)): n for p in _modules()
                if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not too_long, f"split these modules (> {MAX_LINES} lines): {too_long}"


def test_imports_are_at_module_level_except_the_documented_lazy_ones() -> None:
    unexpected = {}
    for path in _modules():
        name = str(path.relative_to(PACKAGE))
        extra = _function_level_imports(ast.parse(path.read_text())) - LAZY_IMPORTS.get(name, set())
        if extra:
            unexpected[name] = sorted(extra)
    assert not unexpected, f"function-level imports: {unexpected}"

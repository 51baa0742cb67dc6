"""bench/fuzz.py: its command line and how it judges a schemathesis run."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.fuzz import FuzzRun, main, schemathesis_argv, summary


def test_help_names_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "--seconds" in out and "--base-url" in out and "--seed" in out


def test_a_run_fails_on_server_errors_and_on_schemathesis_errors() -> None:
    clean = FuzzRun("tutor", 0, "", {"failures": [], "errors": [], "test_cases": {"generated": 10}})
    broken = FuzzRun("student", 1, "", {"failures": [{"code": "ST101", "operations": ["GET /api/v1/tutors"]}],
                                        "errors": [], "test_cases": {"generated": 10}})
    crashed = FuzzRun("anonymous", 2, "Traceback", {})
    assert clean.ok and not broken.ok and not crashed.ok
    assert broken.server_errors == ["GET /api/v1/tutors"]
    assert "5xx: GET /api/v1/tutors" in summary([clean, broken, crashed])


def test_argv_is_seeded_time_bounded_and_carries_the_identity(tmp_path: Path) -> None:
    argv = schemathesis_argv("http://127.0.0.1:1/", seconds=12.4, seed=7, headers={"Authorization": "Bearer t"},
                             report=tmp_path / "r.json", config=tmp_path / "c.toml")
    joined = " ".join(argv)
    assert "http://127.0.0.1:1/api/v1/openapi.json" in argv
    assert "--seed 7" in joined and "--max-time 12" in joined and "--checks not_a_server_error" in joined
    assert argv[argv.index("--header") + 1] == "Authorization: Bearer t"

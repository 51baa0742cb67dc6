"""The end of a run: one JSON document, and a summary table for people."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """Where the load tester ran (cores, memory, load) — numbers mean little without it."""
    info: dict[str, Any] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()}
    try:
        with open("/proc/meminfo") as f:
            total_kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        info["memory_gb"] = round(total_kb / 1024 / 1024, 1)
        info["loadavg_1m"] = os.getloadavg()[0]
    except (OSError, StopIteration, ValueError):
        pass
    return info


def write_json(report: dict[str, Any], path: str) -> None:
    target = Path(path)
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2, default=str) + "\n")


def _fmt(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def summary_table(report: dict[str, Any]) -> str:
    """Plain text: requests by type, fan-out, watchers, errors by code, checks and the verdict."""
    cfg = report["config"]
    lines = [
        f"edustream loadtest — scenario {report['scenario']}: {len(cfg['urls'])} API URL(s), "
        f"{report['setup']['tutors']} tutors, {report['setup']['students']} students, "
        f"{report['watchers']['watchers']} watchers ({cfg['watcher_client']}), "
        f"{report['run_seconds']:.1f} s of load",
        "",
        f"{'request':<16}{'count':>8}{'per s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}  outcomes",
    ]
    for name, op in report["requests"].items():
        lat = op["latency_ms"]
        outcomes = ", ".join(f"{k}: {v}" for k, v in op["outcomes"].items())
        lines.append(f"{name:<16}{op['count']:>8}{_fmt(op['per_second']):>9}{_fmt(lat['p50']):>9}"
                     f"{_fmt(lat['p95']):>9}{_fmt(lat['p99']):>9}{_fmt(lat['max']):>9}  {outcomes}")
    fan = report["fanout"]
    lat = fan["latency_ms"]
    source = "server timestamp" if fan["source"] == "server_timestamp" else "hold response"
    lines += ["", f"fan-out ({source} → watcher applied it): {lat['count']} receipts, p50 {_fmt(lat['p50'])} ms, "
              f"p95 {_fmt(lat['p95'])} ms, p99 {_fmt(lat['p99'])} ms, max {_fmt(lat['max'])} ms"
              + (f"; {fan['arrived_before_response']} arrived before the HTTP response"
                 if fan.get("arrived_before_response") else "")]
    if fan["source"] != "server_timestamp" and fan["after_hold_request_ms"]["count"]:
        upper = fan["after_hold_request_ms"]
        lines.append(f"  (commit lies between request and response; from the request instead: p50 "
                     f"{_fmt(upper['p50'])} ms, p99 {_fmt(upper['p99'])} ms)")
    w = report["watchers"]
    t = w["totals"]
    lines.append(f"watchers: {w['connected']}/{w['watchers']} connected in {w['connect_seconds']} s, "
                 f"{t.get('events', 0)} events, {t.get('gaps', 0)} gaps, {t.get('resyncs', 0)} resyncs, "
                 f"{t.get('reconnects', 0)} reconnects, {w['compared']} views compared")
    if report["throughput"].get("holds_per_second") is not None:
        lines.append(f"throughput: {_fmt(report['throughput']['holds_per_second'])} holds won/s, "
                     f"{_fmt(report['throughput']['requests_per_second'])} requests/s")
    if report["errors_by_code"]:
        lines.append("errors by code: " + ", ".join(f"{k}: {v}" for k, v in report["errors_by_code"].items()))
    lines += ["", "checks:"]
    for check in report["checks"]:
        lines.append(f"  {'PASS' if check['passed'] else 'FAIL'}  {check['name']}: {check['detail']}")
    verdict = "PASS" if report["passed"] else "FAIL"
    lines += ["", f"result: {verdict} (exit {report['exit_code']})"]
    return "\n".join(lines)

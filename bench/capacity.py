"""The capacity model: machine counts for a target load, from figures measured on this machine.

    .venv/bin/python -m bench.capacity                  # print the table from the committed results
    .venv/bin/python -m bench.capacity --write-docs     # also rewrite the table in docs/capacity.md
    .venv/bin/python -m bench.capacity --holds docs/benchmarks-holds-session9-gc.json \\
        --connections docs/benchmarks-connections-session9.json --fanout-per-process 74000

Inputs (each the JSON a benchmark writes, so the model follows the code when they are re-run):

* ``--holds`` (``python -m bench.holds --json``): the API's CPU per hold (server CPU % ÷ holds/s
  of the ``api`` run), the database's cost per hold (the ``statement`` run: the hold's own
  statement over asyncpg, no HTTP, on the same 2 cores as PostgreSQL), and the API's CPU per
  slot listing (``slots-api``);
* ``--connections`` (``python -m bench.connections --json``): API memory per idle live
  connection (the ``edustream`` row);
* ``--fanout-per-process``: delivered ``slots.changed`` messages per second one API process
  sustains at p99 ≤ 100 ms (``python -m bench.fanout.run``; docs/benchmarks.md, "Live fan-out").

Every figure is per core of this 2-core machine; the model assumes a pod is one API process on
one core with ``--pod-memory-mib`` of memory, and keeps ``--headroom`` of every resource free.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The committed results the model uses by default (docs/benchmarks.md, "Round four" and
# "Memory per idle live connection", round two's median run).
HOLDS_JSON = ROOT / "docs" / "benchmarks-holds-session9-gc.json"
CONNECTIONS_JSON = ROOT / "docs" / "benchmarks-connections-session9.json"
DOCS = ROOT / "docs" / "capacity.md"
BEGIN, END = "<!-- capacity:begin -->", "<!-- capacity:end -->"

WATCHERS = (100_000, 1_000_000)
HOLDS_PER_S = (1_000, 10_000)


@dataclass(frozen=True)
class Figures:
    api_cpu_ms_per_hold: float
    db_core_ms_per_hold: float
    api_cpu_ms_per_listing: float
    kb_per_connection: float
    deliveries_per_process: float
    wal_kb_per_hold: float

    @classmethod
    def load(cls, holds: Path, connections: Path, fanout: float, wal_kb: float) -> Figures:
        results = json.loads(holds.read_text())["results"]
        api, statement, slots = results["api"], results["statement"], results["slots-api"]
        cores = 2  # the machine every benchmark here ran on
        rows = json.loads(connections.read_text())["rows"]
        [ours] = [r for r in rows if r["server"] == "edustream"]
        return cls(
            api_cpu_ms_per_hold=api["extra"]["server_cpu_percent"] / 100 * 1000 / api["rate"],
            # The statement run saturates the machine (PostgreSQL and the client share its cores):
            # all of it charged to the database, an upper bound.
            db_core_ms_per_hold=cores * 1000 / statement["rate"],
            api_cpu_ms_per_listing=slots["extra"]["server_cpu_percent"] / 100 * 1000 / slots["rate"],
            kb_per_connection=ours["kb_per_connection"],
            deliveries_per_process=fanout,
            wal_kb_per_hold=wal_kb,
        )


@dataclass(frozen=True)
class Load:
    watchers: int
    holds_per_s: int
    tutors: int
    changes_per_hold: float  # slots.changed per hold over its life (held, then confirmed or released)
    listings_per_hold: float  # page views (slot listings) per hold


def plan(f: Figures, load: Load, *, pod_memory_mib: int, headroom: float) -> dict[str, float]:
    usable = 1 - headroom
    per_tutor = load.watchers / load.tutors
    deliveries = load.holds_per_s * load.changes_per_hold * per_tutor
    connections_per_pod = pod_memory_mib * 1024 * usable / f.kb_per_connection
    pods_memory = load.watchers / connections_per_pod
    pods_fanout = deliveries / (f.deliveries_per_process * usable)
    hold_cores = load.holds_per_s * (f.api_cpu_ms_per_hold + load.listings_per_hold * f.api_cpu_ms_per_listing) / 1000
    pods_cpu = hold_cores / usable
    pods = math.ceil(max(pods_memory, pods_fanout, pods_cpu, 2))
    limits = {"memory": pods_memory, "fan-out": pods_fanout, "hold CPU": pods_cpu}
    db_cores = load.holds_per_s * f.db_core_ms_per_hold / 1000 / usable
    return {"pods": pods, "bound": max(limits, key=lambda k: limits[k]), "pods_memory": pods_memory,
            "pods_fanout": pods_fanout, "pods_cpu": pods_cpu, "deliveries": deliveries, "db_cores": db_cores,
            "wal_mb_s": load.holds_per_s * f.wal_kb_per_hold / 1024,
            # Every API process receives every relayed batch (plain pub/sub): Redis sends each
            # change once per process; sharded pub/sub (issue 18) would divide it by the shards.
            "redis_out_mb_s": load.holds_per_s * load.changes_per_hold * 0.4 * pods / 1024}


def table(f: Figures, *, tutors: int, changes_per_hold: float, listings_per_hold: float, pod_memory_mib: int,
          headroom: float) -> str:
    lines = [
        f"Measured figures: API {f.api_cpu_ms_per_hold:.2f} ms CPU per hold and {f.api_cpu_ms_per_listing:.2f} ms per "
        f"slot listing; PostgreSQL ≤ {f.db_core_ms_per_hold:.2f} core-ms and {f.wal_kb_per_hold:g} KB of WAL per hold; "
        f"{f.kb_per_connection:g} KB per idle live connection; {f.deliveries_per_process:,.0f} deliveries/s per API "
        f"process. Assumptions: {tutors:,} tutors watched evenly, {changes_per_hold:g} slot changes and "
        f"{listings_per_hold:g} page views per hold, pods of one core and {pod_memory_mib:,} MiB, "
        f"{headroom:.0%} headroom.",
        "",
        "| watchers | holds/s | deliveries/s | API pods (memory / fan-out / CPU) | bound by | PostgreSQL cores | WAL MB/s | Redis out MB/s |",
        "|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for watchers in WATCHERS:
        for holds in HOLDS_PER_S:
            p = plan(f, Load(watchers, holds, tutors, changes_per_hold, listings_per_hold),
                     pod_memory_mib=pod_memory_mib, headroom=headroom)
            lines.append(
                f"| {watchers:,} | {holds:,} | {p['deliveries']:,.0f} | **{p['pods']}** ({p['pods_memory']:.1f} / "
                f"{p['pods_fanout']:.1f} / {p['pods_cpu']:.1f}) | {p['bound']} | {p['db_cores']:.1f} | "
                f"{p['wal_mb_s']:.1f} | {p['redis_out_mb_s']:,.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holds", type=Path, default=HOLDS_JSON)
    parser.add_argument("--connections", type=Path, default=CONNECTIONS_JSON)
    parser.add_argument("--fanout-per-process", type=float, default=74_000.0,
                        help="delivered messages/s per API process at p99 ≤ 100 ms (bench.fanout; default: "
                             "the lower of the two Python rows in docs/benchmarks.md)")
    parser.add_argument("--wal-kb-per-hold", type=float, default=3.6, help="WAL per hold (docs/benchmarks.md)")
    parser.add_argument("--tutors", type=int, default=10_000, help="tutors the watchers spread over")
    parser.add_argument("--changes-per-hold", type=float, default=2.0)
    parser.add_argument("--listings-per-hold", type=float, default=5.0)
    parser.add_argument("--pod-memory-mib", type=int, default=2048)
    parser.add_argument("--headroom", type=float, default=0.3)
    parser.add_argument("--write-docs", action="store_true", help=f"rewrite the table in {DOCS.relative_to(ROOT)}")
    args = parser.parse_args()
    figures = Figures.load(args.holds, args.connections, args.fanout_per_process, args.wal_kb_per_hold)
    out = table(figures, tutors=args.tutors, changes_per_hold=args.changes_per_hold,
                listings_per_hold=args.listings_per_hold, pod_memory_mib=args.pod_memory_mib, headroom=args.headroom)
    print(out)
    if args.write_docs:
        text = DOCS.read_text()
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        command = "python -m bench.capacity " + " ".join(a for a in sys.argv[1:] if a != "--write-docs")
        DOCS.write_text(text[:start] + f"\n`{command.strip()}`\n\n{out}\n" + text[end:])


if __name__ == "__main__":
    main()

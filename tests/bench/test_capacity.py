"""bench/capacity.py: the capacity model follows the committed benchmark results, and
docs/capacity.md shows the table it computes from them."""

from __future__ import annotations

from bench.capacity import (
    BEGIN,
    CONNECTIONS_JSON,
    DOCS,
    END,
    HOLDS_JSON,
    HOLDS_PER_S,
    WATCHERS,
    Figures,
    Load,
    plan,
    table,
)


def figures() -> Figures:
    return Figures.load(HOLDS_JSON, CONNECTIONS_JSON, 74_000.0, 3.6)


def test_the_figures_are_the_measured_ones() -> None:
    f = figures()
    assert round(f.api_cpu_ms_per_hold, 2) == 0.84  # 105.0 % of a core at 1,249 holds/s
    assert f.kb_per_connection == 36.4


def test_pods_cover_memory_fanout_and_cpu_with_headroom() -> None:
    f = figures()
    p = plan(f, Load(1_000_000, 1_000, 10_000, 2.0, 5.0), pod_memory_mib=2048, headroom=0.3)
    assert p["bound"] == "memory"
    # 1M connections at 36.4 KB in 70 % of 2 GiB pods.
    assert p["pods"] == 25 and abs(p["pods_memory"] - 1_000_000 * 36.4 / (2048 * 1024 * 0.7)) < 1e-6
    more_memory = plan(f, Load(1_000_000, 1_000, 10_000, 2.0, 5.0), pod_memory_mib=16384, headroom=0.3)
    assert more_memory["pods"] < p["pods"] and more_memory["bound"] != "memory"
    busy = plan(f, Load(100_000, 10_000, 10_000, 2.0, 5.0), pod_memory_mib=2048, headroom=0.3)
    assert busy["bound"] == "hold CPU" and busy["db_cores"] > 10 * plan(
        f, Load(100_000, 1_000, 10_000, 2.0, 5.0), pod_memory_mib=2048, headroom=0.3)["db_cores"] * 0.99


def test_the_docs_show_the_table_computed_now() -> None:
    text = DOCS.read_text()
    shown = text[text.index(BEGIN):text.index(END)]
    computed = table(figures(), tutors=10_000, changes_per_hold=2.0, listings_per_hold=5.0, pod_memory_mib=2048,
                     headroom=0.3)
    assert computed in shown, "docs/capacity.md is stale: run python -m bench.capacity --write-docs"
    assert all(f"| {w:,} | {h:,} |" in shown for w in WATCHERS for h in HOLDS_PER_S)

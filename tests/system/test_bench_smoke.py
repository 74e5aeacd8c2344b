"""The benchmark harness at small N: it runs, and every step sends the minimum requests.

Speed is not asserted here (bench/README.md has the figures); request counts are, because a
per-contact GET, a write for an unchanged record or a second write for one change would show
up at any N.
"""

from __future__ import annotations

from bench.scenario import Options, run


def test_every_step_sends_the_minimum_and_a_no_op_writes_nothing() -> None:
    result = run(Options(n=200, seed=3), log=lambda _: None)
    steps = {s["step"]: s for s in result["steps"]}
    assert list(steps) == ["initial", "echo", "noop", "change", "delete", "full_scan", "full_noop"]
    for name, step in steps.items():
        for system, counts in step["requests"].items():
            kinds = counts["by_kind"]
            wanted = step["minimum"][system]
            assert {k: kinds.get(k, 0) for k in wanted} == wanted, (name, system)
        assert step["minimal"], name
    for name in ("echo", "noop", "delete", "full_noop"):
        for system, counts in steps[name]["requests"].items():
            assert counts["by_kind"].get("write", 0) == 0, (name, system)
    for system, counts in steps["noop"]["requests"].items():
        assert counts["by_kind"]["list"] == 1, system
    # the work was done: everyone everywhere, one change carried, deletions carried
    initial = steps["initial"]["outcome"]
    assert sum(o["created"] for o in initial.values()) == sum(
        m["write"] for m in steps["initial"]["minimum"].values()
    )
    assert sum(o["updated"] for o in steps["change"]["outcome"].values()) == 2 * 2
    assert sum(o["deleted"] for o in steps["full_scan"]["outcome"].values()) == 2 * 2

"""The results table in bench/README.md, rewritten between its markers from results/*.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _requests(step: dict[str, Any]) -> str:
    parts = []
    for system, counts in step["requests"].items():
        kinds = counts["by_kind"]
        text = "/".join(str(kinds.get(k, 0)) for k in ("list", "write"))
        parts.append(f"{system} {text}")
    return ", ".join(parts)


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| mode | db | N | step | wall s | CPU s | peak RSS MB (before) | requests list/write "
        "per system | = minimum | ideal s | commit |",
        "| --- | --- | ---: | --- | ---: | ---: | ---: | --- | --- | ---: | --- |",
    ]
    order = {"inprocess": 0, "loopback": 1, "remote": 2}

    def key(r: dict[str, Any]) -> tuple[int, str, bool, int]:
        return (order.get(r["mode"], 3), r["db"], bool(r.get("synced")), r["n"])

    for r in sorted(results, key=key):
        how = "seeded" if r.get("seeded_store") else "synced" if r.get("synced") else ""
        mode = r["mode"] + (f" ({how})" if how else "")
        for s in r["steps"]:
            ideal = "" if s.get("ideal_s") is None else f"{s['ideal_s']:.2f}"
            lines.append(
                f"| {mode} | {r['db']} | {r['n']:,} | {s['step']} | {s['wall_s']:.2f} | "
                f"{s['cpu_s']:.2f} | {s['rss_peak_mb']:.0f} ({s['rss_before_mb']:.0f}) | "
                f"{_requests(s)} | {'yes' if s['minimal'] else 'NO'} | {ideal} | "
                f"{r.get('commit', '-')} |"
            )
    return "\n".join(lines)


def peer_table(peers: list[dict[str, Any]]) -> str:
    lines = [
        "| N | run | contactsync median s | vdirsyncer median s | ratio | contactsync peak MB "
        "| vdirsyncer peak MB | commit |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for p in peers:
        for run in ("initial", "noop"):
            ours, theirs = p["contactsync"][run], p["vdirsyncer"][run]
            ratio = ours["median_s"] / theirs["median_s"] if theirs["median_s"] else 0
            lines.append(
                f"| {p['n']:,} | {run} | {ours['median_s']:.2f} | {theirs['median_s']:.2f} | "
                f"{ratio:.2f} | {ours['peak_mb']:.0f} | {theirs['peak_mb']:.0f} | "
                f"{p.get('commit', '-')} |"
            )
    return "\n".join(lines)


def dav_table(davs: list[dict[str, Any]]) -> str:
    """bench/dav.py's runs: each tool's wall and CPU time, the server's CPU, the ratios."""
    lines = [
        "| kind | N | run | contactsync wall s (CPU s) | vdirsyncer wall s (CPU s) | ratio "
        "wall / CPU | server CPU s: contactsync / vdirsyncer | contactsync requests | commit, "
        "load |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for d in sorted(davs, key=lambda d: (d["kind"], d["n"])):
        ours, theirs = d["contactsync"], d["vdirsyncer"]
        for run in ours:
            o, t = ours[run], theirs.get(run)
            ratio = ""
            if t and t["wall_s"] and t["cpu_s"]:
                ratio = f"{o['wall_s'] / t['wall_s']:.2f} / {o['cpu_s'] / t['cpu_s']:.2f}"
            server = ""
            if "server_cpu_s" in o:
                server = f"{o['server_cpu_s']:.2f} / " + (f"{t['server_cpu_s']:.2f}" if t else "-")
            theirs_text = f"{t['wall_s']:.2f} ({t['cpu_s']:.2f})" if t else "-"
            asked = ", ".join(f"{k} {v}" for k, v in sorted(o.get("requests", {}).items()))
            lines.append(
                f"| {d['kind']} | {d['n']:,} | {run} | {o['wall_s']:.2f} ({o['cpu_s']:.2f}) | "
                f"{theirs_text} | {ratio} | {server} | {asked} | {d.get('commit', '')}, "
                f"{' '.join(d.get('load', []))} |"
            )
    return "\n".join(lines)


def update(folder: Path) -> None:
    results: list[dict[str, Any]] = []
    peers: list[dict[str, Any]] = []
    davs: list[dict[str, Any]] = []
    machine = None
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        machine = data.get("machine", machine)
        if path.name.startswith("dav-"):
            davs.append(data)
        elif path.name.startswith("peer-"):
            peers.append(data)
        elif "mode" in data:  # not another harness's (fleet-*.json: bench/fleet.py's table)
            results.append(data)
    body = [table(results)]
    if peers:
        body += ["", peer_table(peers)]
    if davs:
        body += ["", dav_table(davs)]
    if machine:
        body += ["", "Machine: " + "; ".join(f"{k}: {v}" for k, v in machine.items())]
    text = README.read_text() if README.exists() else f"{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    README.write_text(f"{head}{START}\n" + "\n".join(body) + f"\n{END}{tail}")

"""A fleet to test and measure: fleet.toml, N configurations over CSV files (and some over
Lightening emulators, two customers per emulator so that their contacts never mix), each
with its own schema in one PostgreSQL database, and worker processes to start and stop."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.demo import toml_value
from sync.resources import shipped
from sync.sandbox.serve import Served, emulator_for, serve


def toml(tables: dict[str, dict[str, Any]]) -> str:
    lines = []
    for name, values in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
        lines.append("")
    return "\n".join(lines)


@dataclass
class Target:
    """A configuration's Lightening system: which emulator, which customer."""

    served: Served
    customer: int


@dataclass
class FleetWorld:
    root: Path
    fleet: Path
    store_url: str  # the stores' database; each configuration has its schema in it
    queue_url: str
    people: dict[str, list[dict[str, str]]]
    targets: dict[str, Target] = field(default_factory=dict)
    emulators: list[Served] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def folder(self, config: str) -> Path:
        return self.root / "orgs" / config

    def state_url(self, config: str) -> str:
        return f"{self.store_url}?options=-csearch_path%3D{config.replace('-', '_')}"

    def start_worker(self, index: int, *, listen: str | None = None) -> subprocess.Popen[bytes]:
        log = (self.root / f"worker{index}.log").open("wb")
        cmd = [sys.executable, "-m", "sync", "worker", "--fleet", str(self.fleet)]
        cmd += ["--listen", listen] if listen else []
        proc = subprocess.Popen(
            cmd, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.workers.append(proc)
        return proc

    def log(self, index: int) -> str:
        return (self.root / f"worker{index}.log").read_text(errors="replace")

    def logs(self) -> str:
        """The end of every worker's log, for a test that timed out."""
        return "\n".join(f"--- worker {i}\n{self.log(i)[-3000:]}" for i in range(len(self.workers)))

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for one in self.emulators:
            one.stop()


def build(
    root: Path,
    queue_url: str,
    store_url: str,
    *,
    configs: int,
    people: int,
    lightening: int = 0,
    interval: str = "2s",
    worker: dict[str, Any] | None = None,
    budget: dict[str, Any] | None = None,
    latency: float = 0.0,
    broken: int = 0,
    synced: bool = False,
) -> FleetWorld:
    """`configs` configurations org00.. of `people` people each; the first `lightening` of
    them also sync to a Lightening customer; the last `broken` name a Lightening that is not
    there (a configuration whose systems fail). `synced`: b.csv holds everyone already (the
    state after an initial sync, without its writes)."""
    world = FleetWorld(root, root / "fleet.toml", store_url, queue_url, {})
    world.env = {**os.environ}
    for i in range(0, lightening, 2):
        served = serve(f"lightening{i // 2}", emulator_for("lightening", latency=latency))
        world.emulators.append(served)
        world.env.update(getattr(served.emulator, "DEFAULT_ENV", {}))
        for customer in (1, 2):
            if i + customer - 1 < lightening:
                world.targets[f"org{i + customer - 1:02d}"] = Target(served, customer)
    for n in range(configs):
        name = f"org{n:02d}"
        folder = world.folder(name)
        folder.mkdir(parents=True)
        persons = [
            {
                "email": f"p{k:03d}@{name}.example",
                "first_name": f"First{k}",
                "last_name": f"{name.capitalize()}{k}",
            }
            for k in range(people)
        ]
        world.people[name] = persons
        rows = ["id,email,first_name,last_name"]
        rows += [
            f"{k + 1},{p['email']},{p['first_name']},{p['last_name']}"
            for k, p in enumerate(persons)
        ]
        (folder / "a.csv").write_text("\n".join(rows) + "\n")
        if synced:
            (folder / "b.csv").write_text("\n".join(rows) + "\n")
        tables: dict[str, dict[str, Any]] = {
            "state": {"url": world.state_url(name)},
            "sync": {"interval": interval},
            "systems.a": {"connector": "csv", "path": "a.csv"},
            "systems.b": {"connector": "csv", "path": "b.csv"},
        }
        target = world.targets.get(name)
        if target is not None or n >= configs - broken:
            url = target.served.url if target else "http://127.0.0.1:9"  # nothing listens
            table = emulator_for("lightening").system_table(url)  # type: ignore[attr-defined]
            customer = target.customer if target else 1
            tables["systems.lightening"] = {
                "connector": "lightening",
                "base_url": table["base_url"],
                "mapping": str(shipped(table["mapping"])),
                "customer_ids": [customer],
                "customer_id": customer,
                "retries": 1 if target else 0,
            }
            tables["systems.lightening.auth"] = {"kind": "bearer", "token_env": "LIGHTENING_TOKEN"}
            world.env.setdefault("LIGHTENING_TOKEN", "lightening-sandbox-token")
        (folder / "sync.toml").write_text(toml(tables))
    fleet: dict[str, dict[str, Any]] = {
        "queue": {"url": queue_url.replace("postgresql+psycopg://", "postgresql://")},
        "configs": {"paths": ["orgs/*/sync.toml"]},
        "worker": {
            "concurrency": 4,
            "tick": "1s",
            "heartbeat": "1s",
            "stalled_after": "3s",
            **(worker or {}),
        },
        "defaults.daemon": {"lease_ttl": "3s"},
    }
    if budget is not None:
        fleet["budgets.lightening"] = budget
    world.fleet.write_text(toml(fleet))
    return world

"""The benchmark's world: three sandbox systems, N generated people, and what was sent.

Systems: `crm` and `portal` are Oracle B2B sites, `desk` is ServiceOps. These are the two
vendors whose list APIs have an incremental cursor and key or offset paging; SuperOffice's
change filter is by day (a no-op run rereads the day), Lightening lists everything in one
answer and OneContact is write-only, so none of those can show a one-page no-op.

People are deterministic from the seed; overlap is realistic: 20% in all three systems, 30%
in two, 50% in one. A person's fields agree wherever they appear, so the initial sync needs
creates only, never an update, and its minimum is plain arithmetic.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sync.sandbox.base import Emulator, LoggedRequest
from sync.sandbox.oracle_b2b import OracleB2BEmulator
from sync.sandbox.serviceops import ServiceOpsEmulator

SYSTEMS = {"crm": "oracle_b2b", "desk": "serviceops", "portal": "oracle_b2b"}
PAGE_SIZE = 1000  # the largest page both vendors allow; the connectors' page_size option
FIRST = ["Ada", "Alan", "Grace", "Linus", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Joan"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Dijkstra", "Liskov", "Knuth", "Allen"]
TITLES = ["Driver", "Dispatcher", "Mechanic", "Analyst", "Manager"]
CITIES = [("Denver", "CO", "80207"), ("Austin", "TX", "73301"), ("Boston", "MA", "02108")]
DEPARTMENTS = ["Fleet", "Sales", "Support", "Billing"]


def people(n: int, seed: int) -> list[tuple[dict[str, Any], tuple[str, ...]]]:
    """N people, each with the systems that hold them at the start."""
    rng = random.Random(seed)
    names = list(SYSTEMS)
    out = []
    for i in range(n):
        city, region, postal = rng.choice(CITIES)
        person = {
            "email": f"person{i:06d}@example.com",
            "first_name": rng.choice(FIRST),
            "last_name": rng.choice(LAST),
            "mobile": f"+1303{rng.randrange(2000000, 9999999)}",
            "title": rng.choice(TITLES),
            "city": city,
            "region": region,
            "postal_code": postal,
            "country": "US",
            "department": rng.choice(DEPARTMENTS),
        }
        draw = rng.random()
        k = 3 if draw < 0.2 else 2 if draw < 0.5 else 1
        out.append((person, tuple(sorted(rng.sample(names, k)))))
    return out


def initial_creates(population: list[tuple[dict[str, Any], tuple[str, ...]]]) -> dict[str, int]:
    """Creates the initial sync needs in each system: everyone it does not hold yet."""
    out = dict.fromkeys(SYSTEMS, 0)
    for _, held in population:
        for name in SYSTEMS:
            if name not in held:
                out[name] += 1
    return out


def kind_of(vendor: str, request: LoggedRequest) -> str:
    """list, get, auth or write: what a request was for."""
    if vendor == "serviceops":
        if request.path.endswith("/oauth/token"):
            return "auth"
        return "list" if request.path.endswith("/search/byqual") else "write"
    if request.method == "GET":
        return "list" if request.path.rstrip("/").endswith("/contacts") else "get"
    return "write"


@dataclass
class Counts:
    by_verb: dict[str, int]
    by_kind: dict[str, int]


class World:
    """The three emulators and the people in them, driven in this process."""

    def __init__(self, latency: float = 0.0) -> None:
        self.emulators: dict[str, Emulator] = {
            name: OracleB2BEmulator(latency=latency)
            if vendor == "oracle_b2b"
            else ServiceOpsEmulator(latency=latency)
            for name, vendor in SYSTEMS.items()
        }
        self.marks = dict.fromkeys(SYSTEMS, 0)
        self.rng = random.Random(0)

    def seed(self, n: int, seed: int, synced: bool = False) -> dict[str, int]:
        """N people; `synced`: everyone in every system already, as an initial sync leaves
        them (the state the no-op targets are about, without pushing ~1.3 N creates)."""
        population = people(n, seed)
        if synced:
            population = [(person, tuple(SYSTEMS)) for person, _ in population]
        for person, held in population:
            for name in held:
                self.emulators[name].seed_person(_fields_for(SYSTEMS[name], person))
        self.rng = random.Random(seed + 1)
        return initial_creates(population)

    def size(self, name: str) -> int:
        emu = self.emulators[name]
        return len(emu.contacts if SYSTEMS[name] == "oracle_b2b" else emu.requesters)  # type: ignore[attr-defined]

    def _ids(self, name: str) -> list[str]:
        emu = self.emulators[name]
        store = emu.contacts if SYSTEMS[name] == "oracle_b2b" else emu.requesters  # type: ignore[attr-defined]
        return [str(i) for i in store]

    def edit(self, name: str, count: int) -> int:
        """Change the mobile number of `count` records of one system, as a person would."""
        chosen = self.rng.sample(self._ids(name), count)
        emulator: Any = self.emulators[name]
        for vendor_id in chosen:
            emulator.edit(vendor_id, mobile=f"+1720{self.rng.randrange(2000000, 9999999)}")
        return len(chosen)

    def remove(self, name: str, count: int) -> int:
        chosen = self.rng.sample(self._ids(name), count)
        for vendor_id in chosen:
            self.emulators[name].remove(vendor_id)
        return len(chosen)

    def take_counts(self) -> dict[str, Counts]:
        """Requests each system answered since the last call."""
        out = {}
        for name, emu in self.emulators.items():
            new = emu.log[self.marks[name] :]
            self.marks[name] = len(emu.log)
            verbs = Counter(r.method for r in new)
            kinds = Counter(kind_of(SYSTEMS[name], r) for r in new)
            out[name] = Counts(dict(verbs), dict(kinds))
        # the log is only for counting: drop what was counted so 100k runs stay lean
        for name, emu in self.emulators.items():
            emu.log.clear()
            self.marks[name] = 0
        return out

    def table(self, name: str, base_url: str) -> dict[str, Any]:
        table: dict[str, Any] = self.emulators[name].system_table(base_url)  # type: ignore[attr-defined]
        table["page_size"] = PAGE_SIZE
        return table

    def env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for emu in self.emulators.values():
            env |= getattr(emu, "DEFAULT_ENV", {})
        return env


def _fields_for(vendor: str, person: dict[str, Any]) -> dict[str, Any]:
    """What a system holds of a person: the fields its mapping carries."""
    keys: tuple[str, ...]
    if vendor == "serviceops":
        keys = ("email", "first_name", "last_name", "mobile", "department")
    else:
        keys = ("email", "first_name", "last_name", "mobile", "title", "city", "region")
        keys += ("postal_code", "country")
    return {k: person[k] for k in keys}

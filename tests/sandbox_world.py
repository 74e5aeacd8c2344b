"""Vendor emulators (in-process, through their ASGI transports) and memory systems under one
engine and a fresh store: the world of the fault, bad-input and stress tests."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path
from typing import Any

from sync.connectors import memory
from sync.engine import Engine
from sync.report import RunReport
from sync.sandbox.base import Emulator
from sync.sandbox.onecontact import SERVICE
from sync.sandbox.serve import emulator_for
from sync.store.repo import Store
from tests.helpers import REPO, settings_from

_tags = itertools.count()
FAST = {"backoff": 0, "timeout": 2, "retries": 4}
# one person first seen in each listable vendor, all carried by every mapping (phones too)
PEOPLE = {
    "oracle_b2b": {
        "email": "craig@example.com",
        "first_name": "Craig",
        "last_name": "Daniels",
        "phone": "+1 720 340 1313",
    },
    "serviceops": {
        "email": "grace@example.org",
        "first_name": "Grace",
        "last_name": "Hopper",
        "phone": "+1 202 555 0100",
    },
    "superoffice": {
        "email": "alan@example.org",
        "first_name": "Alan",
        "last_name": "Turing",
        "phone": "+44 161 496 0000",
    },
    "lightening": {
        "email": "linus@example.org",
        "first_name": "Linus",
        "last_name": "Torvalds",
        "phone": "+358 9 1234567",
    },
}
NEWCOMER = {
    "email": "margaret@example.org",
    "first_name": "Margaret",
    "last_name": "Hamilton",
    "phone": "+1 617 555 0199",
}
EDITED, RENAMED = "Daniels-Smith", "Grace B."


def change(emulators: dict[str, Any], ids: dict[str, str]) -> None:
    """After a first sync: two edits, a new person and a deletion, in different systems."""
    emulators["oracle_b2b"].edit(ids["oracle_b2b"], last_name=EDITED)
    emulators["serviceops"].edit(ids["serviceops"], first_name=RENAMED)
    emulators["serviceops"].seed_person(NEWCOMER)
    emulators["lightening"].remove(ids["lightening"])


class Sandbox:
    def __init__(
        self,
        tmp: Path,
        vendors: dict[str, Emulator | str],
        memory_systems: dict[str, dict[str, Any]] | None = None,
        tables: dict[str, dict[str, Any]] | None = None,
        **sync: Any,
    ) -> None:
        tag = next(_tags)
        self.emulators = {
            n: emulator_for(e) if isinstance(e, str) else e for n, e in vendors.items()
        }
        self.env: dict[str, str] = {}
        systems: dict[str, dict[str, Any]] = {}
        for name, emu in self.emulators.items():
            table = emu.system_table(f"http://{name}.test")  # type: ignore[attr-defined]
            systems[name] = {**table, **FAST, **(tables or {}).get(name, {})}
            self.env.update(getattr(emu, "DEFAULT_ENV", {}))
        self.stores: dict[str, str] = {}
        for name, table in (memory_systems or {}).items():
            self.stores[name] = f"sb{tag}-{name}"
            memory.STORES[self.stores[name]] = {}
            systems[name] = {"connector": "memory", "store": self.stores[name], **table}
        raw = {
            "state": {"url": f"sqlite:///{tmp / f'sandbox{tag}.db'}"},
            "sync": {"max_delete_fraction": 0.5, **sync},
            "systems": systems,
        }
        self.settings = settings_from(raw, REPO, self.env)
        self.store = Store(self.settings.state_url)

    def run(self, **kw: Any) -> RunReport:
        transports = {n: e.transport() for n, e in self.emulators.items()}
        engine = Engine(self.settings, self.store, transports=transports)  # type: ignore[arg-type]
        return asyncio.run(engine.run(**kw))

    def records(self, system: str) -> dict[str, dict[str, Any]]:
        return memory.STORES[self.stores[system]]

    def people(self, system: str) -> list[dict[str, Any]]:
        """What a system holds, as canonical-ish dicts without vendor IDs."""
        if system in self.stores:
            return [
                {k: v for k, v in r.items() if k != "id"} for r in self.records(system).values()
            ]
        emu: Any = self.emulators[system]
        return [{k: v for k, v in p.items() if k != "id"} for p in emu.people()]

    def state(self) -> dict[str, dict[str, dict[str, Any]]]:
        """system -> email -> fields; asserts no email is held twice in one system."""
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for system in [*self.emulators, *self.stores]:
            people = self.people(system)
            emails = Counter(str(p.get("email")) for p in people)
            twice = [e for e, n in emails.items() if n > 1]
            assert not twice, f"{system} holds {twice} more than once"
            out[system] = {str(p.get("email")): p for p in people}
        return out

    def dispose(self) -> None:
        self.store.dispose()


def dialer_config(sb: Sandbox, folder: Path, check_repeated: bool = False) -> Path:
    """A Sandbox of a memory crm and a OneContact dialer as a sync.toml the CLI can read."""
    path = folder / "sync.toml"
    path.write_text(
        f'[state]\nurl = "{sb.settings.state_url}"\n\n'
        f'[systems.crm]\nconnector = "memory"\nstore = "{sb.stores["crm"]}"\n\n'
        '[systems.dialer]\nconnector = "onecontact"\nbase_url = "http://dialer.test/api"\n'
        f'mapping = "{REPO / "mappings" / "onecontact.toml"}"\n'
        f"service_id = {SERVICE}\ncheck_repeated = {str(check_repeated).lower()}\n"
        '[systems.dialer.auth]\nkind = "bearer"\ntoken_env = "ONECONTACT_TOKEN"\n'
    )
    return path

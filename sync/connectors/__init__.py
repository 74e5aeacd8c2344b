"""The connector registry: a name in sync.toml -> the class that speaks that system."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sync.connectors.base import Connector

_REGISTRY: dict[str, str] = {
    "memory": "sync.connectors.memory:MemoryConnector",
    "csv": "sync.connectors.csvfile:CsvConnector",
    "carddav": "sync.connectors.carddav:CardDavConnector",
    "vdir": "sync.connectors.vdir:VdirConnector",
    "oracle_b2b": "sync.connectors.oracle_b2b:OracleB2BConnector",
    "serviceops": "sync.connectors.serviceops:ServiceOpsConnector",
    "superoffice": "sync.connectors.superoffice:SuperOfficeConnector",
    "lightening": "sync.connectors.lightening:LighteningConnector",
    "onecontact": "sync.connectors.onecontact:OneContactConnector",
}


def known_connectors() -> list[str]:
    return sorted(_REGISTRY)


def connector_class(name: str) -> type[Connector] | None:
    target = _REGISTRY.get(name)
    if target is None:
        return None
    module, _, cls = target.partition(":")
    found: type[Connector] = getattr(importlib.import_module(module), cls)
    return found

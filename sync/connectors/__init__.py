"""The connector registry: a name in sync.toml -> the class that speaks that system.

Built-in connectors (memory, csv, ...) are Python classes. Every other name is a vendor file:
`vendors/<name>.toml` beside the configuration (a user's own) or shipped with contactsync
(sync.resources.shipped). A vendor file becomes a RestConnector subclass, or a subclass of
the hook class it names.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync.resources import shipped

if TYPE_CHECKING:
    from sync.connectors.base import Connector

_REGISTRY: dict[str, str] = {
    "memory": "sync.connectors.memory:MemoryConnector",
    "csv": "sync.connectors.csvfile:CsvConnector",
    "carddav": "sync.connectors.carddav:CardDavConnector",
    "vdir": "sync.connectors.vdir:VdirConnector",
}
_LOADED: dict[tuple[str, float], type[Connector]] = {}


def _import(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def vendor_file(name: str, root: Path | None = None) -> Path | None:
    """The vendor file for `name`: the user's own (beside sync.toml) first, then shipped."""
    if not name.replace("_", "").replace("-", "").isalnum():
        return None
    candidates = [root / "vendors" / f"{name}.toml"] if root is not None else []
    candidates.append(shipped(f"vendors/{name}.toml"))
    return next((p for p in candidates if p.is_file()), None)


def known_connectors(root: Path | None = None) -> list[str]:
    names = set(_REGISTRY)
    for folder in [shipped("vendors"), *([root / "vendors"] if root else [])]:
        if folder.is_dir():
            names |= {p.stem for p in folder.glob("*.toml")}
    return sorted(names)


def connector_class(name: str, root: Path | None = None) -> type[Connector] | None:
    """The class for `name`; ConfigError (every problem, with file and key) when its vendor
    file is wrong. Without `root` a user's vendor file is found when the system is built
    (its settings know their folder)."""
    target = _REGISTRY.get(name)
    if target is not None:
        found: type[Connector] = _import(target)
        return found
    path = vendor_file(name, root)
    if path is None:
        return _deferred(name) if root is None else None
    key = (str(path.resolve()), path.stat().st_mtime)
    if key not in _LOADED:
        _LOADED[key] = _vendor_class(name, path)
    return _LOADED[key]


def _vendor_class(name: str, path: Path) -> type[Connector]:
    from sync.connectors.rest import RestConnector
    from sync.connectors.vendor import load_vendor
    from sync.connectors.vendor_options import options_model
    from sync.errors import ConfigError, Problem

    spec = load_vendor(path, f"vendors/{path.name}")
    base: Any = RestConnector
    if spec.hooks:
        try:
            base = _import(spec.hooks)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ConfigError([Problem(f"vendors/{path.name}: hooks", str(exc))]) from None
        if not (isinstance(base, type) and issubclass(base, RestConnector)):
            raise ConfigError(
                [Problem(f"vendors/{path.name}: hooks", "must name a RestConnector subclass")]
            )
    attrs = {
        "kind": name,
        "vendor": spec,
        "Options": options_model(name, spec),
        "answers_as_listed": spec.answers_as_listed,
        "can_list": spec.list is not None,
        "can_list_changes": spec.list_changed is not None,
        "can_create": spec.create is not None,
        "can_update": spec.update is not None,
        "can_delete": spec.delete is not None,
        "can_find_by_email": spec.find_by_email is not None,
        "can_refuse_repeats": spec.create_unless_exists is not None,
    }
    cls: type[Connector] = type(f"{name.title().replace('_', '')}Connector", (base,), attrs)
    return cls


def _deferred(name: str) -> type[Connector] | None:
    """A stand-in for a user's vendor: building it finds the file beside the system's sync.toml."""
    from sync.connectors.base import Connector

    class Deferred(Connector):
        kind = name

        @classmethod
        def build(cls, settings: Any, transport: Any = None) -> Connector:
            real = connector_class(name, settings.root)
            if real is None:
                raise LookupError(f"no connector or vendor file named {name!r}")
            return real.build(settings, transport)

    return Deferred

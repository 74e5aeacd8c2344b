"""Mapping files: how one system's records map to canonical contacts and back.

    id = "id"                          # path of the vendor ID (default "id")
    updated = "updated_at"             # path of the vendor's update time (optional)

    [custom]                           # custom canonical fields this mapping introduces
    has_cdl = "bool"

    [filter]                           # which contacts go to this system at all
    require = ["phone"]

    [create]                           # values written only when creating
    "emails.addressType.id" = 0

    [fields.email]
    path = "email"
    direction = "both"                 # both | to_system | from_system
    to_system = ["trim", { max_length = 191 }]
    from_system = []
    lookup = { US = "United States" }  # canonical -> vendor; read back inverted
    also = { "emails.addressType.id" = 0 }  # written beside this field, set or cleared
    required = false                   # a create without it fails the record

    [joined."name"]                    # a path several fields share, after joining
    to_system = [{ max_length = 64 }]
    required = true

Fields that share one path are joined with a space when written; `split_name` takes them
apart when read. `[joined.<path>]` checks the joined value (its length, its form).

This module is the file's schema and its compiling into a `Mapping` (sync/mapping.py), every
problem reported at once with the file and key.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Literal

from sync import transforms
from sync.contact import CUSTOM_TYPES, STANDARD_FIELDS, Schema
from sync.errors import ConfigError, Problem
from sync.inputfiles import read_toml, tree_problems
from sync.mapping import FieldMap, Joined, Mapping
from sync.paths import PathError, Segment, parse_path
from sync.validation import Strict, validate_all


class FieldSpec(Strict):
    path: str
    direction: Literal["both", "to_system", "from_system"] = "both"
    to_system: list[str | dict[str, Any]] = []
    from_system: list[str | dict[str, Any]] = []
    lookup: dict[str, Any] = {}
    also: dict[str, Any] = {}
    required: bool = False


class JoinedSpec(Strict):
    to_system: list[str | dict[str, Any]] = []
    required: bool = False


class FilterSpec(Strict):
    require: list[str] = []
    equals: dict[str, Any] = {}


class MappingSpec(Strict):
    id: str = "id"
    updated: str | None = None
    custom: dict[str, Literal["str", "bool"]] = {}
    filter: FilterSpec = FilterSpec()
    create: dict[str, Any] = {}
    fields: dict[str, FieldSpec] = {}
    joined: dict[str, JoinedSpec] = {}


def _compile_joined(spec: MappingSpec, where: str, problems: list[Problem]) -> dict[str, Joined]:
    """`[joined.<path>]`: the transforms of a path several fields write together."""
    writers = Counter(fs.path for fs in spec.fields.values() if fs.direction != "from_system")
    out = {}
    for path_text, js in spec.joined.items():
        key = f"{where}: joined.{path_text}"
        if writers[path_text] < 2:
            problems.append(Problem(key, "fewer than two fields write this path: nothing joins"))
            continue
        built = []
        for i, t in enumerate(js.to_system):
            try:
                built.append(transforms.build(t))
            except ValueError as exc:
                problems.append(Problem(f"{key}.to_system[{i}]", str(exc)))
        out[path_text] = Joined(transforms.chain(built), js.required)
    return out


def identity_mapping(schema: Schema, source: str = "(no mapping: canonical columns)") -> Mapping:
    """Columns named like canonical fields; booleans spelled true/false."""
    fields = {}
    for name, kind in schema.types.items():
        to = [transforms.build({"bool": ["true", "false"]})] if kind == "bool" else []
        fields[name] = FieldMap(
            name=name,
            path=parse_path(name),
            path_text=name,
            direction="both",
            to_system=transforms.chain(to),
            from_system=transforms.chain([]),
            also=(),
            required=False,
        )
    # the fields depend on the schema alone, so equal schemas give equal fingerprints
    fingerprint = json.dumps({"identity": schema.types}, sort_keys=True)
    return Mapping(
        source, fields, parse_path("id"), parse_path("updated_at"), {}, fingerprint=fingerprint
    )


def load_mapping(path: Path, label: str | None = None) -> Mapping:
    """Read and compile one mapping file; ConfigError lists every problem with file and key."""
    where = label or str(path)
    return compile_mapping(read_toml(path, where, "mapping"), where)


def compile_mapping(raw: dict[str, Any], where: str) -> Mapping:
    deep = tree_problems(raw, where)  # before pydantic: no RecursionError, no inf
    if deep:
        raise ConfigError(deep)
    problems: list[Problem] = []
    spec = validate_all(MappingSpec, raw, where, problems)  # the rest checked even so
    if spec is None:
        raise ConfigError(problems)
    known = set(STANDARD_FIELDS) | set(spec.custom)

    def path_of(key: str, text: str) -> tuple[Segment, ...]:
        try:
            return parse_path(text)
        except PathError as exc:
            problems.append(Problem(f"{where}: {key}", str(exc)))
            return ()

    for name, kind in spec.custom.items():
        if name in STANDARD_FIELDS:
            problems.append(Problem(f"{where}: custom.{name}", "is a standard field already"))
        elif kind not in CUSTOM_TYPES:
            problems.append(
                Problem(f"{where}: custom.{name}", f"type must be one of {CUSTOM_TYPES}")
            )

    fields: dict[str, FieldMap] = {}
    for name, fs in spec.fields.items():
        key = f"fields.{name}"
        if name not in known:
            valid = ", ".join(sorted(known))
            problems.append(Problem(f"{where}: {key}", f"unknown canonical field (valid: {valid})"))
            continue
        chains = {}
        for direction in ("to_system", "from_system"):
            built = []
            for i, t in enumerate(getattr(fs, direction)):
                try:
                    built.append(transforms.build(t))
                except ValueError as exc:
                    problems.append(Problem(f"{where}: {key}.{direction}[{i}]", str(exc)))
            chains[direction] = built
        if fs.lookup:
            inverse = {v: k for k, v in fs.lookup.items()}
            chains["to_system"].append(transforms.build({"lookup": dict(fs.lookup)}))
            chains["from_system"].insert(0, transforms.build({"lookup": inverse}))
        also = tuple((path_of(f"{key}.also.{p}", p), v) for p, v in fs.also.items())
        fields[name] = FieldMap(
            name=name,
            path=path_of(f"{key}.path", fs.path),
            path_text=fs.path,
            direction=fs.direction,
            to_system=transforms.chain(chains["to_system"]),
            from_system=transforms.chain(chains["from_system"]),
            also=also,
            required=fs.required,
        )
    for i, name in enumerate(spec.filter.require):
        if name not in known:
            problems.append(Problem(f"{where}: filter.require[{i}]", f"unknown field {name!r}"))
    for name in spec.filter.equals:
        if name not in known:
            problems.append(Problem(f"{where}: filter.equals.{name}", "unknown field"))
    joined = _compile_joined(spec, where, problems)
    on_create = tuple((path_of(f"create.{p}", p), v) for p, v in spec.create.items())
    id_path = path_of("id", spec.id)
    updated_path = path_of("updated", spec.updated) if spec.updated else None
    if problems:
        raise ConfigError(problems)
    return Mapping(
        source=where,
        fields=fields,
        id_path=id_path,
        updated_path=updated_path,
        custom=dict(spec.custom),
        require=tuple(spec.filter.require),
        equals=dict(spec.filter.equals),
        on_create=on_create,
        joined=joined,
        fingerprint=json.dumps(raw, sort_keys=True, default=str),
    )

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
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from sync import transforms
from sync.contact import CUSTOM_TYPES, STANDARD_FIELDS, Record, Schema
from sync.errors import ConfigError, Problem, RecordError
from sync.inputfiles import read_toml, tree_problems
from sync.paths import PathError, Segment, get_path, parse_path, set_path
from sync.times import parse_time
from sync.transforms import identity
from sync.validation import Strict, validate_all

MAX_TEXT = 10_000  # no contact field is longer; a bigger value is a broken record


def check_text(value: Any) -> None:
    """Refuse text no system should receive: too long, not valid UTF-8, or with NUL."""
    if not isinstance(value, str):
        return
    if value.isascii():  # most text: no encoding to check
        if len(value) > MAX_TEXT:
            raise RecordError(f"value is {len(value)} characters; at most {MAX_TEXT} are accepted")
        if "\x00" in value:
            raise RecordError("value contains a NUL character")
        return
    if len(value) > MAX_TEXT:
        raise RecordError(f"value is {len(value)} characters; at most {MAX_TEXT} are accepted")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordError("value is not valid UTF-8") from None
    if "\x00" in value:
        raise RecordError("value contains a NUL character")


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


@dataclass(frozen=True)
class Joined:
    """What applies to a shared path's joined value."""

    to_system: transforms.Transform
    required: bool


@dataclass(frozen=True)
class FieldMap:
    name: str
    path: tuple[Segment, ...]
    path_text: str
    direction: str
    to_system: transforms.Transform
    from_system: transforms.Transform
    also: tuple[tuple[tuple[Segment, ...], Any], ...]
    required: bool

    @property
    def reads(self) -> bool:
        return self.direction in ("both", "from_system")

    @property
    def writes(self) -> bool:
        return self.direction in ("both", "to_system")

    @cached_property
    def key(self) -> str | None:
        """The key of a path that is one plain key (`email`): read and written directly."""
        keys = self.keys
        return keys[0] if keys is not None and len(keys) == 1 else None

    @cached_property
    def keys(self) -> tuple[str, ...] | None:
        """The keys of a path of plain keys only (`name.first`), without list selectors."""
        if not self.path or any(s.index is not None or s.match or s.choices for s in self.path):
            return None
        return tuple(s.key for s in self.path)

    def get(self, data: Any) -> Any:
        """The value at this field's path (get_path, quicker for plain keys)."""
        keys = self.keys
        if keys is None:
            return get_path(data, self.path)
        for key in keys:
            if not isinstance(data, dict):
                return None
            data = data.get(key)
        return data

    def put(self, out: dict[str, Any], value: Any) -> None:
        """Write `value` at this field's path (set_path, quicker for plain keys)."""
        keys = self.keys
        if keys is None:
            set_path(out, self.path, value)
            return
        for key in keys[:-1]:
            inner = out.get(key)
            if not isinstance(inner, dict):
                inner = out[key] = {}
            out = inner
        out[keys[-1]] = value


@dataclass(frozen=True)
class Mapping:
    """A compiled mapping: vendor record <-> canonical record, both directions."""

    source: str
    fields: dict[str, FieldMap]
    id_path: tuple[Segment, ...]
    updated_path: tuple[Segment, ...] | None
    custom: dict[str, str]
    require: tuple[str, ...] = ()
    equals: dict[str, Any] = field(default_factory=dict)
    on_create: tuple[tuple[tuple[Segment, ...], Any], ...] = ()
    joined: dict[str, Joined] = field(default_factory=dict)
    # what the mapping file said: a changed mapping makes the next full scan plan everyone
    fingerprint: str = ""

    def vendor_id(self, data: dict[str, Any]) -> str | None:
        value = get_path(data, self.id_path)
        return None if value is None or value == "" else str(value)

    def vendor_updated(self, data: dict[str, Any]) -> datetime | None:
        if self.updated_path is None:
            return None
        return parse_time(get_path(data, self.updated_path))

    def from_system(self, data: dict[str, Any], schema: Schema) -> Record:
        """Canonical fields of a vendor record, normalised. RecordError names the field."""
        raw: Record = {}
        for fm in self._readers:
            try:
                key = fm.key
                value = data.get(key) if key is not None else fm.get(data)
                check_text(value)
                raw[fm.name] = value if fm.from_system is identity else fm.from_system(value)
            except RecordError as exc:
                raise RecordError(f"field {fm.name} ({fm.path_text}): {exc}") from None
        return schema.normalise(raw)

    def to_system(
        self, record: Record, names: Iterable[str] | None = None, *, create: bool = False
    ) -> dict[str, Any]:
        """A vendor payload carrying `names` (default: every written field)."""
        writers = self._writers
        if names is not None:
            wanted = set(names)
            # fields sharing a path are written together, so a name change sends the whole name
            paths = {fm.path_text for n, fm in self.fields.items() if n in wanted}
            writers = tuple(fm for fm in writers if fm.path_text in paths)
        shared = self._shared_paths
        out: dict[str, Any] = {}
        joined: dict[str, list[str]] = {}
        for fm in writers:
            value = record.get(fm.name)
            if fm.to_system is not identity:
                try:
                    value = fm.to_system(value)
                except RecordError as exc:
                    raise RecordError(f"field {fm.name} ({fm.path_text}): {exc}") from None
            if value is None and fm.required and create:
                raise RecordError(f"field {fm.name} ({fm.path_text}) is required by this system")
            if shared and fm.path_text in shared:
                parts = joined.get(fm.path_text)
                if parts is None:
                    joined[fm.path_text] = [] if value in (None, "") else [str(value)]
                elif value not in (None, ""):
                    parts.append(str(value))
                continue
            if value is None and create:
                continue
            if fm.key is not None:
                out[fm.key] = value
            else:
                fm.put(out, value)
            for path, extra in fm.also:  # a cleared value still says which one it was
                set_path(out, path, extra)
        for path_text, parts in joined.items():
            self._write_joined(out, path_text, parts, create)
        if create:
            for path, extra in self.on_create:
                set_path(out, path, extra)
        return out

    def _write_joined(
        self, out: dict[str, Any], path_text: str, parts: list[str], create: bool
    ) -> None:
        """A shared path's value: its parts joined with a space, then `[joined.<path>]`."""
        names = [n for n, f in self.fields.items() if f.path_text == path_text]
        fm = self.fields[names[0]]
        value: str | None = " ".join(parts) if parts else None
        rule = self.joined.get(path_text)
        if rule is not None:
            try:
                value = rule.to_system(value)
            except RecordError as exc:
                raise RecordError(f"{' + '.join(names)} ({path_text}): {exc}") from None
            if rule.required and create and value in (None, ""):
                raise RecordError(f"{' + '.join(names)} ({path_text}) is required by this system")
        if value is not None or not create:
            set_path(out, fm.path, value)

    def roundtrip(self, record: Record, schema: Schema) -> Record:
        """What this system will hold, read back, after we write `record` (echo suppression)."""
        return self.from_system(self.to_system(record), schema)

    def echo(self, record: Record, schema: Schema) -> Record:
        """Like roundtrip, but over every written field, read back or not: what a snapshot of
        this system holds after the write, including fields it never shows us again."""
        payload = self.to_system(record)
        raw: Record = {}
        for fm in self._writers:
            key = fm.key
            value = payload.get(key) if key is not None else fm.get(payload)
            raw[fm.name] = value if fm.from_system is identity else fm.from_system(value)
        return schema.normalise(raw)

    def passes_filter(self, record: Record) -> bool:
        if any(record.get(name) in (None, "") for name in self.require):
            return False
        return all(record.get(k) == v for k, v in self.equals.items())

    @cached_property
    def _readers(self) -> tuple[FieldMap, ...]:
        return tuple(fm for fm in self.fields.values() if fm.reads)

    @cached_property
    def _writers(self) -> tuple[FieldMap, ...]:
        return tuple(fm for fm in self.fields.values() if fm.writes)

    @cached_property  # asked for every record of every run
    def read_fields(self) -> set[str]:
        return {n for n, fm in self.fields.items() if fm.reads}

    @cached_property  # asked for every planned contact
    def write_fields(self) -> set[str]:
        return {n for n, fm in self.fields.items() if fm.writes}

    @cached_property
    def _shared_paths(self) -> set[str]:
        """Paths that more than one field writes (joined into one value, e.g. a full name)."""
        seen: set[str] = set()
        shared: set[str] = set()
        for fm in self.fields.values():
            (shared if fm.path_text in seen else seen).add(fm.path_text)
        return shared


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

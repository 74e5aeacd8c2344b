"""A compiled mapping applied: one system's records read into canonical contacts and
canonical values written back as that system holds them (the file format, and compiling it,
are sync/mapping_file.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sync import transforms
from sync.contact import Record, Schema
from sync.errors import RecordError
from sync.paths import Segment, get_path, set_path
from sync.times import parse_time
from sync.transforms import identity

MAX_TEXT = 10_000  # no contact field is longer; a bigger value is a broken record


def check_text(value: Any) -> None:
    """Refuse text no system should receive: too long, not valid UTF-8, or with NUL."""
    if not isinstance(value, str):
        return
    if len(value) > MAX_TEXT:
        raise RecordError(f"value is {len(value)} characters; at most {MAX_TEXT} are accepted")
    if not value.isascii():  # most text is ASCII: no encoding to check
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise RecordError("value is not valid UTF-8") from None
    if "\x00" in value:
        raise RecordError("value contains a NUL character")


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

"""What the CardDAV and vdir connectors share: a card's record, a payload laid over it
through the mapping's paths, the merge after someone else changed the card, and UIDs."""

from __future__ import annotations

import copy
import uuid
from typing import Any

from sync.connectors.base import VendorRecord
from sync.errors import Rejected
from sync.mapping import Mapping
from sync.paths import Segment, get_path, set_path
from sync.vcard import CardError, apply, parse, present

# UIDs of the cards contactsync creates: derived from the email, so that a create whose
# answer was lost is found again at the same name (and refused there, not made twice)
UID_SPACE = uuid.UUID("6f1c2a4e-8d3b-5e7a-9c1f-2b4d6e8a0c13")


class Unreadable(dict[str, Any]):
    """The (empty) record of a card that cannot be read, with the reason. A listing gives it
    as a VendorRecord with that `error` (`listed`): a card that is there but broken fails
    alone and is no deletion; it is never cached, written over or matched by email."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


def read(text: str, where: str) -> dict[str, Any]:
    """The record of a card's text, or an Unreadable one naming `where` and the reason."""
    try:
        return present(parse(text))
    except CardError as exc:
        return Unreadable(f"{where}: {exc}")


def listed(name: str, record: dict[str, Any]) -> VendorRecord:
    """A card as a listing gives it to the engine: an unreadable one with its reason."""
    if isinstance(record, Unreadable):
        return VendorRecord(name, {}, error=record.reason)
    return VendorRecord(name, record)


def uid_for(email: str | None) -> str:
    return str(uuid.uuid5(UID_SPACE, email.strip().lower())) if email else str(uuid.uuid4())


def lookup(data: Any, path: tuple[Segment, ...]) -> tuple[bool, Any]:
    """Whether a payload carries `path` (a cleared field is carried as None), and its value."""
    parent = get_path(data, path[:-1]) if len(path) > 1 else data
    last = path[-1]
    if isinstance(parent, dict) and last.index is None and not last.match and not last.choices:
        return last.key in parent, parent.get(last.key)
    value = get_path(data, path)
    return value is not None, value


def written_paths(mapping: Mapping, payload: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, path, value) of every written field the payload carries."""
    out = []
    for name, fm in mapping.fields.items():
        if fm.writes:
            found, value = lookup(payload, fm.path)
            if found:
                out.append((name, fm.path, value))
    return out


def overlay(record: dict[str, Any], changes: list[tuple[str, Any, Any]]) -> dict[str, Any]:
    out = copy.deepcopy(record)
    for _, path, value in changes:
        set_path(out, path, value)
    return out


def edited(text: str, record: dict[str, Any], changes: list[tuple[str, Any, Any]]) -> str:
    """The card's text with the changes written into its mapped lines only."""
    return apply(parse(text), overlay(record, changes))


def clashes(
    base: dict[str, Any], fresh: dict[str, Any], changes: list[tuple[str, Any, Any]]
) -> list[str]:
    """Fields we change that someone else changed to another value since `base` was read."""
    out = []
    for name, path, ours in changes:
        theirs, was = _text(get_path(fresh, path)), _text(get_path(base, path))
        if theirs != was and theirs != _text(ours):
            out.append(f"{name} is now {theirs!r} (was {was!r}, contactsync wrote {_text(ours)!r})")
    return out


def merged(
    where: str,
    base: dict[str, Any],
    fresh_text: str,
    changes: list[tuple[str, Any, Any]],
) -> tuple[str | None, dict[str, Any]]:
    """After another client changed the card: our changes laid over its fresh text, unless
    it changed one of the same fields (Rejected: the next run reads its edit and merges it).
    None when the fresh card already holds our values."""
    try:
        card = parse(fresh_text)
    except CardError as exc:
        raise Rejected(f"{where} was changed by another client and cannot be read: {exc}") from None
    fresh = present(card)
    clash = clashes(base, fresh, changes)
    if clash:
        raise Rejected(
            f"{where} was changed by another client while contactsync wrote it: "
            + "; ".join(clash)
            + ". Not overwritten: the next run reads that edit"
        )
    text = apply(card, overlay(fresh, changes))
    if text == fresh_text:
        return None, fresh
    return text, present(parse(text))


def email_of(mapping: Mapping, record: dict[str, Any]) -> str | None:
    field = mapping.fields.get("email")
    if field is None or isinstance(record, Unreadable):
        return None
    value = get_path(record, field.path)
    return str(value).strip().lower() if value else None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()

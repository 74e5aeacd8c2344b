"""What a card connector last read of each card: its etag, the record it showed, and (for
CardDAV) the card's text. A full listing then fetches and parses only the cards whose etag
changed, and an update edits the text it listed under that etag's If-Match.

An entry is trusted only for its etag: the server's (or the file's) etag says whether the
card is still the one we read, never our own hashing. The file is a cache: lost or broken,
it costs one fetch of every card, nothing else. It is written atomically at the end of a run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("sync.connectors.cardcache")
FORMAT = 1


class CardCache:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.cards: dict[str, list[Any]] = {}  # name -> [etag, record, text or None]
        self.meta: dict[str, Any] = {}
        self._dirty = False
        if path is not None:
            self._load(path)

    @classmethod
    def for_system(cls, folder: Path, kind: str, system: str, target: str) -> CardCache:
        """The cache file of one system; `target` (the URL or folder) names it, so that a
        system pointed elsewhere starts afresh."""
        digest = hashlib.sha256(target.encode()).hexdigest()[:12]
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", system)
        return cls(folder / f"{kind}-{safe}-{digest}.json")

    def _load(self, path: Path) -> None:
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as exc:
            log.warning("card cache %s is unreadable (%s): every card is read again", path, exc)
            return
        if isinstance(data, dict) and data.get("format") == FORMAT:
            self.cards = data.get("cards") or {}
            self.meta = data.get("meta") or {}

    def get(self, name: str, etag: str | None = None) -> list[Any] | None:
        """The entry of `name`; with `etag`, only if it was read under that etag."""
        entry = self.cards.get(name)
        if entry is None or (etag is not None and entry[0] != etag):
            return None
        return entry

    def put(self, name: str, etag: str, record: dict[str, Any], text: str | None) -> None:
        self.cards[name] = [etag, record, text]
        self._dirty = True

    def drop(self, name: str) -> None:
        if self.cards.pop(name, None) is not None:
            self._dirty = True

    def keep_only(self, names: set[str]) -> None:
        """After a full listing: forget cards that are gone."""
        gone = [n for n in self.cards if n not in names]
        for name in gone:
            del self.cards[name]
        self._dirty = self._dirty or bool(gone)

    def set_meta(self, key: str, value: Any) -> None:
        if self.meta.get(key) != value:
            self.meta[key] = value
            self._dirty = True

    def save(self) -> None:
        if self.path is None or not self._dirty:
            return
        data = orjson.dumps({"format": FORMAT, "meta": self.meta, "cards": self.cards})
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, self.path)
        except OSError as exc:  # a cache: the next run reads the cards again
            log.warning("could not write card cache %s: %s", self.path, exc)
            return
        self._dirty = False

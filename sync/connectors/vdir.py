"""A folder of vCards as vdirsyncer and khard keep them: one card per file, `<name><fileext>`.

A card's etag is its file's mtime, size and inode; a listing reads and parses only the files
whose etag differs from the card cache (cardcache.py). A write goes to a temporary file in
the folder and is renamed over the card; a file another program changed since it was listed
is not overwritten: it is read again and our changes laid over it, unless that program
changed one of the same fields (Rejected). A create never replaces a file (link, not
rename). Writes are group-committed: those in flight together are written, renamed, and
made durable with one sync before any is answered (an answered write is on disk: the
engine's crash safety depends on it).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from sync.connectors.base import Connector, Listing, VendorRecord, Written
from sync.connectors.cardcache import CardCache
from sync.connectors.cards import (
    Unreadable,
    edited,
    email_of,
    listed,
    merged,
    read,
    uid_for,
    written_paths,
)
from sync.errors import NotFound, RecordError, Rejected, TransientError
from sync.groupcommit import Answer, GroupCommit, settle
from sync.vcard import new_card_and_record

GROUP_CONCURRENCY = 100_000  # every write of a push in one group (see csvfile.py)


class VdirOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    path: str
    fileext: str = ".vcf"
    vcard_version: Literal["3.0", "4.0"] = "3.0"  # of the cards contactsync creates
    cache_dir: str = ".contactsync/cache"


def _etag(st: os.stat_result) -> str:
    return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"


class VdirConnector(Connector):
    kind = "vdir"
    Options: ClassVar[type[BaseModel]] = VdirOptions
    can_list = can_create = can_update = can_delete = can_find_by_email = True
    answers_as_listed = True
    default_mapping = "mappings/vcard.toml"

    def __init__(self, settings: Any, http: Any = None) -> None:
        super().__init__(settings, http)
        self.folder: Path = settings.resolve(self.options.path)
        cache = settings.resolve(self.options.cache_dir)
        self.cache = CardCache.for_system(cache, self.kind, settings.name, str(self.folder))
        self._group: GroupCommit[Any] = GroupCommit(self._commit)
        self._emails: dict[str, str] | None = None  # email -> name, once scanned for lookups

    @property
    def concurrency(self) -> int:
        spec = self.settings.spec
        return spec.concurrency if "concurrency" in spec.model_fields_set else GROUP_CONCURRENCY

    async def aclose(self) -> None:
        self.cache.save()

    # --- reading ----------------------------------------------------------------------------

    def _read(self, name: str) -> tuple[str, dict[str, Any], str] | None:
        """(etag, record, text) of one file as it is now; None when it is not there."""
        path = self.folder / name
        try:
            etag = _etag(path.stat())
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return etag, Unreadable(f"{name}: not UTF-8"), ""
        return etag, read(text, name), text

    def _scan(self) -> Listing:
        if not self.folder.is_dir():
            if self.cache.cards:  # a folder that held cards and is gone (unmounted?)
                return Listing.incomplete(None, f"{self.folder} is not a folder any more")
            return Listing()
        records, seen = [], set()
        with os.scandir(self.folder) as entries:
            for entry in entries:
                name = entry.name
                if not name.endswith(self.options.fileext) or name.startswith("."):
                    continue
                try:
                    etag = _etag(entry.stat())
                except FileNotFoundError:
                    continue
                seen.add(name)
                cached = self.cache.get(name, etag)
                if cached is not None:
                    records.append(VendorRecord(name, cached[1]))
                    continue
                found = self._read(name)
                if found is None:
                    continue
                if not isinstance(found[1], Unreadable):
                    self.cache.put(name, etag, found[1], None)
                records.append(listed(name, found[1]))
                if len(records) % 1000 == 0:
                    self.page_listed(len(records))
        self.cache.keep_only(seen)
        return Listing(records, complete=True)

    async def list_all(self) -> Listing:
        try:
            return self._scan()
        except OSError as exc:
            return Listing.incomplete(None, f"listing {self.folder} failed: {exc.strerror}")

    async def find_by_email(self, email: str) -> VendorRecord | None:
        email = email.strip().lower()  # the contract: case and spaces do not matter
        mapping = self.settings.mapping
        name = f"{uid_for(email)}{self.options.fileext}"
        there = self._read(name)
        if there is not None and email_of(mapping, there[1]) == email:
            return VendorRecord(name, there[1])
        if self._emails is None:  # one scan for every lookup of a run (recovery asks often)
            self._emails = {}
            for record in self._scan().records:
                address = email_of(mapping, record.data)
                if address:
                    self._emails.setdefault(address, record.id)
        found = self._emails.get(email)
        there = self._read(found) if found else None
        if found and there is not None and email_of(mapping, there[1]) == email:
            return VendorRecord(found, there[1])
        return None

    # --- writing ----------------------------------------------------------------------------

    def _temp(self, text: str, name: str) -> str:
        """`text` in a new hidden file beside the card (listings skip dotfiles). Its name is
        the card's and this process's: cards differ, and a leftover from a crash is
        replaced (tempfile.mkstemp cost a third of a 10,000-card initial sync)."""
        tmp = str(self.folder / f".{name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        except FileNotFoundError:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        return tmp

    def _settle(self, name: str, record: dict[str, Any]) -> dict[str, Any]:
        st = (self.folder / name).stat()
        self.cache.put(name, _etag(st), record, None)
        return record

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        def op() -> Written:
            uid = uid_for(email)
            for _ in range(2):
                name = f"{uid}{self.options.fileext}"
                text, record = new_card_and_record(payload, uid, self.options.vcard_version)
                tmp = self._temp(text, name)
                try:
                    os.link(tmp, self.folder / name)  # never replaces a file
                except FileExistsError:
                    there = self._read(name)  # our create whose answer was lost?
                    mapping = self.settings.mapping
                    if there is not None and email and email_of(mapping, there[1]) == email:
                        return Written(name, there[1])
                    uid = uid_for(None)
                    continue
                finally:
                    os.unlink(tmp)
                return Written(name, self._settle(name, record))
            raise Rejected(f"{self.folder}: a new card's name was taken twice")

        written: Written = await self._group.submit(op)
        return written

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        wanted = written_paths(self.settings.mapping, changes)
        listed = self.cache.get(vendor_id)

        def op() -> dict[str, Any] | None:
            for _ in range(3):
                now = self._read(vendor_id)
                if now is None:
                    raise NotFound(f"{vendor_id} is not in {self.folder}")
                etag, fresh, text = now
                if isinstance(fresh, Unreadable):
                    raise RecordError(fresh.reason)
                if listed is None or listed[0] == etag:
                    new = edited(text, fresh, wanted)
                    if new == text:
                        return fresh
                else:  # changed by another program since it was listed
                    merge, _ = merged(vendor_id, listed[1], text, wanted)
                    if merge is not None and not self._write(vendor_id, merge, etag):
                        continue  # changed again while we wrote: read it again
                    # the file holds the other program's edits too: answering it would make
                    # them our snapshot, never read as changes; the next listing reads them
                    return None
                if self._write(vendor_id, new, etag):
                    return self._settle(vendor_id, read(new, vendor_id))
            raise Rejected(f"{vendor_id} kept changing while contactsync wrote it")

        answer: dict[str, Any] | None = await self._group.submit(op)
        return answer

    def _write(self, name: str, text: str, etag: str) -> bool:
        """Rename `text` over the card, unless it changed from `etag` meanwhile (False)."""
        tmp = self._temp(text, name)
        path = self.folder / name
        try:
            if _etag(path.stat()) != etag:
                return False
            os.replace(tmp, path)
        except FileNotFoundError:
            raise NotFound(f"{name} was deleted from {self.folder}") from None
        finally:
            Path(tmp).unlink(missing_ok=True)
        return True

    async def delete(self, vendor_id: str) -> None:
        listed = self.cache.get(vendor_id)

        def op() -> None:
            path = self.folder / vendor_id
            try:
                if listed is not None and _etag(path.stat()) != listed[0]:
                    raise Rejected(
                        f"{vendor_id} was changed by another program since it was listed: not "
                        "deleted (the next run reads the change)"
                    )
                path.unlink()
            except FileNotFoundError:
                pass
            self.cache.drop(vendor_id)

        await self._group.submit(op)

    # --- group commit -----------------------------------------------------------------------

    async def _commit(self, group: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        answers: list[Answer] = []
        for op, future in group:
            try:
                answers.append((future, None, op()))
            except (Rejected, NotFound, RecordError) as exc:
                answers.append((future, exc, None))
            except OSError as exc:
                err = TransientError(f"could not write in {self.folder}: {exc.strerror}")
                answers.append((future, err, None))
        await asyncio.to_thread(os.sync)  # every write of the group durable at once
        settle(answers)

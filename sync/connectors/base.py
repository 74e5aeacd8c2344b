"""The connector contract: what every system offers the engine.

A connector speaks one vendor's API: endpoint paths, payload shapes and quirks, nothing else.
It deals in vendor-shaped records (plain dicts that the system's mapping reads and writes);
the engine never sees HTTP and the connector never sees canonical contacts.

Capabilities say what a system can do; the engine calls only those methods:

    can_list            list_all()            every record, for the full scan (delete inference)
    can_list_changes    list_changed(cursor)  records changed since the cursor
    can_create          create(payload)       -> Written(vendor_id, record or None)
    can_update          update(id, changes, full) -> the record as stored, or None
    can_delete          delete(id)            a record already gone counts as deleted
    can_find_by_email   find_by_email(email)  for idempotent creates after a crash
    can_refuse_repeats  create_unless_exists(payload) -> Written, or None when the vendor's
                        own duplicate check refused it (no lookup needed, e.g. OneContact)
    (every system)      after_create(id, payload): follow-up of a create, landed or adopted

A create whose answer was lost is never resent blindly: the engine looks it up first, or
resends it through create_unless_exists, or holds it until a lookup works.

A system without can_list is write-only (OneContact): the engine knows what it holds only
from what it sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from sync.errors import ConnectorError, SystemFailure
from sync.progress import SILENT, Progress

if TYPE_CHECKING:
    import httpx

    from sync.config import SystemSettings
    from sync.http import HttpClient


@dataclass(frozen=True)
class VendorRecord:
    id: str
    data: dict[str, Any]
    where: str | None = None  # where the record sits, for messages ("line 7" of a CSV file)
    # the record is there but cannot be read (a malformed card): the engine fails it alone
    # with this reason, never maps `data`, and never takes its link for a deletion
    error: str | None = None

    def listed(self) -> dict[str, Any] | Unread:
        """What a listing hashes and reads: the record as read (an Unread: itself, read only
        when its hash is not the one kept)."""
        return self.data


class Unread(VendorRecord):
    """A listed record not read yet: `item` as the vendor listed it, read (`data`) only when
    first asked. A trusted full scan hashes `item` under `shape` (what reads it: the vendor
    file's record rules) and reads only the records whose hash is not the one kept, so an
    unchanged record is never reshaped (sync/observe.py)."""

    item: dict[str, Any]
    shape: str

    def __init__(
        self,
        vendor_id: str,
        item: dict[str, Any],
        shape: str,
        read: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        # frozen like every VendorRecord: set once, in one step (one is made per record)
        self.__dict__.update(
            id=vendor_id, where=None, error=None, item=item, shape=shape, _reader=read
        )

    def listed(self) -> Unread:
        return self

    def __getattr__(self, name: str) -> Any:  # only for what is not set yet: `data`
        if name != "data":
            raise AttributeError(name)
        data = self.__dict__["_reader"](self.__dict__["item"])
        object.__setattr__(self, "data", data)
        return data


@dataclass
class Listing:
    """One listing. `complete` is False when any page failed or came back cut short:
    such a listing is never used to infer deletions, and its cursor is not kept."""

    records: list[VendorRecord] = field(default_factory=list)
    complete: bool = True
    cursor: str | None = None
    problems: list[str] = field(default_factory=list)

    @classmethod
    def incomplete(
        cls,
        found: Mapping[str, dict[str, Any]] | None,
        problem: str,
        *,
        cursor: str | None = None,
    ) -> Listing:
        """What was found before `problem` cut the listing short."""
        records = [VendorRecord(i, r) for i, r in (found or {}).items()]
        return cls(records, complete=False, cursor=cursor, problems=[problem])

    @classmethod
    def failed(
        cls,
        error: ConnectorError,
        found: Mapping[str, dict[str, Any]] | None,
        doing: str,
        *,
        cursor: str | None = None,
    ) -> Listing:
        """A request failed mid-listing: an incomplete listing, unless the system cannot be
        used at all (credentials refused, unreachable), which no later page can mend: that
        SystemFailure is raised again."""
        if isinstance(error, SystemFailure):
            raise error
        return cls.incomplete(found, f"{doing} failed: {error}", cursor=cursor)


@dataclass(frozen=True)
class Written:
    vendor_id: str
    record: dict[str, Any] | None = None


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Connector:
    kind: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions
    can_list: bool = False
    can_list_changes: bool = False
    can_create: bool = False
    can_update: bool = False
    can_delete: bool = False
    can_find_by_email: bool = False
    can_refuse_repeats: bool = False
    # a write's answer is the record exactly as a later listing shows it (until someone
    # changes it): its raw hash lets the next full scan skip it unnormalised
    answers_as_listed: ClassVar[bool] = False
    # the shipped mapping (sync.resources.shipped) a system uses when it names none
    default_mapping: ClassVar[str | None] = None
    # the engine sets both before a run: a dry run changes nothing, its listings included; a
    # first listing (the store knows nothing of this system yet) may find the system empty
    # or absent (a CSV file is created then, and is an outage when missing later)
    dry_run: bool = False
    first_listing: bool = False

    def __init__(self, settings: SystemSettings, http: HttpClient | None = None) -> None:
        self.settings = settings
        self.options: Any = settings.options
        self.http = http
        self.progress: Progress = SILENT  # the engine sets the run's watcher

    def page_listed(self, records: int) -> None:
        """Paging loops call this after each page: `records` listed so far."""
        self.progress.page(self.settings.name, records)

    @classmethod
    def check(cls, settings: SystemSettings) -> list[str]:
        """Problems with this system's settings beyond their types (e.g. a missing base_url)."""
        return []

    @classmethod
    def secret_options(cls, options: Any) -> dict[str, tuple[str | None, str | None]]:
        """Options that are secrets: name -> (environment variable, file) naming the value.
        sync.toml resolves them with the auth secrets (settings.credentials.values[name])."""
        return {}

    @classmethod
    def notes(cls, settings: SystemSettings) -> list[str]:
        """What `check` tells about this system that is not a problem (a file not made yet)."""
        return []

    @classmethod
    def inspect(cls, settings: SystemSettings) -> list[str]:
        """Problems with what the system holds that `check` can see without connecting (a CSV
        file that is not UTF-8): reported by `check` (exit 1); a run fails that system alone."""
        return []

    @classmethod
    def build(
        cls, settings: SystemSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> Connector:
        """A ready connector; `transport` lets tests mount an emulator in-process."""
        return cls(settings)

    @property
    def concurrency(self) -> int:
        """Writes the engine keeps in flight at once to this system: its `concurrency`."""
        return int(self.settings.spec.concurrency)

    @property
    def writable(self) -> bool:
        return self.can_create or self.can_update or self.can_delete

    async def list_all(self) -> Listing:
        raise NotImplementedError

    async def list_changed(self, cursor: str | None) -> Listing:
        raise NotImplementedError

    async def pages(self, cursor: str | None, into: Listing) -> AsyncIterator[list[VendorRecord]]:
        """The listing page by page, each page's records as they arrive (cursor None: every
        record, as list_all; else the changes since it, as list_changed), so that a run
        never holds a whole listing. When it ends, `into` holds the listing's completeness,
        cursor and problems (its records stay empty). A record may come again on a later
        page (offset paging over records that moved): the later one is what the system
        holds. By default one page: the whole listing."""
        found = await (self.list_all() if cursor is None else self.list_changed(cursor))
        into.complete, into.cursor, into.problems = found.complete, found.cursor, found.problems
        if found.records:
            yield found.records

    async def create(self, payload: dict[str, Any], *, email: str | None = None) -> Written:
        raise NotImplementedError

    async def create_unless_exists(
        self, payload: dict[str, Any], *, email: str | None = None
    ) -> Written | None:
        raise NotImplementedError

    async def update(
        self, vendor_id: str, changes: dict[str, Any], full: dict[str, Any]
    ) -> dict[str, Any] | None:
        raise NotImplementedError

    async def delete(self, vendor_id: str) -> None:
        raise NotImplementedError

    async def after_create(self, vendor_id: str, payload: dict[str, Any]) -> None:
        """Follow-up work a new record gets (Oracle's incident, ServiceOps' request): called
        after a create lands, and after recovery adopts a create whose answer was lost."""

    async def find_by_email(self, email: str) -> VendorRecord | None:
        raise NotImplementedError

    async def aclose(self) -> None:
        if self.http is not None:
            await self.http.aclose()


class HttpConnector(Connector):
    """A connector over HTTP: needs base_url; `self.http` is the one client (sync/http.py)."""

    # the auth kinds the vendor accepts (empty: any) and why, for the message
    auth_kinds: ClassVar[tuple[str, ...]] = ()
    auth_why: ClassVar[str] = ""
    # where the vendor's error bodies carry their reason, most telling first
    error_keys: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check(cls, settings: SystemSettings) -> list[str]:
        problems = [] if settings.spec.base_url else ["base_url is required for this connector"]
        kind = settings.spec.auth.kind
        if cls.auth_kinds and kind not in cls.auth_kinds:
            kinds = " or ".join(map(repr, cls.auth_kinds))
            problems.append(f"auth.kind = {kind!r} will not do: {cls.auth_why} (use {kinds})")
        return problems

    @classmethod
    def build(
        cls, settings: SystemSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> Connector:
        from sync.http import HttpClient

        http = HttpClient.for_system(
            settings,
            headers=cls.headers(settings),
            transport=transport,
            describe_error=cls.describe_error,
        )
        return cls(settings, http)

    @classmethod
    def headers(cls, settings: SystemSettings) -> dict[str, str]:
        """Headers every request carries (Content-Type, vendor context headers)."""
        return {"Content-Type": "application/json", "Accept": "application/json"}

    @classmethod
    def describe_error(cls, response: httpx.Response) -> str | None:
        """The vendor's own reason from an error body, for the failure report."""
        try:
            body = response.json()
        except ValueError:
            return None
        return cls.error_reason(body)

    @classmethod
    def error_reason(cls, body: Any) -> str | None:
        """From a JSON error body: the first of `error_keys` that holds something."""
        if not isinstance(body, dict):
            return None
        for key in cls.error_keys:
            if body.get(key):
                return str(body[key])
        return None

    @property
    def client(self) -> HttpClient:
        assert self.http is not None, "an HTTP connector needs an HttpClient"
        return self.http

"""Vendor files (`vendors/<name>.toml`): a REST vendor as data, validated at load.

Every problem is reported at once with file and key; an unknown paginator, auth kind,
cursor kind or template filter is refused with the valid names listed. docs/vendors.md is
the tutorial; the keys are the models below.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sync.auth_kinds import KINDS as AUTH_KINDS
from sync.connectors.paging import PAGINATORS
from sync.connectors.template import TemplateError, names
from sync.errors import ConfigError, Problem
from sync.inputfiles import read_toml
from sync.paths import PathError, parse_query
from sync.validation import problems_from


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Call(_Strict):
    """One request: templates in path, params, body and headers."""

    method: str = "GET"
    path: str
    params: dict[str, Any] = {}
    body: Any = None
    headers: dict[str, str] = {}
    retry: bool | None = None  # a POST that only reads is retried like a GET
    refused: str | None = None  # the reason to give when the vendor refuses without one

    @field_validator("method")
    @classmethod
    def _verb(cls, v: str) -> str:
        if v.upper() not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            raise ValueError(f"{v!r} is not GET, POST, PUT, PATCH or DELETE")
        return v.upper()


class CursorSpec(_Strict):
    kind: Literal["time", "token"] = "time"
    field: list[str] = []  # (time) item paths of update times: the newest counts
    overlap: str = "0s"  # (time) read this much before the cursor again
    render: Literal["iso", "epoch_ms"] = "iso"  # how a time the vendor did not write is sent
    token: str | None = None  # (token) where the next token is in the last answer


class ListCall(Call):
    records: str = ""  # where the listed items are in each answer ("" : the answer)
    paginator: dict[str, Any] = {"kind": "single"}
    fetch: bool = False  # the items are rows naming records: each record is read with [get]
    row_id: str | None = None  # where a row's ID is (default: [records].id)
    cursor: CursorSpec | None = None


class GetCall(Call):
    record: list[str] = [""]  # where the record is in the answer: the first that holds one
    missing: list[int] = [404]  # statuses that mean there is no such record


class FindCall(ListCall):
    scan: bool = False  # no search: list everything and match (path is then ignored)
    ids: str | None = None  # the answer holds IDs only (each read with [get])
    missing: list[int] = []  # statuses that mean no record has this email
    path: str = ""


class WriteCall(Call):
    extra: dict[str, Any] = {}  # merged into the body
    id: str = "id"  # where the record's ID is in the answer
    # what the answer is: the record (at `record`), nothing, or the record is read back with
    # [get]; "sent": the vendor shows nothing, what was sent is what it holds (write-only);
    # "overlay": what was sent, overlaid with what the answer shows (the vendor's defaults),
    # for an answer that shows some values only as links
    answer: Literal["record", "none", "read_back", "sent", "overlay"] = "none"
    record: str = ""
    content_type: str | None = None
    body_of: Literal["changes", "full", "merged"] = "changes"  # (update) merged: GET, apply, PUT
    merge_lists: bool = False  # (update) changed lists are merged into the current ones first
    carry: list[str] = []  # (update) keys always sent, taken from the full payload
    # (create, create_unless_exists) a refusal is the vendor's duplicate check: it is there
    # already (create raises AlreadyExists; create_unless_exists answers None)
    refused_means_exists: bool = False
    when: dict[str, dict[str, dict[str, Any]]] = {}  # option -> value -> keys changed so


class DeleteCall(Call):
    method: str = "DELETE"
    gone: list[int] = [404]  # statuses that mean it was gone already
    check: bool = True  # false: any answer but an HTTP error is done (the answer says nothing)


class AfterCreate(Call):
    method: str = "POST"
    when: str | None = None  # an option that must be set for this follow-up to be sent
    extra: dict[str, Any] = {}  # merged into the body


class OkRule(_Strict):
    path: str
    equals: Any = True


class Answers(_Strict):
    ok: OkRule | None = None  # an answer failing this is a refusal although HTTP says 2xx
    not_found: list[str] = []  # refusal reasons that mean the record is gone
    done: list[str] = []  # refusal reasons that mean a delete is done


class ErrorSpec(_Strict):
    reason: list[str] = []  # body paths, most telling first; field -> messages objects joined
    code: str | None = None  # appended in parentheses
    text: bool = False  # a body that is not JSON gives its first 200 characters


class RecordSpec(_Strict):
    noun: str = "contacts"  # what the records are called, for messages
    id: str = "id"
    drop: list[str] = []  # keys taken off every record (links, noise)
    unwrap: list[str] = []  # "phones.items": the list inside becomes `phones` itself
    pick: dict[str, str] = {}  # key -> a path: the key holds the first value it reaches
    hidden: str | None = None  # a record whose value here is truthy is deleted: never listed


class ClearedRule(_Strict):
    path: str  # a payload path; "*" stands for any one key, "[*]" for any element
    send: Any = None  # what a cleared value is sent as; "omit" leaves it out
    on: Literal["create", "update", "both"] = "both"


class WriteRules(_Strict):
    never_send: list[str] = []  # top-level keys dropped from every body
    cleared: list[ClearedRule] = []  # first matching rule wins; none: sent as null
    empty_as_null: list[str] = []  # an object holding only these keys, all null: sent as null
    single: list[str] = []  # a one-element list at these keys is sent as that element
    required: list[str] = []  # top-level keys every create and update must carry
    drop_elements_without: str | None = None  # a merged list drops elements with this emptied


class Translate(_Strict):
    """A value records carry as a code (an ISO country) and requests as the vendor's ID,
    by a table the vendor answers (read once per run)."""

    path: str  # the payload and record path (e.g. Country.CountryId)
    table: str  # GET path of the vendor's table
    records: str = ""  # where its entries are
    code: str  # where an entry's code is
    id: str  # where an entry's vendor ID is
    what: str = "value"  # for messages: "country"


class RateLimitSpec(_Strict):
    rate: float | None = Field(None, gt=0)  # requests a second when sync.toml gives none
    remaining: str | None = None  # header: requests left in the current window
    window_ms: str | None = None  # header: that window's length in milliseconds
    reset: str | None = None  # header: seconds until the window starts again
    daily_remaining: str | None = None  # header: requests left today (0: quota exhausted)


class VendorAuth(_Strict):
    kinds: list[str] = []  # the kinds the vendor accepts (empty: any)
    why: str = ""  # why, for the message refusing another kind
    token_url: str | None = None  # OAuth token endpoint (template)
    header: str | None = None  # api_key_header's header
    param: str | None = None  # api_key_query's parameter
    scope: str | None = None

    @field_validator("kinds")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = [k for k in v if k not in AUTH_KINDS]
        if unknown:
            raise ValueError(f"unknown auth kind {unknown[0]!r} (valid: {', '.join(AUTH_KINDS)})")
        return v


OPTION_TYPES = ("str", "int", "float", "bool", "list[int]", "list[str]", "table", "secret")


class OptionSpec(_Strict):
    type: Literal["str", "int", "float", "bool", "list[int]", "list[str]", "table", "secret"]
    default: Any = None
    required: bool = False
    choices: list[Any] | None = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    keys: list[str] | None = None  # (table) the keys it may hold
    required_keys: list[str] = []  # (table)
    one_of: str | None = None  # the value must be one of this list option's values
    default_first_of: str | None = None  # unset: the first value of this list option
    header: str | None = None  # sent as this header when set
    help: str = ""


class VendorSpec(_Strict):
    title: str
    hooks: str | None = (
        None  # "module:Class", a RestConnector subclass, only for what data cannot say
    )
    base_url: str | None = None
    answers_as_listed: bool = False  # a write's answer is the record exactly as listed
    auth: VendorAuth = VendorAuth()
    headers: dict[str, str] = {"Content-Type": "application/json", "Accept": "application/json"}
    options: dict[str, OptionSpec] = {}
    vars: dict[str, dict[str, dict[str, Any]]] = {}  # option -> its value -> variables
    records: RecordSpec = RecordSpec()
    errors: ErrorSpec = ErrorSpec()
    answers: Answers = Answers()
    write: WriteRules = WriteRules()
    translate: builtins.list[Translate] = []  # `list` below is a field
    rate_limit: RateLimitSpec = RateLimitSpec()
    list: ListCall | None = None
    list_changed: ListCall | None = None
    get: GetCall | None = None
    find_by_email: FindCall | None = None
    create: WriteCall | None = None
    create_unless_exists: WriteCall | None = None
    update: WriteCall | None = None
    delete: DeleteCall | None = None
    after_create: AfterCreate | None = None


CALLS = (
    "list",
    "list_changed",
    "get",
    "find_by_email",
    "create",
    "create_unless_exists",
    "update",
    "delete",
    "after_create",
)


def load_vendor(path: Path, label: str | None = None) -> VendorSpec:
    where = label or str(path)
    raw = read_toml(path, where, "vendor")
    problems: builtins.list[Problem] = []
    spec, data = None, dict(raw)
    while spec is None:
        try:
            spec = VendorSpec.model_validate(data)
        except ValidationError as exc:
            # every problem at once: report these, leave their tables out and look again
            said = {p.where for p in problems}
            problems += [p for p in problems_from(exc, where, VendorSpec) if p.where not in said]
            bad = {e["loc"][0] for e in exc.errors() if e["loc"] and e["loc"][0] in data}
            if not bad:
                break
            data = {k: v for k, v in data.items() if k not in bad}
            data.setdefault("title", "(a vendor)")
    if spec is not None:
        problems += check_vendor(spec, where)
    if problems or spec is None:
        raise ConfigError(problems, title=f"{where} has {len(problems)} problem(s):")
    return spec


def check_vendor(spec: VendorSpec, where: str) -> list[Problem]:
    """What the models cannot check: paginators, paths, templates, cross references."""
    problems: list[Problem] = []
    known = {"options", "base_url", "id", "email", "cursor", "since", "last", "mapped", "payload"}
    known |= {name for table in spec.vars.values() for values in table.values() for name in values}
    for name in spec.vars:
        if name not in spec.options:
            problems.append(Problem(f"{where}: vars.{name}", "names no option"))
    for name, option in spec.options.items():
        if option.one_of and option.one_of not in spec.options:
            problems.append(Problem(f"{where}: options.{name}.one_of", "names no option"))
    for call_name in CALLS:
        call = getattr(spec, call_name)
        if call is None:
            continue
        key = f"{where}: {call_name}"
        problems += _check_templates(call, key, known, spec)
        for chosen, table in (call.when if isinstance(call, WriteCall) else {}).items():
            for choice, changes in table.items():
                try:
                    variant(call, changes)
                except ValidationError as exc:
                    problems += problems_from(exc, f"{key}.when.{chosen}.{choice}", WriteCall)
        paginator = getattr(call, "paginator", None)
        if paginator is not None:
            problems += _check_paginator(paginator, f"{key}.paginator")
        for attr in ("records", "row_id", "ids", "id", "record"):
            given = getattr(call, attr, None)
            for text in given if isinstance(given, list) else [given]:
                if isinstance(text, str) and "{" not in text:
                    try:
                        parse_query(text)
                    except PathError as exc:
                        problems.append(Problem(f"{key}.{attr}", str(exc)))
    if spec.list_changed is not None and spec.list_changed.cursor is None:
        problems.append(Problem(f"{where}: list_changed.cursor", "a change listing needs a cursor"))
    merged = spec.update is not None and spec.update.body_of == "merged"
    if merged and spec.get is None:
        problems.append(Problem(f"{where}: update.body_of", "'merged' needs [get]"))
    return problems


def variant(call: WriteCall, changes: dict[str, Any]) -> WriteCall:
    """A call with the keys an option's value changes (`[update.when.<option>.<value>]`)."""
    base = call.model_dump(exclude_unset=True, exclude={"when"})
    return WriteCall.model_validate({**base, **changes})


def _check_templates(call: Any, key: str, known: set[str], spec: VendorSpec) -> list[Problem]:
    problems = []
    for attr in ("path", "params", "body", "headers", "extra", "refused"):
        try:
            used = names(getattr(call, attr, None))
        except TemplateError as exc:
            problems.append(Problem(f"{key}.{attr}", str(exc)))
            continue
        for name in sorted(used):
            head, _, rest = name.partition(".")
            if head == "options" and rest.split(".")[0] not in spec.options:
                valid = ", ".join(spec.options) or "none"
                problems.append(Problem(f"{key}.{attr}", f"no option {rest!r} (options: {valid})"))
            elif head not in known:
                problems.append(Problem(f"{key}.{attr}", f"unknown variable {{{name}}}"))
    return problems


def _check_paginator(raw: dict[str, Any], key: str) -> list[Problem]:
    kind = raw.get("kind", "single")
    cls = PAGINATORS.get(kind)
    if cls is None:
        return [
            Problem(f"{key}.kind", f"unknown paginator {kind!r} (valid: {', '.join(PAGINATORS)})")
        ]
    try:
        cls.Spec.model_validate({"kind": kind, **raw})
    except ValidationError as exc:
        return problems_from(exc, key, cls.Spec)
    return []

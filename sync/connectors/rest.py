"""One REST connector whose behaviour is data: a vendor file (`vendors/<name>.toml`, read by
sync/connectors/vendor.py) says where the endpoints are, how they page, where records, IDs
and reasons sit in answers, and what bodies look like. Python exists only in a vendor's hook
class (a subclass of RestConnector named by `hooks`), for what data cannot say.

What every vendor gets from here:
- listings page by the vendor's paginator; a failed or short page makes the listing
  incomplete (never taken for complete: deletions are inferred only from complete ones), and
  so does a listed record without an ID, which would otherwise look deleted;
- change listings keep a time cursor with overlap and boundary memory (cursor.py) or the
  vendor's token; an empty first listing still starts a cursor (the server's clock);
- rows that only name records (`fetch`) are read one by one, concurrently within the limit;
- lookups by email check the mapped email of what they find, ignoring case and spaces;
- an answer to a create without an ID is OutcomeUnknown: the write may have landed, and the
  engine looks it up before anything is sent again;
- a refusal although HTTP said 200 (`answers.ok`) is Rejected with the vendor's reason, or
  NotFound when the reason says the record is gone.
"""

from __future__ import annotations

from typing import Any

import httpx

from sync.connectors import envelope
from sync.connectors.rest_read import _key
from sync.connectors.rest_write import RestWriting
from sync.connectors.template import UNSET, render
from sync.paths import parse_path


class RestConnector(RestWriting):
    """A vendor's connector: its class is made from its vendor file (sync/connectors/
    __init__.py); what the settings give (checks, headers, the HTTP client) is here."""

    @classmethod
    def check(cls, settings: Any) -> list[str]:
        spec = cls.vendor
        problems = [] if settings.spec.base_url or spec.base_url else ["base_url is required"]
        kind = settings.spec.auth.kind
        if spec.auth.kinds and kind not in spec.auth.kinds:
            kinds = " or ".join(map(repr, spec.auth.kinds))
            problems.append(f"auth.kind = {kind!r} will not do: {spec.auth.why} (use {kinds})")
        variables = cls.variables(settings)
        for name, option in spec.options.items():
            value, allowed = variables["options"].get(name), None
            if option.one_of:
                allowed = variables["options"].get(option.one_of) or []
            if allowed is not None and value is not None and value not in allowed:
                problems.append(f"{name} {value} is not one of {option.one_of}")
            if option.type == "table" and isinstance(value, dict):
                problems += _table_problems(name, value, option.keys, option.required_keys)
        wanted = render(spec.records.id, variables)
        if settings.mapping.id_path != parse_path(str(wanted)):
            problems.append(f"the mapping's id must be {wanted!r} (where {spec.title} keeps it)")
        return problems

    @classmethod
    def secret_options(cls, options: Any) -> dict[str, tuple[str | None, str | None]]:
        return {
            name: (getattr(options, f"{name}_env"), getattr(options, f"{name}_file"))
            for name, option in cls.vendor.options.items()
            if option.type == "secret"
        }

    @classmethod
    def headers(cls, settings: Any) -> dict[str, str]:
        variables = cls.variables(settings)
        out = {k: str(v) for k, v in render(cls.vendor.headers, variables).items()}
        for name, option in cls.vendor.options.items():
            value: Any = variables["options"].get(name)
            if option.type == "secret" and name in settings.credentials.values:
                value = settings.credentials.get(name)
            if option.header and value not in (None, ""):
                out[option.header] = _key(value)
        return out

    @classmethod
    def describe_error(cls, response: httpx.Response) -> str | None:
        return envelope.describe(response, cls.vendor.errors)

    @classmethod
    def error_reason(cls, body: Any) -> str | None:
        return envelope.reason(body, cls.vendor.errors)

    @classmethod
    def build(cls, settings: Any, transport: httpx.AsyncBaseTransport | None = None) -> Any:
        from sync.http import BudgetHeaders, HttpClient

        variables = cls.variables(settings)
        auth = cls.vendor.auth
        defaults = {k: render(getattr(auth, k), variables) for k in ("token_url", "header")}
        defaults |= {k: getattr(auth, k) for k in ("param", "scope")}
        budget = cls.vendor.rate_limit
        http = HttpClient.for_system(
            settings,
            headers=cls.headers(settings),
            transport=transport,
            describe_error=cls.describe_error,
            auth_defaults={k: str(v) for k, v in defaults.items() if v not in (None, UNSET)},
            budget=BudgetHeaders(
                budget.remaining, budget.window_ms, budget.reset, budget.daily_remaining
            ),
            base_url=variables["base_url"],
        )
        return cls(settings, http)


def _table_problems(
    name: str, value: dict[str, Any], keys: list[str] | None, required: list[str]
) -> list[str]:
    problems = []
    if keys is not None:
        unknown = sorted(set(value) - set(keys))
        if unknown:
            problems.append(f"{name}.{unknown[0]}: unknown key (valid: {', '.join(keys)})")
    problems += [f"{name}.{k} is required" for k in required if value.get(k) in (None, "")]
    return problems

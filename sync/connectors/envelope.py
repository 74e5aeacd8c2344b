"""What a vendor file says about answers and bodies, applied: records reshaped as the mapping
reads them, refusals that HTTP calls success, the vendor's own reason for a failure, and the
body rules (what a cleared value is sent as, keys never sent, one-element lists)."""

from __future__ import annotations

import fnmatch
from typing import Any

import httpx

from sync.connectors.vendor import Answers, ErrorSpec, RecordSpec, WriteRules
from sync.errors import NotFound, RecordError, Rejected
from sync.paths import find_all, find_one, parse_query

OMIT = "omit"


def at(data: Any, path: str) -> Any:
    if path.isidentifier() and isinstance(data, dict):  # a plain key: most of them
        return data.get(path)
    return find_one(data, parse_query(path))


def reshape(record: dict[str, Any], spec: RecordSpec) -> dict[str, Any]:
    """A record as the mapping reads it: noise dropped, `{"items": [...]}` unwrapped."""
    out = {k: v for k, v in record.items() if k not in spec.drop}
    for key, path in spec.pick.items():
        out[key] = at(record, path)
    for path in spec.unwrap:
        outer, _, inner = path.rpartition(".")
        *parents, key = outer.split(".")
        holder: Any = out
        for step in parents:
            holder = holder.get(step) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and isinstance(holder.get(key), dict):
            items = holder[key].get(inner)
            holder[key] = items if isinstance(items, list) else []
    return out


# bump when reshape() reads the same rules differently: a listing hashes records as listed
# under shape(), so an old hash must not stand for a record that now reads otherwise
RESHAPE_VERSION = 1


def shape(spec: RecordSpec) -> str:
    """What reshape() makes of a record besides the record itself: its version and rules."""
    return f"reshape/{RESHAPE_VERSION}:{spec.model_dump_json()}"


def hidden(record: dict[str, Any], spec: RecordSpec) -> bool:
    """A record the vendor keeps but calls deleted (SuperOffice's `Deleted` nonzero)."""
    return bool(spec.hidden and at(record, spec.hidden))


def _words(value: Any) -> str | None:
    """Text from one reason: a string, or an object of field -> message(s)."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict) and value:
        parts = []
        for name, message in value.items():
            text = ", ".join(map(str, message)) if isinstance(message, list) else str(message)
            parts.append(f"{name}: {text}")
        return "; ".join(parts)
    if isinstance(value, list) and value:
        texts = [_words(v if not isinstance(v, dict) else v.get("message", v)) for v in value]
        return "; ".join(t for t in texts if t) or None
    return None


def reason(body: Any, spec: ErrorSpec) -> str | None:
    """The vendor's own words from a JSON error body: the first reason path holding text."""
    if not isinstance(body, dict | list):
        return None
    for path in spec.reason:
        for value in find_all(body, parse_query(path)):
            text = _words(value)
            if text:
                code = at(body, spec.code) if spec.code else None
                return f"{text} ({code})" if code and isinstance(code, str) else text
    return None


def describe(response: httpx.Response, spec: ErrorSpec) -> str | None:
    try:
        body = response.json()
    except ValueError:  # a proxy in front of the vendor answers plain text
        return (response.text.strip()[:200] or None) if spec.text else None
    return reason(body, spec)


def check_answer(answer: Any, answers: Answers, errors: ErrorSpec, refused: str | None) -> None:
    """Raise for an answer that is a refusal although HTTP said 2xx (`"result": false`)."""
    if answers.ok is None:
        return
    if isinstance(answer, dict) and at(answer, answers.ok.path) == answers.ok.equals:
        return
    text = reason(answer, errors) or refused or f"the answer was a refusal: {answer!r}"[:300]
    raise NotFound(text) if text in answers.not_found else Rejected(text)


def _matches(path: str, pattern: str) -> bool:
    if pattern == "*":
        return "." not in path and "[" not in path
    return fnmatch.fnmatchcase(path, pattern.replace("[*]", "[[]*[]]"))


def prepare(
    payload: dict[str, Any], rules: WriteRules, *, create: bool, title: str
) -> dict[str, Any]:
    """The body to send for a mapped payload, by the vendor file's write rules."""
    cleared = [r for r in rules.cleared if r.on == "both" or (r.on == "create") == create]
    body = {k: v for k, v in payload.items() if k not in rules.never_send}
    if cleared:
        body = _cleared(body, "", cleared)
    # the body is the connector's to change (translated values): its dicts and lists are
    # new ones, which _nulled builds (a deepcopy cost more than the rest of prepare)
    body = _nulled(body, set(rules.empty_as_null))
    for key in rules.single:
        value = body.get(key)
        if isinstance(value, list) and len(value) == 1:
            body[key] = value[0]
    for key in rules.required:
        if not str(body.get(key) or "").strip():
            raise RecordError(f"{key} is required by {title}, and the contact has none")
    return body


_GONE = object()  # a cleared value whose rule says to leave it out


def _cleared(node: Any, path: str, cleared: list[Any]) -> Any:
    """`node` with every None inside it as the first matching rule sends it (a rule's path
    is a pattern: `[*]` for any element); containers that change are new, the rest shared.
    `path` is node's pattern path ("" at the top)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        changed = False
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            new = _send(here, cleared) if value is None else _cleared(value, here, cleared)
            changed = changed or new is not value
            if new is not _GONE:
                out[key] = new
        return out if changed else node
    if isinstance(node, list):
        here = f"{path}[*]"
        items = [_send(here, cleared) if v is None else _cleared(v, here, cleared) for v in node]
        if all(new is old for new, old in zip(items, node, strict=True)):
            return node
        return [v for v in items if v is not _GONE]
    return node


def _send(path: str, cleared: list[Any]) -> Any:
    for rule in cleared:
        if _matches(path, rule.path):
            return _GONE if rule.send == OMIT else rule.send
    return None


def _nulled(node: Any, keys: set[str]) -> Any:
    """A copy of a JSON tree (new dicts and lists, the same leaves) in which an object whose
    keys are all among `keys` and all None is None itself."""
    if isinstance(node, list):
        return [_nulled(v, keys) for v in node]
    if not isinstance(node, dict):
        return node
    if node and set(node) <= keys and all(v is None for v in node.values()):
        return None
    return {k: _nulled(v, keys) for k, v in node.items()}


def merged(current: Any, change: Any, drop_empty: str | None = None) -> Any:
    """`change` applied onto `current`: objects key by key, lists element by element; an
    element whose `drop_empty` key was emptied leaves its list."""
    if isinstance(change, dict) and isinstance(current, dict):
        return {**current, **{k: merged(current.get(k), v, drop_empty) for k, v in change.items()}}
    if isinstance(change, list):
        old = current if isinstance(current, list) else []
        out = [merged(o, n, drop_empty) for o, n in zip(old, change, strict=False)]
        out += old[len(change) :] + change[len(old) :]
        if drop_empty:
            out = [
                e
                for e in out
                if not (isinstance(e, dict) and drop_empty in e and not e[drop_empty])
            ]
        return out
    return change


def overlay(sent: Any, shown: Any) -> Any:
    """What was sent, with what the answer shows laid over it: objects key by key; an
    answer's empty value (None, [], {}) is no value and leaves what was sent."""
    if isinstance(sent, dict) and isinstance(shown, dict):
        out = dict(sent)
        for key, value in shown.items():
            if value in (None, [], {}):
                continue
            out[key] = overlay(sent.get(key), value)
        return out
    return shown if shown not in (None, [], {}) else sent

"""Turn pydantic validation errors into contactsync problems naming file and key."""

from __future__ import annotations

import copy
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from sync.errors import Problem

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A table of a file a person writes: an unknown key is a problem, the result frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def loc_text(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model whose field list applies at `loc`, to name the valid keys."""
    current: Any = model
    skip_key = False
    for part in loc:
        if isinstance(part, int):
            continue
        if skip_key:  # a key of a dict[str, Model]
            skip_key = False
            continue
        field = current.model_fields.get(part) if hasattr(current, "model_fields") else None
        if field is None:
            return None
        skip_key = getattr(field.annotation, "__origin__", None) is dict
        current = _inner_model(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def problems_from(exc: ValidationError, where: str, model: type[BaseModel]) -> list[Problem]:
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = loc_text(loc)
        if err["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            valid = ", ".join(parent.model_fields) if parent else ""
            msg = f"unknown key (valid: {valid})" if valid else "unknown key"
        else:
            msg = err["msg"]
        problems.append(Problem(f"{where}: {key}" if key else where, msg))
    return problems


def validate_all(model: type[M], raw: Any, where: str, problems: list[Problem]) -> M | None:
    """`raw` as `model`, every problem appended at once. The values that failed are dropped
    (a required one takes its table with it) and the rest validated again, so the checks
    after this one still run on whatever was right: one pass reports every layer's problems.
    None when nothing usable is left."""
    data = copy.deepcopy(raw)
    for attempt in range(_ROUNDS):
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            if attempt == 0:
                problems += problems_from(exc, where, model)
            if not all(_drop(data, tuple(err["loc"]), err["type"]) for err in exc.errors()):
                return None
            data = _purge(data)
    return None


_ROUNDS = 8  # each round drops at least one value; nested tables rarely need more than two


def _drop(data: Any, loc: tuple[Any, ...], kind: str) -> bool:
    """Remove the value at `loc` (its table, for a missing required key) from `data`; False
    when the error sits at the top and nothing can be dropped."""
    if kind == "missing":
        loc = loc[:-1]
    parents: list[tuple[Any, Any]] = []
    current = data
    for part in loc:  # follow the path as far as the data goes (unions add type tags)
        in_dict = isinstance(current, dict) and part in current
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if in_dict or in_list:
            parents.append((current, part))
            current = current[part]
        else:
            break
    if not parents:
        return False
    container, key = parents[-1]
    container[key] = _GONE  # removed by _purge, so that list indexes stay valid meanwhile
    return True


_GONE = object()


def _purge(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _purge(v) for k, v in data.items() if v is not _GONE}
    if isinstance(data, list):
        return [_purge(v) for v in data if v is not _GONE]
    return data

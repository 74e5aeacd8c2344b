"""A vendor's option schema (`[options.<name>]` of its file) as the pydantic model that
validates a system's options: unknown keys refused with the valid list, a secret given only
by reference."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from sync.connectors.vendor import VendorSpec


def options_model(name: str, spec: VendorSpec) -> type[BaseModel]:
    """The pydantic model of a system's options under this vendor: unknown keys refused with
    the valid list, a secret given only by reference (`<name>_env` / `<name>_file`)."""
    fields: dict[str, Any] = {}
    validators: dict[str, Any] = {}
    for key, option in spec.options.items():
        if option.type == "secret":
            fields[f"{key}_env"] = (str | None, None)
            fields[f"{key}_file"] = (str | None, None)
            fields[key] = (Any, None)
            validators[f"_refuse_{key}"] = field_validator(key)(_refuse_plain(key))
            continue
        kind: Any = {
            "str": str,
            "int": int,
            "float": float,
            "bool": bool,
            "list[int]": list[int],
            "list[str]": list[str],
            "table": dict[str, Any],
        }[option.type]
        if option.choices:
            kind = Literal[tuple(option.choices)]
        constraints = {
            k: getattr(option, k)
            for k in ("min_length", "max_length")
            if getattr(option, k) is not None
        }
        if option.min is not None:
            constraints["ge"] = option.min
        if option.max is not None:
            constraints["le"] = option.max
        default = ... if option.required else option.default
        annotation = kind if option.required or option.default is not None else kind | None
        fields[key] = (annotation, Field(default, **constraints))
    model: type[BaseModel] = create_model(
        f"{name.title().replace('_', '')}Options",
        __config__=ConfigDict(extra="forbid", frozen=True),
        __validators__=validators,
        **fields,
    )
    return model


def _refuse_plain(key: str) -> Any:
    def refuse(cls: Any, value: Any) -> Any:
        if value is not None:
            raise ValueError(
                f"{key} is a secret and is never written in sync.toml: give {key}_env (the "
                f"name of an environment variable holding it) or {key}_file (a file holding it)"
            )
        return value

    return classmethod(refuse)

"""Column types that mask configured secrets on the way into the database (sync/masking.py):
the text of errors and the run summaries, whatever they quote."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from sync.masking import mask, mask_tree


class MaskedText(TypeDecorator[str]):
    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else mask(value)


class MaskedJSON(TypeDecorator[Any]):
    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return mask_tree(value)

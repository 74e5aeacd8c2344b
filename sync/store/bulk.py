"""Many rows of one statement in one executemany handed straight to the database driver.

SQLAlchemy's own executemany builds and converts a parameter set per row, which costs more
than the database's insert itself (~10 us a row): an initial sync of 10,000 people writes
~60,000 rows. Here the statement is compiled once for the backend (placeholders, casts), each
column's value is converted by its type exactly as SQLAlchemy would (JSON text, SQLite's
datetime text, masked text), a value shared by many rows (the run's moment) once, and the
driver gets plain tuples or dicts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Insert, Table, Update, bindparam, insert, update

Convert = Callable[[Any], Any]


def insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys: column names) into `table`."""
    if rows:
        execute_many(conn, insert(table), rows)


def execute_many(conn: Connection, stmt: Insert | Update, rows: list[dict[str, Any]]) -> None:
    """`stmt` once per row; the rows' keys are its bound parameters' names (an insert's are
    its columns'), the same in every row. The statement must return no rows."""
    if not rows:
        return
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    names = list(compiled.positiontup or ()) if compiled.positional else list(compiled.binds)
    converts = [_once_per_value(_converter(compiled, name, conn)) for name in names]
    plan = list(zip(names, converts, strict=True))
    if compiled.positional:
        params: list[Any] = [
            tuple(row[n] if c is None else c(row[n]) for n, c in plan) for row in rows
        ]
    else:
        params = [{n: row[n] if c is None else c(row[n]) for n, c in plan} for row in rows]
    conn.exec_driver_sql(compiled.string, params)


def _converter(compiled: Any, name: str, conn: Connection) -> Convert | None:
    bind = compiled.binds[name]
    return bind.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)


def _once_per_value(convert: Convert | None) -> Convert | None:
    """The conversion, with the last value's result kept: rows that share one object (the
    run's moment, a state) convert it once."""
    if convert is None:
        return None
    last: list[Any] = [object(), None]

    def converted(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, convert(value)
        return last[1]

    return converted


def update_rows(
    conn: Connection, table: Table, rows: list[dict[str, Any]], key: str = "id"
) -> None:
    """UPDATE `table` SET the other keys of each row WHERE `key` = the row's; rows with the
    same keys (group them first)."""
    if not rows:
        return
    cols = [k for k in rows[0] if k != key]
    stmt = (
        update(table)
        .where(table.c[key] == bindparam(f"b_{key}"))
        .values({table.c[c]: bindparam(f"b_{c}") for c in cols})
    )
    execute_many(conn, stmt, [{f"b_{k}": v for k, v in row.items()} for row in rows])


def update_grouped(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """update_rows over rows whose keys differ: one executemany per set of keys."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for group in groups.values():
        update_rows(conn, table, group)

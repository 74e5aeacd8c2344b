"""One small parser of filter expressions, for the emulators: Oracle's ROQL (`q`, WHERE of
queryResults) and SuperOffice's OData `$filter`.

    expr   := term (OR term)*
    term   := factor (AND factor)*
    factor := NOT factor | ( expr ) | operand [NOT] op operand

String literals are single-quoted, a quote inside doubled (`'o''brien'`), as both ROQL and
OData write them; a backslash is an ordinary character, so `'o\\'brien'` is a syntax error,
as the real parsers answer it. Anything left over is a syntax error too, and an injected
`OR 1=1` that does parse is obeyed, as a real parser would. The dialects differ in their
operators and in what may stand as an operand; the emulators evaluate the tree.

Nodes: ("or", a, b), ("and", a, b), ("not", x), ("cmp", op, left, right); operands
("col", name) and ("lit", value), names as written (ROQL's are case-insensitive: its
emulator lower-cases them; OData's archive columns are not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Node = tuple[Any, ...]
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+(?:\.\d+)?)(?![\w.])"
    r"|(?P<op><=|>=|<>|!=|=|<|>)|(?P<punct>[(),])|(?P<word>[A-Za-z_$][\w.$/]*))"
)


class FilterSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Dialect:
    name: str
    symbols: frozenset[str]  # symbolic operators (=, <, ...)
    words: frozenset[str]  # word operators (eq, like, after, ...), lower case
    keywords: frozenset[str] = frozenset({"and", "or", "not"})


ROQL = Dialect(
    "ROQL",
    frozenset({"=", "<>", "!=", "<", "<=", ">", ">="}),
    frozenset({"like"}),
    frozenset({"and", "or", "not", "select", "from", "where"}),
)
ODATA = Dialect(
    "OData $filter",
    frozenset(),
    frozenset(
        {"eq", "ne", "gt", "ge", "lt", "le", "after", "before", "date", "contains", "begins"}
    ),
)


def tokens(text: str, dialect: Dialect) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    while text[pos:].strip():
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterSyntaxError(f"{dialect.name} syntax error near: {text[pos:].strip()[:30]}")
        kind = m.lastgroup or ""
        value: Any = m.group(kind)
        if kind == "str":
            value = value[1:-1].replace("''", "'")
        elif kind == "num":
            value = float(value) if "." in value else int(value)
        elif kind == "word" and value.lower() in dialect.keywords:
            kind, value = "kw", value.lower()
        elif kind == "word" and value.lower() in dialect.words:
            kind, value = "op", value.lower()
        elif kind == "op" and value not in dialect.symbols:
            raise FilterSyntaxError(f"{dialect.name}: operator {value!r} is not known")
        out.append((kind, value))
        pos = m.end()
    return out


class Parser:
    def __init__(self, text: str, dialect: Dialect) -> None:
        self.dialect = dialect
        self.tokens = tokens(text, dialect)
        self.i = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str, value: Any = None) -> Any:
        token = self.peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            found = "the end" if token is None else repr(token[1])
            raise FilterSyntaxError(
                f"{self.dialect.name} syntax error: expected {value or kind}, found {found}"
            )
        self.i += 1
        return token[1]

    def accept(self, kind: str, value: Any) -> bool:
        if self.peek() == (kind, value):
            self.i += 1
            return True
        return False

    def end(self) -> None:
        token = self.peek()
        if token is not None:
            raise FilterSyntaxError(f"{self.dialect.name} syntax error near {token[1]!r}")

    def expr(self) -> Node:
        node = self._term()
        while self.accept("kw", "or"):
            node = ("or", node, self._term())
        return node

    def _term(self) -> Node:
        node = self._factor()
        while self.accept("kw", "and"):
            node = ("and", node, self._factor())
        return node

    def _factor(self) -> Node:
        if self.accept("kw", "not"):
            return ("not", self._factor())
        if self.accept("punct", "("):
            node = self.expr()
            self.take("punct", ")")
            return node
        left = self._operand()
        negate = self.accept("kw", "not")
        op = self.take("op")
        node = ("cmp", op, left, self._operand())
        return ("not", node) if negate else node

    def _operand(self) -> Node:
        token = self.peek()
        if token is None or token[0] not in ("str", "num", "word"):
            raise FilterSyntaxError(
                f"{self.dialect.name} syntax error: expected a value or a field"
            )
        self.i += 1
        return ("col", token[1]) if token[0] == "word" else ("lit", token[1])


def parse(text: str, dialect: Dialect) -> Node:
    """A whole filter expression; FilterSyntaxError for anything else."""
    parser = Parser(text, dialect)
    node = parser.expr()
    parser.end()
    return node


def columns(node: Node | None) -> list[str]:
    """Every column a tree names, to refuse unknown ones before evaluating."""
    if node is None:
        return []
    if node[0] in ("or", "and"):
        return columns(node[1]) + columns(node[2])
    if node[0] == "not":
        return columns(node[1])
    return [side[1] for side in node[2:] if side[0] == "col"]


def evaluate(node: Node | None, compare: Any) -> bool:
    """The tree's truth, `compare(op, left, right)` deciding each comparison."""
    if node is None:
        return True
    kind = node[0]
    if kind == "or":
        return evaluate(node[1], compare) or evaluate(node[2], compare)
    if kind == "and":
        return evaluate(node[1], compare) and evaluate(node[2], compare)
    if kind == "not":
        return not evaluate(node[1], compare)
    _, op, left, right = node
    return bool(compare(op, left, right))

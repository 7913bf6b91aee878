"""The run filter language of ``search_runs``: tokenizer, recursive-descent parser, AST. Pure Python.

Grammar (keywords are case-insensitive)::

    expr        := and_expr ("or" and_expr)*
    and_expr    := primary ("and" primary)*
    primary     := "(" expr ")" | comparison
    comparison  := field OP value
                 | field ["not"] "in" "(" value ("," value)* ")"
                 | field ["not"] ("like" | "ilike") string
    field       := ("metrics" | "params" | "tags") "." key | attribute
    key         := part (("." | "/") part)*  -- part: a name [A-Za-z_][A-Za-z0-9_-]*, digits or a
                                             quoted key; no spaces around the "/"
    attribute   := name | status | user | namespace | flow | start_time | end_time | id
                   (optionally written "attributes.<name>")
    OP          := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="
    value       := 'string' | "string" | number | true | false

Keys are written as users log them, ``/`` included: ``metrics.train/loss < 0.1``. Keys with other
characters (a space, ``@``, ``:``...) are quoted with backticks or double quotes:
``metrics."loss@5" < 1``; an error about such a key shows its quoted form.
Strings use single quotes (double quotes also work in value position); a quote inside is doubled
(``'it''s'``).

Semantics (every backend implements these):

- ``metrics.<key>`` compares the run's latest value with a number. NaN values never match.
- ``params.<key>`` with a **string** compares the param's text form (a string param's own text, or
  the JSON text of any other value: ``100``, ``0.1``, ``true``); with a **number** it compares
  numerically, and string params that hold a number (``"100"``) count as that number. So
  ``params.n = 100`` and ``params.n = '100'`` both match a param logged as ``100`` or as ``"100"``.
- ``tags.<key>`` compares strings.
- A condition on a key matches only runs that have that key (``!=`` too).
- ``start_time``/``end_time`` take an ISO-8601 string (UTC if no offset) or milliseconds since epoch.
- ``order_by`` items: ``<field> [ASC|DESC]`` (ASC when omitted); runs without the key (or with a
  NaN metric) sort last either way; params sort numbers first (numerically), then by text. Ties keep
  the default order, newest first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from shipyard.core.entities import RunStatus
from shipyard.core.errors import InvalidInputError

FieldKind = Literal["metric", "param", "tag", "attribute"]
Scalar = str | int | float | bool

ATTRIBUTES: tuple[str, ...] = (
    "name",
    "status",
    "user",
    "namespace",
    "flow",
    "start_time",
    "end_time",
    "id",
)
PREFIXES: dict[str, FieldKind] = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
}
COMPARISON_OPS: tuple[str, ...] = ("=", "!=", "<", "<=", ">", ">=")
ALL_OPS: tuple[str, ...] = (*COMPARISON_OPS, "LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE", "IN", "NOT IN")
MAX_FILTER_LENGTH = 10_000
MAX_FILTER_DEPTH = 32  # parentheses nested deeper are refused (the parser and SQL compiler recurse)
MAX_ORDER_BY = 16  # order_by items, each at most MAX_ORDER_BY_LENGTH characters
MAX_ORDER_BY_LENGTH = 1000

_VALID_FIELDS = "metrics.<key>, params.<key>, tags.<key>, " + ", ".join(ATTRIBUTES)
_VALID_OPS = "= != < <= > >= LIKE ILIKE IN NOT IN"


# ---- AST ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    kind: FieldKind
    key: str  # the metric/param/tag key, or the attribute name

    def __str__(self) -> str:
        if self.kind == "attribute":
            return self.key
        return f"{self.kind}s.{self.key}"


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str  # one of ALL_OPS
    value: Scalar | tuple[Scalar, ...]  # a tuple for IN / NOT IN


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Node = Comparison | And | Or


@dataclass(frozen=True)
class OrderBy:
    field: Field
    ascending: bool


# ---- tokenizer ----------------------------------------------------------------------------------
TokenKind = Literal[
    "name", "quoted", "string", "number", "op", "lparen", "rparen", "comma", "dot", "slash", "end"
]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str  # the value: a name, the unquoted text, a number's source, an operator
    pos: int  # 0-based character offset in the source
    quote: str = ""  # the quote character of "quoted" / "string" tokens


_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_OPS = ("<=", ">=", "!=", "<>", "==", "=", "<", ">")


def _shown(source: str) -> str:
    """The filter as errors quote it: cut short, so a long filter makes a short message."""
    return repr(source) if len(source) <= 120 else repr(source[:100]) + f"... ({len(source)} characters)"


def _error(source: str, pos: int, problem: str) -> InvalidInputError:
    pointer = f"at position {pos + 1}" if pos < len(source) else "at the end"
    problem = problem if len(problem) <= 400 else problem[:400] + "..."
    return InvalidInputError(f"invalid filter {_shown(source)} {pointer}: {problem}")


def tokenize(source: str) -> list[Token]:
    """Split a filter into tokens; raise InvalidInputError on a character it cannot start a token with."""
    tokens: list[Token] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch.isspace():
            i += 1
        elif ch in "'\"`":
            start = i
            i += 1
            chunks: list[str] = []
            while True:
                end = source.find(ch, i)
                if end < 0:
                    raise _error(source, start, f"unterminated quote {ch} (close it with {ch})")
                chunks.append(source[i:end])
                if end + 1 < n and source[end + 1] == ch:  # doubled quote = a literal quote
                    chunks.append(ch)
                    i = end + 2
                    continue
                i = end + 1
                break
            kind: TokenKind = "string" if ch == "'" else "quoted"
            tokens.append(Token(kind, "".join(chunks), start, ch))
        elif ch == "(":
            tokens.append(Token("lparen", ch, i))
            i += 1
        elif ch == ")":
            tokens.append(Token("rparen", ch, i))
            i += 1
        elif ch == ",":
            tokens.append(Token("comma", ch, i))
            i += 1
        elif (m := _NUMBER_RE.match(source, i)) and not (ch == "." and tokens and tokens[-1].kind == "name"):
            tokens.append(Token("number", m.group(), i))
            i = m.end()
        elif ch == ".":
            tokens.append(Token("dot", ch, i))
            i += 1
        elif ch == "/":  # only a key may hold one (metrics.train/loss); the parser checks that
            tokens.append(Token("slash", ch, i))
            i += 1
        elif m := _NAME_RE.match(source, i):
            tokens.append(Token("name", m.group(), i))
            i = m.end()
        else:
            op = next((o for o in _OPS if source.startswith(o, i)), None)
            if op is None:
                hint = _quoted_key_hint(source, tokens, i) or f"operators are {_VALID_OPS}"
                raise _error(source, i, f"unexpected character {ch!r} ({hint})")
            tokens.append(Token("op", {"<>": "!=", "==": "="}.get(op, op), i))
            i += len(op)
    tokens.append(Token("end", "", n))
    return tokens


_KEY_STOP = "<>=!(),'\"`"


def _end(tok: Token) -> int:
    return tok.pos + len(tok.text)


def quote_key(key: str) -> str:
    """A key in the filter language's double quotes (a quote inside doubled)."""
    return '"' + key.replace('"', '""') + '"'


def _quoted_key_hint(source: str, tokens: list[Token], pos: int) -> str:
    """When ``pos`` is inside a ``metrics.`` / ``params.`` / ``tags.`` key (the tokens before it are
    the key's start, with no space between), the fix: that key quoted; else ''."""
    end = pos
    for j in range(len(tokens) - 1, 0, -1):
        tok = tokens[j]
        if _end(tok) != end or tok.kind not in ("name", "number", "dot", "slash"):
            return ""
        before = tokens[j - 1]
        if (
            tok.kind == "dot"
            and before.kind == "name"
            and _end(before) == tok.pos
            and before.text.lower() in PREFIXES
        ):
            stop = pos
            while stop < len(source) and not source[stop].isspace() and source[stop] not in _KEY_STOP:
                stop += 1
            key = source[tok.pos + 1 : stop]
            return f"quote a key with other characters: {before.text}.{quote_key(key)}"
        end = tok.pos
    return ""


# ---- parser ---------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def at(self, kind: TokenKind) -> bool:
        return self.tok.kind == kind

    def is_word(self, *words: str) -> bool:
        return self.at("name") and self.tok.text.lower() in words

    def fail(self, problem: str, tok: Token | None = None) -> InvalidInputError:
        return _error(self.source, (tok or self.tok).pos, problem)

    def describe(self, tok: Token) -> str:
        if tok.kind == "end":
            return "the end of the filter"
        if tok.kind in ("string", "quoted"):
            return f"{tok.quote}{tok.text}{tok.quote}"
        return repr(tok.text)

    # expr := and_expr ("or" and_expr)*
    def expr(self) -> Node:
        items = [self.and_expr()]
        while self.is_word("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.primary()]
        while self.is_word("and"):
            self.advance()
            items.append(self.primary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def primary(self) -> Node:
        if self.at("lparen"):
            open_tok = self.advance()
            if self.depth >= MAX_FILTER_DEPTH:
                raise self.fail(
                    f"parentheses are nested more than {MAX_FILTER_DEPTH} deep; flatten the filter", open_tok
                )
            self.depth += 1
            node = self.expr()
            self.depth -= 1
            if not self.at("rparen"):
                raise self.fail(
                    f"expected ')' to close the '(' at position {open_tok.pos + 1}, "
                    f"found {self.describe(self.tok)}"
                )
            self.advance()
            return node
        return self.comparison()

    def field(self) -> Field:
        tok = self.tok
        if tok.kind == "quoted":
            raise self.fail(
                f"a quoted name {self.describe(tok)} must follow a prefix (metrics., params., tags.); "
                f"valid fields: {_VALID_FIELDS}"
            )
        if tok.kind != "name":
            raise self.fail(f"expected a field, found {self.describe(tok)}; valid fields: {_VALID_FIELDS}")
        self.advance()
        word = tok.text.lower()
        if word in PREFIXES or word in ("attribute", "attributes"):
            if not self.at("dot"):
                raise self.fail(f"expected '.' and a key after {tok.text!r} (e.g. {tok.text}.acc)")
            self.advance()
            key = self.key()
            if word in PREFIXES:
                return Field(PREFIXES[word], key)
            return self.attribute(key, tok)
        if self.at("dot"):
            raise self.fail(f"unknown field prefix {tok.text!r}; valid fields: {_VALID_FIELDS}", tok)
        return self.attribute(tok.text, tok)

    def attribute(self, name: str, tok: Token) -> Field:
        lowered = name.lower()
        if lowered not in ATTRIBUTES:
            raise self.fail(f"unknown field {name!r}; valid fields: {_VALID_FIELDS}", tok)
        return Field("attribute", lowered)

    def key(self) -> str:
        text = self.key_part()
        while self.at("dot") or self.at("slash"):
            sep = self.tok
            if sep.kind == "slash" and (
                _end(self.tokens[self.i - 1]) != sep.pos or self.tokens[self.i + 1].pos != sep.pos + 1
            ):
                raise self.fail(
                    "a key has no spaces around '/': write it as logged, e.g. metrics.train/loss", sep
                )
            self.advance()
            text += sep.text + self.key_part()
        return text

    def key_part(self) -> str:
        tok = self.tok
        if tok.kind == "name" or (tok.kind == "quoted" and tok.text):
            self.advance()
            return tok.text
        if tok.kind == "number" and tok.text.isdigit():  # e.g. metrics.top.5
            self.advance()
            return tok.text
        raise self.fail(
            f"expected a key name, found {self.describe(tok)}; quote keys with other characters "
            'using backticks or double quotes, e.g. metrics."loss@5"'
        )

    def comparison(self) -> Comparison:
        field = self.field()
        op_tok = self.tok
        negate = False
        if self.is_word("not"):
            self.advance()
            negate = True
            if not self.is_word("in", "like", "ilike"):
                raise self.fail(f"expected IN, LIKE or ILIKE after NOT, found {self.describe(self.tok)}")
        if self.is_word("in"):
            self.advance()
            values = self.value_list()
            return Comparison(field, "NOT IN" if negate else "IN", values)
        if self.is_word("like", "ilike"):
            op = self.advance().text.upper()
            value_tok = self.tok
            value = self.value()
            if not isinstance(value, str):
                raise self.fail(f"{op} needs a quoted string pattern, e.g. name LIKE 'exp-%'", value_tok)
            return Comparison(field, f"NOT {op}" if negate else op, value)
        if op_tok.kind != "op":
            hint = f"valid operators: {_VALID_OPS}"
            if field.kind != "attribute" and op_tok.kind == "name":  # a key with a space in it?
                hint += (
                    f"; a key with a space is quoted: {field.kind}s.{quote_key(f'{field.key} {op_tok.text}')}"
                )
            raise self.fail(f"expected an operator after {field}, found {self.describe(op_tok)}; {hint}")
        self.advance()
        return Comparison(field, op_tok.text, self.value())

    def value_list(self) -> tuple[Scalar, ...]:
        if not self.at("lparen"):
            raise self.fail(
                f"expected '(' after IN, found {self.describe(self.tok)}, e.g. status IN ('a', 'b')"
            )
        self.advance()
        values = [self.value()]
        while self.at("comma"):
            self.advance()
            values.append(self.value())
        if not self.at("rparen"):
            raise self.fail(f"expected ',' or ')' in the IN list, found {self.describe(self.tok)}")
        self.advance()
        return tuple(values)

    def value(self) -> Scalar:
        tok = self.tok
        if tok.kind in ("string", "quoted") and tok.quote != "`":
            self.advance()
            return tok.text
        if tok.kind == "number":
            self.advance()
            text = tok.text
            if re.fullmatch(r"[+-]?\d+", text):
                return int(text)
            return float(text)
        if self.is_word("true", "false"):
            self.advance()
            return tok.text.lower() == "true"
        raise self.fail(
            f"expected a value (a 'quoted string', a number, true or false), found {self.describe(tok)}"
        )


def parse_filter(source: str) -> Node | None:
    """Parse a filter string into an AST; ``None`` for an empty filter."""
    if not isinstance(source, str):
        raise InvalidInputError(f"a filter must be a string, got {type(source).__name__}")
    if len(source) > MAX_FILTER_LENGTH:
        raise InvalidInputError(f"filter is longer than {MAX_FILTER_LENGTH} characters")
    if not source.strip():
        return None
    parser = _Parser(source)
    node = parser.expr()
    if not parser.at("end"):
        tok = parser.tok
        hint = "combine conditions with 'and' / 'or'"
        if tok.kind == "rparen":
            hint = "remove the unmatched ')'"
        raise parser.fail(f"unexpected {parser.describe(tok)} after a complete condition; {hint}")
    _check_types(source, node)
    return node


def _check_types(source: str, node: Node) -> None:
    """Reject comparisons that can never make sense (a metric against a string...)."""
    if isinstance(node, And | Or):
        for item in node.items:
            _check_types(source, item)
        return
    f, op, value = node.field, node.op, node.value
    values = value if isinstance(value, tuple) else (value,)
    numeric = f.kind == "metric"
    textual = f.kind == "tag" or (f.kind == "attribute" and f.key not in ("start_time", "end_time"))
    if "LIKE" in op and (numeric or (f.key in ("start_time", "end_time") and f.kind == "attribute")):
        raise InvalidInputError(
            f"invalid filter {_shown(source)}: {op} works on strings; {f} is a number or time, "
            "use = != < <= > >="
        )
    for v in values:
        is_number = isinstance(v, int | float) and not isinstance(v, bool)
        if numeric and not is_number:
            raise InvalidInputError(
                f"invalid filter {_shown(source)}: {f} is a number; compare it with a number"
            )
        if textual and not isinstance(v, str):
            raise InvalidInputError(
                f"invalid filter {_shown(source)}: {f} is a string; quote the value, e.g. {f} = '{v}'"
            )
    if f.kind == "attribute" and f.key == "status":
        valid = [s.value for s in RunStatus]
        for v in values:
            if isinstance(v, str) and "LIKE" not in op and v.lower() not in valid:
                raise InvalidInputError(
                    f"invalid filter {_shown(source)}: unknown status {v!r}; "
                    f"valid statuses: {', '.join(valid)}"
                )


def parse_order_by(items: Sequence[str]) -> list[OrderBy]:
    """Parse ``order_by`` items like ``"metrics.acc DESC"``, ``"params.lr"``, ``"start_time ASC"``."""
    if isinstance(items, str):
        raise InvalidInputError(f"order_by must be a list of strings, e.g. [{items[:80]!r}], not a string")
    if len(items) > MAX_ORDER_BY:
        raise InvalidInputError(f"order_by has {len(items)} items; give at most {MAX_ORDER_BY}")
    result: list[OrderBy] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInputError(f"order_by items must be strings, got {type(item).__name__}")
        if len(item) > MAX_ORDER_BY_LENGTH:
            raise InvalidInputError(f"an order_by item is longer than {MAX_ORDER_BY_LENGTH} characters")
        parser = _Parser(item)
        field = parser.field()
        ascending = True
        if parser.is_word("asc", "desc"):
            ascending = parser.advance().text.lower() == "asc"
        if not parser.at("end"):
            raise parser.fail(
                f"unexpected {parser.describe(parser.tok)} in order_by item; write '<field> [ASC|DESC]', "
                "e.g. 'metrics.acc DESC'"
            )
        result.append(OrderBy(field, ascending))
    return result

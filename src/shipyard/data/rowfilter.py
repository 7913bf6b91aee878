"""Row filters for ``load_dataset(..., where=...)``, parsed safely (never ``eval``) into a
pyarrow compute expression. The tokens are those of the run-search language
(:func:`shipyard.metadata.filters.tokenize`); the grammar is its comparison part over columns::

    expr       := and_expr ("or" and_expr)*
    and_expr   := primary ("and" primary)*
    primary    := "(" expr ")" | "not" primary | comparison
    comparison := column OP value | column ["not"] "in" "(" value ("," value)* ")"
                | column "is" ["not"] "null"
    column     := name | "quoted name" | `quoted name`
    OP         := = != <> < <= > >=
    value      := 'string' | number | true | false

e.g. ``amount > 100 and country in ('DE', 'FR')`` or ``"unit price" <= 2.5 or note is null``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.core.errors import InvalidInputError
from shipyard.metadata.filters import Token, tokenize

if TYPE_CHECKING:
    import pyarrow.compute as pc

_MAX_LEN = 10_000


def parse_row_filter(source: str) -> pc.Expression:
    if not isinstance(source, str) or not source.strip():
        raise InvalidInputError("a row filter is empty; e.g. \"amount > 100 and country = 'DE'\"")
    if len(source) > _MAX_LEN:
        raise InvalidInputError(f"a row filter is longer than {_MAX_LEN} characters")
    return _Parser(source).parse()


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0

    def _error(self, problem: str) -> InvalidInputError:
        tok = self.tokens[self.i]
        where = f"at position {tok.pos + 1}" if tok.kind != "end" else "at the end"
        return InvalidInputError(f"invalid row filter {self.source[:120]!r} {where}: {problem}")

    def _peek(self) -> Token:
        return self.tokens[self.i]

    def _next(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _keyword(self, word: str) -> bool:
        tok = self._peek()
        if tok.kind == "name" and tok.text.lower() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> pc.Expression:
        expr = self._or()
        if self._peek().kind != "end":
            raise self._error(f"unexpected {self._peek().text!r} (join conditions with 'and' / 'or')")
        return expr

    def _or(self) -> pc.Expression:
        expr = self._and()
        while self._keyword("or"):
            expr = expr | self._and()
        return expr

    def _and(self) -> pc.Expression:
        expr = self._primary()
        while self._keyword("and"):
            expr = expr & self._primary()
        return expr

    def _primary(self) -> pc.Expression:
        if self._peek().kind == "lparen":
            self._next()
            expr = self._or()
            if self._next().kind != "rparen":
                self.i -= 1
                raise self._error("expected ')'")
            return expr
        if self._keyword("not"):
            return ~self._primary()
        return self._comparison()

    def _comparison(self) -> pc.Expression:
        import pyarrow.compute as pc

        tok = self._next()
        if tok.kind not in ("name", "quoted"):
            self.i -= 1
            raise self._error("expected a column name")
        column = pc.field(tok.text)
        if self._keyword("is"):
            negate = self._keyword("not")
            if not self._keyword("null"):
                raise self._error("expected 'null' after 'is'")
            return ~column.is_null() if negate else column.is_null()
        negate = self._keyword("not")
        if self._keyword("in"):
            values = self._values()
            expr = column.isin(values)
            return ~expr if negate else expr
        if negate:
            raise self._error("expected 'in' after 'not'")
        op = self._next()
        if op.kind != "op":
            self.i -= 1
            raise self._error("expected an operator (= != < <= > >=) or 'in'")
        value = self._value()
        ops: dict[str, Any] = {
            "=": column.__eq__,
            "!=": column.__ne__,
            "<": column.__lt__,
            "<=": column.__le__,
            ">": column.__gt__,
            ">=": column.__ge__,
        }
        result: pc.Expression = ops[op.text](value)
        return result

    def _values(self) -> list[Any]:
        if self._next().kind != "lparen":
            self.i -= 1
            raise self._error("expected '(' after 'in'")
        values = [self._value()]
        while self._peek().kind == "comma":
            self._next()
            values.append(self._value())
        if self._next().kind != "rparen":
            self.i -= 1
            raise self._error("expected ',' or ')'")
        return values

    def _value(self) -> Any:
        tok = self._next()
        if tok.kind == "string" or (tok.kind == "quoted" and tok.quote == '"'):
            return tok.text
        if tok.kind == "number":
            number = float(tok.text)
            return (
                int(number)
                if number.is_integer() and "." not in tok.text and "e" not in tok.text.lower()
                else number
            )
        if tok.kind == "name" and tok.text.lower() in ("true", "false"):
            return tok.text.lower() == "true"
        self.i -= 1
        raise self._error("expected a value: 'text', a number, true or false")

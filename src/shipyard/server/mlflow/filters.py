"""MLflow's run filter and order-by grammar onto shipyard's (:mod:`shipyard.metadata.filters`), and
page tokens.

MLflow's grammar is shipyard's with other attribute names and statuses, so a filter is tokenized by
shipyard's tokenizer, its field names and status values are renamed, and the result is handed to
the store, which parses it again (one parser, one set of semantics and errors):

- ``attributes.run_id``/``run_id`` -> ``id``, ``run_name`` -> ``name``, ``user_id`` -> ``user``,
  ``start_time``/``created``/``Created`` -> ``start_time``, ``end_time``, ``status``;
- statuses ``RUNNING``/``SCHEDULED`` -> ``running``, ``FINISHED`` -> ``succeeded``, ``FAILED`` ->
  ``failed``, ``KILLED`` -> ``cancelled``;
- ``metrics.``/``params.``/``tags.`` (and the singular forms) as they are;
- what shipyard cannot answer (``artifact_uri``, ``lifecycle_stage``, ``datasets.*``...) is refused
  with INVALID_PARAMETER_VALUE naming the fields that work.
"""

from __future__ import annotations

import base64
import binascii
import json

from shipyard.core.errors import InvalidInputError
from shipyard.metadata.filters import MAX_FILTER_LENGTH, PREFIXES, Token, tokenize

ATTRIBUTES = {
    "run_id": "id",
    "run_name": "name",
    "user_id": "user",
    "status": "status",
    "start_time": "start_time",
    "created": "start_time",
    "end_time": "end_time",
}
STATUSES = {
    "RUNNING": "running",
    "SCHEDULED": "running",
    "FINISHED": "succeeded",
    "FAILED": "failed",
    "KILLED": "cancelled",
}
MLFLOW_STATUS = {"running": "RUNNING", "succeeded": "FINISHED", "failed": "FAILED", "cancelled": "KILLED"}
_KEYWORDS = {"and", "or", "not", "in", "like", "ilike", "asc", "desc", "true", "false"}
_VALID = "metrics.<key>, params.<key>, tags.<key>, attributes." + ", attributes.".join(sorted(ATTRIBUTES))


def _refuse(source: str, problem: str) -> InvalidInputError:
    shown = source if len(source) <= 120 else source[:100] + "..."
    return InvalidInputError(f"invalid filter {shown!r}: {problem}")


def _quote(text: str, quote: str) -> str:
    return quote + text.replace(quote, quote * 2) + quote


def _render(tok: Token) -> str:
    if tok.kind == "string":
        return _quote(tok.text, "'")
    if tok.kind == "quoted":
        return _quote(tok.text, "`" if tok.quote == "`" else '"')
    return tok.text


def _field(source: str, tokens: list[Token], i: int) -> tuple[list[str], int, bool]:
    """The shipyard spelling of the field starting at ``tokens[i]``, the index after it, and
    whether it is the status attribute."""
    tok = tokens[i]
    word = tok.text.lower() if tok.kind == "name" else ""
    if word in PREFIXES:
        out, j = [tok.text], i + 1
        while j < len(tokens) and tokens[j].kind == "dot":
            if j + 1 >= len(tokens) or tokens[j + 1].kind not in ("name", "quoted", "number"):
                break
            out += [".", _render(tokens[j + 1])]
            j += 2
        return out, j, False
    name, j = tok.text, i + 1
    if word in ("attribute", "attributes"):
        if j + 1 < len(tokens) and tokens[j].kind == "dot" and tokens[j + 1].kind in ("name", "quoted"):
            name, j = tokens[j + 1].text, j + 2
        else:
            raise _refuse(source, f"expected '.' and an attribute after {tok.text!r}; valid fields: {_VALID}")
    elif tok.kind != "name":
        raise _refuse(source, f"expected a field at position {tok.pos + 1}; valid fields: {_VALID}")
    target = ATTRIBUTES.get(name.lower())
    if target is None:
        raise _refuse(source, f"field {name!r} is not searchable here; valid fields: {_VALID}")
    return [target], j, target == "status"


def translate_filter(source: str | None) -> str | None:
    """The shipyard filter for an MLflow filter string (None for an empty one)."""
    if source is None or not source.strip():
        return None
    if len(source) > MAX_FILTER_LENGTH:
        raise InvalidInputError(f"filter is longer than {MAX_FILTER_LENGTH} characters")
    tokens = tokenize(source)
    out: list[str] = []
    expect_field, status, i = True, False, 0
    while tokens[i].kind != "end":
        tok = tokens[i]
        low = tok.text.lower() if tok.kind == "name" else ""
        if expect_field and tok.kind != "lparen" and low != "not":
            parts, i, status = _field(source, tokens, i)
            out.append("".join(parts))
            expect_field = False
            continue
        if low in ("and", "or"):
            expect_field, status = True, False
        elif tok.kind == "string" and status:
            value = STATUSES.get(tok.text.upper())
            if value is None:
                raise _refuse(source, f"unknown status {tok.text!r}; valid: {', '.join(STATUSES)}")
            tok = Token("string", value, tok.pos, "'")
        elif tok.kind == "name" and low not in _KEYWORDS:
            raise _refuse(source, f"unexpected {tok.text!r} at position {tok.pos + 1}")
        out.append(_render(tok))
        i += 1
    return " ".join(out)


def translate_order_by(items: list[str]) -> list[str]:
    """MLflow order-by items (``"metrics.rmse ASC"``, ``"attributes.start_time DESC"``) in shipyard's
    spelling."""
    result = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInputError("order_by items must be strings like 'metrics.rmse DESC'")
        tokens = tokenize(item)
        if tokens[0].kind == "end":
            raise InvalidInputError("an order_by item is empty; write '<field> [ASC|DESC]'")
        parts, i, _ = _field(item, tokens, 0)
        rest = [t.text for t in tokens[i:] if t.kind != "end"]
        result.append(" ".join(["".join(parts), *rest]))
    return result


def encode_token(offset: int) -> str | None:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode() if offset else None


def decode_token(token: str | None) -> int:
    """The offset a page token carries (0 for none); INVALID_PARAMETER_VALUE for a token this
    server did not issue."""
    if not token:
        return 0
    try:
        doc = json.loads(base64.urlsafe_b64decode(token.encode()[:200]))
        offset = doc["offset"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidInputError(
            "invalid page_token; pass back the next_page_token of the previous page"
        ) from None
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= 2**53:
        raise InvalidInputError("invalid page_token; pass back the next_page_token of the previous page")
    return offset


PROMPT_TAG = "mlflow.prompt.is_prompt"  # MLflow's clients add "tag.`...` != 'true'" to model searches


def clauses(source: str, what: str) -> list[tuple[str, str, str]]:
    """A conjunction of ``field OP 'value'`` clauses (the small filters of experiment, model and
    logged-model searches), as (field, lower-cased operator, value). ``tag.`k``` and
    ``tags.k`` become ``tag:k``; anything else is refused naming ``what``."""
    if not source.strip():
        return []
    if len(source) > MAX_FILTER_LENGTH:
        raise InvalidInputError(f"filter is longer than {MAX_FILTER_LENGTH} characters")
    tokens = [t for t in tokenize(source) if t.kind != "end"]
    parts: list[list[Token]] = [[]]
    for tok in tokens:
        if tok.kind == "name" and tok.text.lower() == "and":
            parts.append([])
        else:
            parts[-1].append(tok)
    found = []
    for part in parts:
        if len(part) >= 3 and part[-1].kind == "string":
            op = part[-2].text.lower()
            field_tokens = part[:-2]
            if op in ("like", "ilike") and len(part) >= 4 and part[-3].text.lower() == "not":
                op, field_tokens = "not " + op, part[:-3]
            plain = all(t.kind in ("name", "dot", "quoted") for t in field_tokens)
            field = "".join(t.text for t in field_tokens) if plain and field_tokens else ""
            if any(t.kind == "name" and t.text.lower() in _KEYWORDS for t in field_tokens):
                field = ""
            if field.lower().startswith(("tag.", "tags.")):
                field = "tag:" + field.split(".", 1)[1]
            elif field.lower().startswith("attributes."):
                field = field.split(".", 1)[1]
            if op in ("=", "!=", "like", "ilike", "not like", "not ilike") and field:
                found.append((field, op, part[-1].text))
                continue
        raise InvalidInputError(f"invalid filter {source[:120]!r}: {what}")
    return found

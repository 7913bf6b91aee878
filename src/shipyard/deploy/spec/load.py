"""Read ``shipyard.yaml``: YAML (bounded, duplicate keys refused) -> :class:`Spec`, every error
located at its file, line and column with what is allowed there.

    shipyard.yaml:14:5: deployments.api.replica: unknown key; allowed: autoscaling, environments, ...
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml
from pydantic import BaseModel, ValidationError

from shipyard.core.errors import InvalidInputError
from shipyard.deploy.spec.models import Spec

MAX_SPEC_BYTES = 1 << 20
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class SpecError:
    file: str
    line: int  # 1-based
    column: int  # 1-based
    where: str  # dotted path, e.g. deployments.api.replicas
    message: str

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{self.message}"


class SpecInvalid(InvalidInputError):
    """The spec has errors; ``errors`` has each, in file order."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.line, e.column, e.where))
        more = f" (and {len(self.errors) - 1} more error(s); `shipyard validate` lists them)"
        super().__init__(str(self.errors[0]) + (more if len(self.errors) > 1 else ""))


@dataclass
class Document:
    """A parsed spec file: the plain data and where each key and value starts."""

    file: str
    data: Any
    marks: dict[Loc, tuple[int, int]]

    def locate(self, loc: Loc, message: str) -> SpecError:
        """An error at ``loc`` (or the nearest enclosing key that exists in the file)."""
        path = loc
        while path and path not in self.marks:
            path = path[:-1]
        line, col = self.marks.get(path, (1, 1))
        return SpecError(self.file, line, col, dotted(loc), message)


class SourceMarks:
    """Where each key of a spec's file starts, kept on the validated :class:`Spec` (and on each
    environment's view of it) so what is judged later — a model reference that does not resolve, a
    secret that does not exist — is reported at its place. Not part of the spec's value: any two
    compare equal."""

    __slots__ = ("file", "marks")

    def __init__(self, file: str, marks: dict[Loc, tuple[int, int]]) -> None:
        self.file = file
        self.marks = marks

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SourceMarks)

    def __hash__(self) -> int:
        return 0

    def at(self, loc: Loc, *, exact: bool = False) -> str | None:
        """``file:line:column`` of ``loc`` (else of its nearest enclosing key, unless ``exact``)."""
        path = loc
        while path and path not in self.marks and not exact:
            path = path[:-1]
        found = self.marks.get(path)
        return None if found is None else f"{self.file}:{found[0]}:{found[1]}"


def place(spec: Spec, loc: Loc, environment: str | None = None) -> str | None:
    """``file:line:column`` of ``loc`` in the file ``spec`` was read from (None when it was not read
    from a file). With ``environment``, a deployment's, flow's or monitor's key that the
    environment's overrides set is placed in the override, where the value it runs comes from."""
    marks = spec._source
    if not isinstance(marks, SourceMarks):
        return None
    if environment is not None and loc and loc[0] in ("deployments", "flows", "monitors"):
        found = marks.at(("overrides", environment, *loc), exact=True)
        if found is not None:
            return found
    return marks.at(loc)


def dotted(loc: Loc) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(loc))


# ---- YAML ----------------------------------------------------------------------------------------
def parse(text: str, file: str) -> Document:
    """YAML -> data and marks; a syntax error or duplicate key is a located SpecInvalid."""
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise SpecInvalid([SpecError(file, 1, 1, "", f"the spec is over {MAX_SPEC_BYTES // 1024} KiB")])
    # libyaml's parser when PyYAML has it (10x faster on a 1,000-line spec; same nodes and marks)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecInvalid(
                [SpecError(file, 1, 1, "", "the spec is empty; it needs project and environments")]
            )
        marks: dict[Loc, tuple[int, int]] = {}
        errors: list[SpecError] = []
        _walk(node, (), marks, errors, file)
        if errors:
            raise SpecInvalid(errors)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecInvalid([SpecError(file, line, col, "", f"not valid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise SpecInvalid([SpecError(file, 1, 1, "", f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return Document(file, data, marks)


def _walk(
    node: yaml.Node, loc: Loc, marks: dict[Loc, tuple[int, int]], errors: list[SpecError], file: str
) -> None:
    marks.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                errors.append(SpecError(file, line, col, dotted((*loc, key)), "this key appears twice"))
                continue
            seen.add(key)
            marks[(*loc, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(value_node, (*loc, key), marks, errors, file)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*loc, i), marks, errors, file)


# ---- validation ----------------------------------------------------------------------------------
def validate(doc: Document) -> Spec:
    """The typed spec, or SpecInvalid listing every error with its place."""
    from shipyard.deploy.spec.rules import check

    try:
        spec = Spec.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecInvalid([_error(doc, err) for err in exc.errors()]) from None
    problems = check(spec, doc.data)
    if problems:
        raise SpecInvalid([doc.locate(loc, message) for loc, message in problems])
    spec._source = SourceMarks(doc.file, doc.marks)
    return spec


def load_spec(path: Path) -> Spec:
    """Read and validate a ``shipyard.yaml``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInputError(f"no spec at {path}; create shipyard.yaml at the project's root") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from None
    return validate(parse(text, path.name))


def _error(doc: Document, err: Any) -> SpecError:
    loc, kind, message = _data_loc(doc.data, tuple(err["loc"])), err["type"], str(err["msg"])
    if kind == "extra_forbidden":
        allowed = ", ".join(sorted(_allowed(loc[:-1], doc.data)))
        message = f"unknown key; allowed: {allowed}"
    elif kind == "missing":
        message = f"missing required key {loc[-1]!r}"
    elif kind == "union_tag_invalid":
        loc, message = (*loc, "kind"), "kind must be 'service' or 'batch'"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return doc.locate(loc, message)


def _data_loc(data: Any, loc: Loc) -> Loc:
    """Pydantic's location without its union tags ('service') and with a bad key's name."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        if part == "[key]":
            continue  # the key itself is wrong: point at it
        inside = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if inside or (isinstance(cur, dict) and part in cur):
            cur = cur[part]
            out.append(part)
        elif part in ("service", "batch") and isinstance(cur, dict):
            continue
        else:
            out.append(part)
            cur = None
    return tuple(out)


def _allowed(loc: Loc, data: Any) -> list[str]:
    """The keys the model at ``loc`` accepts."""
    model: Any = Spec
    cur = data
    for part in loc:
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
        else:
            cur = None
        model = _step(model, part, cur)
        if model is None:
            return []
    return list(model.model_fields) if isinstance(model, type) and issubclass(model, BaseModel) else []


def _step(model: Any, part: str | int, value: Any) -> Any:
    """The type one key (or index) further down from ``model``."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        field = model.model_fields.get(str(part))
        return None if field is None else _unwrap(field.annotation, value)
    origin = typing.get_origin(model)
    args = typing.get_args(model)
    if origin in (dict, list) and args:
        return _unwrap(args[-1], value)
    return None


def _unwrap(tp: Any, value: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    if typing.get_origin(tp) in (Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        options = [_unwrap(a, value) for a in options]
        kind = value.get("kind", "service") if isinstance(value, dict) else None
        for option in options:
            fields = getattr(option, "model_fields", {})
            if "kind" in fields and kind in typing.get_args(fields["kind"].annotation):
                return option
        return options[0] if options else None
    return tp

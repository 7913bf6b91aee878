"""Check a skops file before skops reads it, then load it trusting exactly what was checked.

skops rebuilds objects from the nodes of ``schema.json``; each node names a module and a class or
function, and loading imports that module and calls, instantiates or returns the named object.
skops trusts some names by default and hands the rest to its caller to decide on, so a file that
names ``builtins.exec`` as a constructor runs code as soon as that name is trusted. Here, before
skops sees the file:

- the zip is bounded (entries, declared sizes: :func:`shipyard.artifacts.unpack.check_zip`), and
  every ``.npy`` array (also inside a sparse matrix's ``.npz``) must hold exactly the bytes its
  header declares, so nothing is allocated beyond what the file holds;
- every node of the schema is checked against :mod:`skops_types`: an exact name allowed for that
  kind of node (an estimator restored from its state, a container, an array, a type or function
  stored as a value), or named by the caller in ``trusted``; names that can run code or reach
  files (:func:`~shipyard.artifacts.serializers.skops_types.never_trusted`) are refused even then.

skops is then called with ``trusted`` set to exactly the names that passed, so its own defaults
add nothing that was not checked here.
"""

from __future__ import annotations

import functools
import io
import json
import math
import re
import zipfile
from collections.abc import Collection
from typing import IO, Any

from shipyard.artifacts.serializers.skops_types import (
    BIT_GENERATORS,
    allowed_anywhere,
    allowed_by_loader,
    never_trusted,
)
from shipyard.artifacts.unpack import Budget, UnpackLimits, check_zip
from shipyard.core.errors import SerializationError, UntrustedContentError

SCHEMA = "schema.json"
MAX_SCHEMA_BYTES = 256 << 20
MAX_DEPTH = 200
_CONTAINERS = (dict, list)
_NPY_MAX_HEADER = 10_000  # numpy's own default limit
_KINDS = {
    "FunctionNode": "function",
    "MethodNode": "method",
    "OperatorFuncNode": "operator function",
    "ConstructorFromReduceNode": "constructor call",
    "TypeNode": "type value",
    "RandomGeneratorNode": "random generator",
}


def load(
    data: bytes,
    trusted: Collection[str],
    label: str,
    limits: UnpackLimits,
    hint: str,
    *,
    trust_all: bool = False,
) -> Any:
    """The object in the skops file ``data``, after :func:`audit` passed it (``trust_all``: the
    caller accepts any name in it, i.e. running code from the file; the bounds still apply)."""
    names = audit(data, trusted, label, limits, hint, trust_all=trust_all)
    from shipyard.artifacts.serializers.skops_import import skops_io

    sio = skops_io()
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        return sio.loads(data, trusted=names)
    except ImportError:
        raise  # a missing or different library version: the caller says what to install
    except UntrustedTypesFoundException as exc:  # pragma: no cover - audit() is stricter than skops
        raise SerializationError(f"{label} contains types that were not checked: {exc}") from None
    except Exception as exc:  # a malformed file: skops raises many kinds
        raise SerializationError(f"{label} is not a valid skops file ({type(exc).__name__}: {exc})") from None


def audit(
    data: bytes,
    trusted: Collection[str],
    label: str,
    limits: UnpackLimits,
    hint: str,
    *,
    trust_all: bool = False,
) -> list[str]:
    """The exact names skops may trust for ``data``; SerializationError naming every name that
    is not allowed (``hint`` says how to trust them) before anything is imported or built."""
    allowed, refused, never = inspect(data, trusted, label, limits)
    if trust_all:
        return sorted({*allowed, *refused, *never})
    if never:
        raise SerializationError(
            f"{label} names {_listing(never)}, which shipyard never loads: loading it could run code "
            "or reach files. Do not load this file"
        )
    if refused:
        raise UntrustedContentError(
            f"{label} contains what shipyard does not load by default: {_listing(refused)}; {hint}"
        )
    return sorted(allowed)


def inspect(
    data: bytes, trusted: Collection[str], label: str, limits: UnpackLimits
) -> tuple[set[str], dict[str, str], dict[str, str]]:
    """Bound and parse the file; (names allowed, names refused -> what they are, names never
    loaded -> what they are)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise SerializationError(f"{label} is not a skops file ({exc})") from None
    with archive:
        budget = Budget(label, limits)
        check_zip(archive, label, budget)
        _check_entries(archive, label, budget)
        schema = _read_schema(archive, label, limits)
    return _walk(schema, frozenset(trusted), label)


def _listing(items: dict[str, str]) -> str:
    return ", ".join(f"{name} ({kind})" for name, kind in sorted(items.items()))


def _read_schema(archive: zipfile.ZipFile, label: str, limits: UnpackLimits) -> Any:
    try:
        info = archive.getinfo(SCHEMA)
    except KeyError:
        raise SerializationError(f"{label} is not a skops file: it has no {SCHEMA}") from None
    if info.file_size > min(MAX_SCHEMA_BYTES, limits.max_bytes):
        raise SerializationError(
            f"{label}: its {SCHEMA} declares {info.file_size:,} bytes; refusing to read it"
        )
    try:
        return json.loads(archive.read(info))
    except (ValueError, RecursionError, zipfile.BadZipFile) as exc:
        raise SerializationError(f"{label}: {SCHEMA} is not valid JSON ({type(exc).__name__})") from None


def _check_entries(archive: zipfile.ZipFile, label: str, budget: Budget, nested: bool = False) -> None:
    """Look at what each entry is, by its first bytes (numpy decides by them too, whatever the
    name): a ``.npy`` array's header must declare exactly the bytes the entry holds (numpy
    allocates what the header says before reading); a zip (a sparse matrix's ``.npz``) is
    bounded and checked inside, on the same budget, and may not nest further."""
    for info in archive.infolist():
        if info.filename == SCHEMA:
            continue
        where = f"{label}: {info.filename}"
        try:
            with archive.open(info) as fh:
                lead = fh.read(len(_NPY_MAGIC))
                if lead == _NPY_MAGIC:
                    header, shape, itemsize = _npy_header(lead, fh)
                    if header + math.prod(shape) * itemsize != info.file_size:
                        raise SerializationError(
                            f"{where} declares an array of shape {shape} but holds "
                            f"{info.file_size:,} bytes; refusing it"
                        )
                    continue
        except (ValueError, TypeError, SyntaxError, RecursionError, OSError, zipfile.BadZipFile) as exc:
            raise SerializationError(
                f"{where} is not a valid .npy array ({type(exc).__name__}: {exc})"
            ) from None
        if lead.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            if nested:
                raise SerializationError(f"{where} nests archives more than one deep; refusing it")
            try:
                inner = zipfile.ZipFile(io.BytesIO(archive.read(info)))
            except (zipfile.BadZipFile, ValueError) as exc:
                raise SerializationError(f"{where} is not a valid archive ({exc})") from None
            with inner:
                check_zip(inner, where, budget, inside=f"{info.filename}/")
                _check_entries(inner, where, budget, nested=True)


_NPY_MAGIC = b"\x93NUMPY"
_NPY_SHAPE = re.compile(r"'shape':\s*\(([0-9,\s]*)\)")
_NPY_DESCR = re.compile(r"'descr':\s*'([^']*)'")


def _npy_header(magic: bytes, fh: IO[bytes]) -> tuple[int, tuple[int, ...], int]:
    """(header length, shape, item size) of a .npy stream after its ``magic``, read without
    numpy's (slow, literal evaluating) header parser; object arrays are refused (they need pickle)."""
    import numpy as np

    lead = magic + fh.read(6)
    if len(lead) < 10 or lead[6] not in (1, 2, 3):
        raise ValueError("no .npy header")
    start, length = (
        (10, int.from_bytes(lead[8:10], "little"))
        if lead[6] == 1
        else (12, int.from_bytes(lead[8:12], "little"))
    )
    if length > _NPY_MAX_HEADER:
        raise ValueError(f"a header of {length} bytes")
    text = (lead[start:] + fh.read(length - (len(lead) - start))).decode(
        "utf-8" if lead[6] == 3 else "latin1"
    )
    shape_match, descr_match = _NPY_SHAPE.search(text), _NPY_DESCR.search(text)
    if shape_match is None:
        raise ValueError("a header without a shape")
    shape = tuple(int(part) for part in shape_match.group(1).replace(" ", "").split(",") if part)
    if descr_match is not None:
        dtype = np.dtype(descr_match.group(1))
    else:  # a structured dtype (a tree's nodes): the same few in every file, so parsed once each
        dtype = _structured_dtype(_NPY_SHAPE.sub("'shape': ()", text))
    if dtype.hasobject:
        raise ValueError("an object array")
    return start + length, shape, dtype.itemsize


@functools.lru_cache(maxsize=64)
def _structured_dtype(header: str) -> Any:
    import ast

    import numpy as np

    fields = ast.literal_eval(header)
    if not isinstance(fields, dict) or "descr" not in fields:
        raise ValueError("a header without a dtype")
    return np.lib.format.descr_to_dtype(fields["descr"])


def _walk(
    schema: Any, trusted: frozenset[str], label: str
) -> tuple[set[str], dict[str, str], dict[str, str]]:
    rules = allowed_by_loader()
    allowed: set[str] = set()
    refused: dict[str, str] = {}
    never: dict[str, str] = {}
    seen: set[tuple[str, str]] = set()  # a forest repeats the same few names hundreds of times

    def check(name: str, loader: str, permitted: frozenset[str]) -> None:
        if (loader, name) in seen:
            return
        seen.add((loader, name))
        kind = _KINDS.get(loader, "class")
        if never_trusted(name):
            never[name] = kind
        elif name in permitted or name in trusted:
            allowed.add(name)
        else:
            refused[name] = kind

    level: list[Any] = [schema] if type(schema) in _CONTAINERS else []
    for _ in range(MAX_DEPTH):
        below: list[Any] = []
        for value in level:  # only dicts and lists get here (json.loads makes no subclasses)
            if type(value) is list:
                below += [item for item in value if type(item) in _CONTAINERS]
                continue
            loader = value.get("__loader__")
            if loader == "JsonNode":
                continue  # plain JSON text in a string, decoded with json.loads: nothing below
            below += [item for item in value.values() if type(item) in _CONTAINERS]
            if loader is None:
                continue  # not a node (a node's content, e.g. a dict's entries)
            name = _node_name(value, label)
            if not isinstance(loader, str) or (loader not in rules and loader != "CachedNode"):
                refused[f"{name} [{loader}]"] = "unknown kind of skops node"
            elif loader == "CachedNode":  # a reference to a node checked where it first appears
                check(name, loader, allowed_anywhere())
            elif loader == "MethodNode":
                allowed.add(name)  # the method's object is a node of its own, checked as such
                content = value.get("content")
                func = content.get("func") if isinstance(content, dict) else None
                check(f"{name}.{func}", loader, rules[loader])
            else:
                check(name, loader, rules[loader])
                if loader == "RandomGeneratorNode" and _bit_generator(value) not in BIT_GENERATORS:
                    refused[f"numpy.random.{_bit_generator(value)}"] = "random bit generator"
        if not below:
            return allowed, refused, never
        level = below
    raise SerializationError(f"{label}: {SCHEMA} is nested more than {MAX_DEPTH} levels deep")


def _node_name(node: dict[str, Any], label: str) -> str:
    module, cls = node.get("__module__"), node.get("__class__")
    if not (isinstance(module, str) and isinstance(cls, str) and module and cls):
        raise SerializationError(f"{label}: a node of {SCHEMA} has no module and class name; refusing it")
    return f"{module}.{cls}"


def _bit_generator(node: dict[str, Any]) -> str:
    """The bit generator class a numpy Generator node names (skops calls it), or '?'."""
    try:
        text = node["content"]["bit_generator"]["content"]["bit_generator"]["content"]
        name = json.loads(text)
    except (KeyError, TypeError, ValueError):
        return "?"
    return name if isinstance(name, str) else "?"

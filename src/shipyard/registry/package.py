"""Model packages: a folder with the serialized model, ``model.yaml`` and the input example.

``model.yaml`` (written in YAML's JSON-compatible style) records the format version, flavor,
serializer, whether loading it runs pickle (``unsafe``), the signature, the Python version, the
exact versions of the libraries the flavor needs, the creation time, the source run/task and the
sha256 of every other file in the package.
The folder is stored as one ``dir`` artifact, so the artifact digest is the package's content hash;
the artifact store verifies it on read and :func:`read_manifest` verifies the per-file hashes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
from collections.abc import Mapping
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from shipyard.artifacts.unpack import UnpackLimits, read_tar
from shipyard.core.clock import utcnow
from shipyard.core.errors import IntegrityError, InvalidInputError, SerializationError
from shipyard.registry.flavors import flavor_for
from shipyard.registry.signature import Signature, enforce, example_rows, infer_signature, output_spec

FORMAT = "shipyard-model/1"
MANIFEST = "model.yaml"
EXAMPLE = "input_example.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_folder(folder: Path) -> dict[str, bytes]:
    """Every file of an unpacked package, by relative POSIX path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def files_from_tar(data: bytes, label: str, limits: UnpackLimits | None = None) -> dict[str, bytes]:
    """The files of a package stored as a ``dir`` artifact (a tar), read in memory. Only regular
    files and folders; the member count and declared sizes are checked against ``limits``
    before anything is read (a sparse or oversized member is refused, not unpacked)."""
    return read_tar(data, f"model package {label}", limits if limits is not None else UnpackLimits())


def library_versions(names: tuple[str, ...]) -> dict[str, str]:
    """Exact installed versions of ``names`` (distributions that are not installed are left out)."""
    return dict(_library_versions(names))


@functools.cache
def _library_versions(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Read once per process: installed versions do not change under a running program."""
    out = []
    for name in names:
        try:
            out.append((name, importlib_metadata.version(name)))
        except importlib_metadata.PackageNotFoundError:
            continue
    return tuple(out)


def _write_example(example: Any, path: Path) -> None:
    import numpy as np
    import pandas as pd

    rows = example_rows(example)
    if isinstance(rows, np.ndarray):
        payload = {"kind": "ndarray", "dtype": str(rows.dtype), "data": rows.tolist()}
        path.write_text(json.dumps(payload, allow_nan=True))
        return
    columns = []
    for name in rows.columns:  # column-wise tolist(): much faster than DataFrame.to_json on few rows
        col = rows[name]
        if col.dtype.kind == "M":
            columns.append([None if pd.isna(v) else v.isoformat() for v in col.tolist()])
        else:
            columns.append(col.tolist())
    data = [list(row) for row in zip(*columns, strict=True)]
    payload = {"kind": "dataframe", "columns": [str(c) for c in rows.columns], "data": data}
    path.write_text(json.dumps(payload, allow_nan=True, default=str))


def read_example(data: bytes, label: str = "package") -> Any:
    """The stored input example: a DataFrame, or a numpy array for array-input models;
    SerializationError naming ``label`` when the file is damaged."""
    import numpy as np
    import pandas as pd

    try:
        payload = json.loads(data)
        if payload.get("kind") == "ndarray":
            return np.asarray(payload["data"], dtype=payload["dtype"])
        return pd.DataFrame(payload["data"], columns=payload["columns"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SerializationError(
            f"model {label}: its {EXAMPLE} is damaged ({type(exc).__name__}); log and register the "
            "model again"
        ) from None


def write_package(
    folder: Path,
    model: Any,
    *,
    input_example: Any = None,
    signature: Signature | Mapping[str, Any] | None = None,
    flavor: str | None = None,
    init_kwargs: Mapping[str, Any] | None = None,
    source: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write a package for ``model`` into the empty folder ``folder``; return the manifest."""
    chosen = flavor_for(model, flavor)
    if input_example is None and signature is None:
        raise InvalidInputError(
            "log_model needs input_example=... (a few rows of real input) or signature=... "
            "so predictions can be checked against what the model expects"
        )
    if isinstance(signature, Mapping):
        signature = Signature.from_dict(signature)
    if signature is None:
        signature = infer_signature(input_example)
    if input_example is not None and not signature.outputs:
        try:
            prediction = chosen.predict(model, enforce(signature, example_rows(input_example)))
        except Exception as exc:
            raise InvalidInputError(
                f"the model cannot predict on its input_example ({type(exc).__name__}: {exc}); "
                "pass an example shaped like the model's real input"
            ) from None
        signature = Signature(signature.inputs, signature.input_kind, output_spec(prediction))
    folder.mkdir(parents=True, exist_ok=True)
    options = {"init_kwargs": dict(init_kwargs)} if init_kwargs is not None else {}
    flavor_meta = chosen.save(model, folder, options)
    flavor_meta.update(chosen.compile(model, folder, signature, input_example))
    if input_example is not None:
        _write_example(input_example, folder / EXAMPLE)
    files = {p.relative_to(folder).as_posix(): _sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "flavor": chosen.name,
        "serializer": chosen.serializer,
        "unsafe": chosen.unsafe,
        "flavor_options": flavor_meta,
        "has_predict_proba": chosen.has_proba(model),
        "signature": signature.to_dict(),
        "python_version": platform.python_version(),
        "requirements": library_versions(chosen.libraries),
        "created_at": utcnow().isoformat(),
        "source": dict(source or {}),
        "input_example": EXAMPLE if input_example is not None else None,
        "files": files,
    }
    # YAML in its JSON-compatible flow style: any YAML tool reads it, and loading takes json's fast path
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, allow_nan=False) + "\n")
    return manifest


def read_manifest(files: Mapping[str, bytes], *, verify: bool = True) -> dict[str, Any]:
    """Parse ``model.yaml`` and (by default) check every file against its recorded sha256."""
    raw = files.get(MANIFEST)
    if raw is None:
        raise SerializationError(f"not a model package: {MANIFEST} is missing")
    try:
        manifest = json.loads(raw)  # what write_package writes (YAML's JSON-compatible style)
    except ValueError:  # a hand-edited block-style YAML file
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            manifest = yaml.load(raw, Loader=loader)  # noqa: S506 - a SafeLoader
        except yaml.YAMLError as exc:
            raise SerializationError(f"not a model package: {MANIFEST} is not valid YAML ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SerializationError(f"not a model package: {MANIFEST} does not declare format {FORMAT!r}")
    if verify:
        recorded = manifest.get("files") or {}
        for rel, expected in recorded.items():
            data = files.get(rel)
            if data is None:
                raise IntegrityError(f"model package is incomplete: {rel} is missing")
            actual = hashlib.sha256(data).hexdigest()
            if actual != expected:
                raise IntegrityError(
                    f"model package file {rel} was altered: sha256 {actual[:12]}... "
                    f"but model.yaml records {str(expected)[:12]}...; refusing to load it"
                )
        extra = sorted(name for name in files if name != MANIFEST and name not in recorded)
        if extra:
            raise IntegrityError(f"model package has files that model.yaml does not list: {extra}")
    return manifest

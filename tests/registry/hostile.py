"""Hand-built hostile model packages: skops files whose schema names code to run, a torch package
naming a module that must not be imported, tars that unpack to far more than they hold.

Each payload, if it ever ran, would create the file ``marker``; the tests assert it never exists.
"""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

from shipyard.core.entities import ArtifactRecord
from shipyard.metadata.model_registry import ModelVersion
from shipyard.registry.service import PACKAGE_MARK, ModelRegistry
from shipyard.tracking.client import TrackingClient
from shipyard.tracking.stores import Stores

SKOPS_PROTOCOL = 2


def node(loader: str, module: str, cls: str, **extra: Any) -> dict[str, Any]:
    return {"__loader__": loader, "__module__": module, "__class__": cls, **extra}


def text(value: Any) -> dict[str, Any]:
    return node("JsonNode", "builtins", "str", content=json.dumps(value), is_json=True)


def tuple_of(*items: dict[str, Any]) -> dict[str, Any]:
    return node("TupleNode", "builtins", "tuple", content=list(items))


def dict_of(**items: dict[str, Any]) -> dict[str, Any]:
    return node(
        "DictNode",
        "builtins",
        "dict",
        content=items,
        key_types=node(
            "ListNode", "builtins", "list", content=[node("TypeNode", "builtins", "str")] * len(items)
        ),
    )


def write_marker_code(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').write('ran')"


def skops_file(root: dict[str, Any], files: dict[str, bytes] | None = None) -> bytes:
    """A skops zip with ``root`` as its schema (plus extra entries)."""
    schema = {**root, "protocol": SKOPS_PROTOCOL, "_skops_version": "0.16.0"}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
        for name, data in (files or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def exec_via_constructor(marker: Path) -> bytes:
    """``builtins.exec(code)`` as an object skops rebuilds by calling its class."""
    return skops_file(
        node(
            "ConstructorFromReduceNode", "builtins", "exec", content=tuple_of(text(write_marker_code(marker)))
        )
    )


def exec_via_loss(marker: Path) -> bytes:
    """``builtins.exec(code)`` as a scikit-learn loss object (skops calls the named class)."""
    return skops_file(
        node(
            "LossNode",
            "builtins",
            "exec",
            content=dict_of(),
            __reduce__={"args": tuple_of(text(write_marker_code(marker)))},
        )
    )


def exec_as_function_in_pipeline() -> bytes:
    """A FunctionTransformer whose ``func`` is ``builtins.exec`` (stored as a function value)."""
    transformer = node(
        "ObjectNode",
        "sklearn.preprocessing._function_transformer",
        "FunctionTransformer",
        content=dict_of(func=node("FunctionNode", "builtins", "exec"), validate=text(False)),
    )
    return skops_file(transformer)


def numpy_load_of_pickle(pickle_path: Path) -> bytes:
    """``numpy.load(path, None, True)``: a callable in the numpy namespace that unpickles a file."""
    args = tuple_of(text(str(pickle_path)), text(None), text(True))
    return skops_file(node("ConstructorFromReduceNode", "numpy", "load", content=args))


def operator_methodcaller() -> bytes:
    """``operator.methodcaller('system', ...)``: calls any method by name on what it is given."""
    return skops_file(
        node("OperatorFuncNode", "operator", "methodcaller", attrs=tuple_of(text("system"), text("id")))
    )


def package_files(
    base: Path, model_file: str, model_bytes: bytes, flavor: str, options: dict[str, Any]
) -> Path:
    """A package folder from a real one (signature, example) with the model file replaced."""
    import hashlib

    manifest = json.loads((base / "model.yaml").read_text())
    for name in list(manifest["files"]):
        if name != "input_example.json":
            (base / name).unlink()
            del manifest["files"][name]
    (base / model_file).write_bytes(model_bytes)
    manifest["files"][model_file] = hashlib.sha256(model_bytes).hexdigest()
    manifest.update(flavor=flavor, flavor_options={"file": model_file, **options}, unsafe=False)
    (base / "model.yaml").write_text(json.dumps(manifest))
    return base


def register_folder(stores: Stores, folder: Path, name: str) -> ModelVersion:
    """Store a package folder as a run's model artifact and register it as the next version."""
    client = TrackingClient(stores)
    run = client.create_run("hostile")
    stored = stores.artifacts.put_path(folder)
    manifest = json.loads((folder / "model.yaml").read_text())
    meta = {
        **stored.meta,
        PACKAGE_MARK: True,
        "flavor": manifest["flavor"],
        "package_format": manifest["format"],
        "signature": manifest["signature"],
    }
    record: ArtifactRecord = stored.record(run.id, name, meta=meta, unsafe=False)
    stores.metadata.record_artifact(record)
    return ModelRegistry(stores).register_record(record, name)


def sparse_tar(name: str, real_size: int) -> bytes:
    """A ~10 KB tar whose one member is a GNU sparse file (PAX 1.0) of ``real_size`` bytes: read
    back naively it is ``real_size`` bytes of zeros."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.pax_headers = {
            "GNU.sparse.major": "1",
            "GNU.sparse.minor": "0",
            "GNU.sparse.name": name,
            "GNU.sparse.realsize": str(real_size),
        }
        sparse_map = b"1\n0\n1\n".ljust(512, b"\0")  # one data block of 1 byte at offset 0
        data = sparse_map + b"x".ljust(512, b"\0")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def huge_member_tar(name: str, declared: int) -> bytes:
    """A tar whose one member declares ``declared`` bytes (in a PAX header) and holds none."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.pax_headers = {"size": str(declared)}
        tar.addfile(info)
    return buffer.getvalue()


def many_members_tar(count: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for i in range(count):
            tar.addfile(tarfile.TarInfo(f"f{i}"), io.BytesIO(b""))
    return buffer.getvalue()


def rewrite_skops(data: bytes, *, schema_padding: int = 0, big_array: str | None = None) -> bytes:
    """A copy of the skops file ``data``: ``schema_padding`` bytes of extra JSON in its schema (they
    compress to almost nothing), or the array entry ``big_array`` given a header that claims 2**31
    float64 values while it holds the original few."""
    import numpy as np

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "schema.json" and schema_padding:
                schema = json.loads(body)
                schema["padding"] = "0" * schema_padding
                body = json.dumps(schema).encode()
            if info.filename == big_array:
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    header, {"descr": "<f8", "fortran_order": False, "shape": (2**31,)}
                )
                body = header.getvalue() + body[-64:]
            dst.writestr(info.filename, body)
    return out.getvalue()


def first_array(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return next(name for name in archive.namelist() if name.endswith(".npy"))


def sparse_matrix_with_inner_bomb(inner_bytes: int) -> bytes:
    """A skops file holding one sparse matrix whose entry (not named .npz) is a zip declaring
    ``inner_bytes`` of zeros, deflated to almost nothing."""
    inner = io.BytesIO()
    with (
        zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("data.npy", "w", force_zip64=True) as fh,
    ):
        for _ in range(inner_bytes >> 20):
            fh.write(bytes(1 << 20))
    root = node("SparseMatrixNode", "scipy.sparse._csr", "csr_matrix", type="scipy", file="m.bin")
    return skops_file(root, {"m.bin": inner.getvalue()})

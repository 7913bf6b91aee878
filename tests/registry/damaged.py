"""Model packages that are internally consistent (a valid tar, model.yaml listing the right sha256
of every file) but whose model file is damaged: what a buggy exporter, a bad disk before upload or a
hand-edited package leaves behind. Content hashes cannot catch these; loading must."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from shipyard.registry.package import write_package

Damage = Callable[[bytes], bytes]


def garbage(data: bytes) -> bytes:
    """Random bytes of the same length."""
    return np.random.default_rng(7).bytes(len(data))


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def flip(data: bytes, start: int, count: int) -> bytes:
    """``count`` bytes from ``start`` inverted (0x00 <-> 0xFF)."""
    out = bytearray(data)
    for i in range(start, min(start + count, len(out))):
        out[i] ^= 0xFF
    return bytes(out)


def _rewrite_zip(data: bytes, change: Callable[[str, bytes], bytes]) -> bytes:
    """The zip with each member passed through ``change``; still a valid zip (CRCs recomputed)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dest:
        for name in source.namelist():
            dest.writestr(name, change(name, source.read(name)))
    return out.getvalue()


def skops_weights_to_nan(data: bytes) -> bytes:
    """Every float array's data overwritten with 0xFF bytes (NaN) inside a valid zip: the file
    still loads, the model predicts NaN."""

    def change(name: str, member: bytes) -> bytes:
        if name.endswith(".npy") and b"<f8" in member[:128]:
            header = member.index(b"\n") + 1
            return member[:header] + b"\xff" * (len(member) - header)
        return member

    return _rewrite_zip(data, change)


def flip_skops_schema(data: bytes) -> bytes:
    """Bytes in the middle of schema.json inverted inside a valid zip."""
    return _rewrite_zip(data, lambda name, m: flip_middle(m) if name == "schema.json" else m)


def flip_safetensors_header(data: bytes) -> bytes:
    """The JSON header after the 8-byte length inverted: the file no longer parses."""
    return flip(data, 8, 24)


def safetensors_to_nan(data: bytes) -> bytes:
    """Every tensor's data overwritten with 0xFF bytes (NaN); the header stays valid."""
    start = 8 + int.from_bytes(data[:8], "little")
    return data[:start] + b"\xff" * (len(data) - start)


def flip_middle(data: bytes) -> bytes:
    return flip(data, len(data) // 2, 32)


def damaged_package(
    folder: Path, model: Any, example: Any, damage: Callable[[bytes], bytes], **options: Any
) -> Path:
    """A package of ``model`` whose model file went through ``damage``, with model.yaml's hash of
    it updated so that the package is consistent."""
    write_package(folder, model, input_example=example, **options)
    manifest = json.loads((folder / "model.yaml").read_text())
    name = manifest["flavor_options"]["file"]
    data = damage((folder / name).read_bytes())
    (folder / name).write_bytes(data)
    manifest["files"][name] = hashlib.sha256(data).hexdigest()
    (folder / "model.yaml").write_text(json.dumps(manifest))
    return folder


def models(X: pd.DataFrame, y: Any) -> dict[str, tuple[Any, Any, dict[str, Any]]]:
    """flavor -> (fitted model, input example, log options) for every flavor that is installed."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out: dict[str, tuple[Any, Any, dict[str, Any]]] = {
        "sklearn": (
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y),
            X.head(3),
            {},
        )
    }
    try:
        import xgboost

        out["xgboost"] = (xgboost.XGBClassifier(n_estimators=3, max_depth=2).fit(X, y), X.head(3), {})
    except ImportError:
        pass
    try:
        import torch

        layer = torch.nn.Linear(X.shape[1], 2)  # on the torch flavor's allow-list: no trust needed
        kwargs = {"in_features": X.shape[1], "out_features": 2}
        out["pytorch"] = (layer, X.head(3).to_numpy(np.float32), {"init_kwargs": kwargs})
    except ImportError:
        pass
    return out


#: case -> (flavor, damage); each must be refused by approve/alias
CASES: dict[str, tuple[str, Damage]] = {
    "sklearn-garbage": ("sklearn", garbage),
    "sklearn-truncated-zip": ("sklearn", truncated),
    "sklearn-flipped-schema": ("sklearn", flip_skops_schema),
    "sklearn-nan-weights": ("sklearn", skops_weights_to_nan),
    "xgboost-flipped-bytes": ("xgboost", flip_middle),
    "xgboost-truncated": ("xgboost", truncated),
    "pytorch-flipped-header": ("pytorch", flip_safetensors_header),
    "pytorch-truncated": ("pytorch", truncated),
    "pytorch-nan-weights": ("pytorch", safetensors_to_nan),
}
#: the cases whose package does not load at all (the others load and predict NaN)
UNLOADABLE = sorted(set(CASES) - {"sklearn-nan-weights", "pytorch-nan-weights"})

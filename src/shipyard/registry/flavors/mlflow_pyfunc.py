"""MLflow models (a folder with an ``MLmodel`` file), loaded through ``mlflow.pyfunc``.

The package keeps the MLflow model folder as it was (under ``mlflow_model/``), so an MLflow model
imported by ``shipyard import mlflow`` or logged as ``log_model(Path("model_dir"), signature=...)``
is the same files MLflow wrote. Loading it means ``mlflow.pyfunc.load_model``, which unpickles
(cloudpickle, joblib...) whatever the folder holds: the flavor is ``unsafe``, so ``load_model``
refuses it unless ``allow_unsafe=True`` and ``shipyard serve`` unless ``--allow-unsafe-model``.

The shipyard signature is read from the MLmodel's own signature (column specs; tensor specs are
left to MLflow) or, failing that, from its saved input example; pyfunc enforces MLflow's schema
again itself.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.artifacts.unpack import UnpackLimits
from shipyard.core.errors import InvalidInputError, SerializationError
from shipyard.registry.flavors.base import Flavor

FOLDER = "mlflow_model"
MLMODEL = "MLmodel"
_MAX_MLMODEL = 1 << 20  # an MLmodel file is a few KB of YAML
#: MLflow column types -> shipyard signature types
_TYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "string",
    "binary": "binary",
    "datetime": "datetime",
}


def is_mlflow_model_dir(model: Any) -> bool:
    return isinstance(model, os.PathLike) and (Path(model) / MLMODEL).is_file()


def read_mlmodel(folder: Path) -> dict[str, Any]:
    """The MLmodel file as a mapping (bounded, safe YAML); SerializationError when unreadable."""
    import yaml

    path = folder / MLMODEL
    raw = path.read_bytes()[: _MAX_MLMODEL + 1]
    if len(raw) > _MAX_MLMODEL:
        raise SerializationError(f"{path} is larger than {_MAX_MLMODEL} bytes; not an MLmodel file")
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise SerializationError(f"{path} is not valid YAML ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise SerializationError(f"{path} is not an MLmodel mapping")
    return data


def signature_from_mlmodel(folder: Path) -> dict[str, Any] | None:
    """A shipyard signature (``Signature.to_dict`` form) from the MLflow model's column signature,
    else from its saved input example; None when it has neither (or only tensor specs)."""
    mlmodel = read_mlmodel(folder)
    sig = mlmodel.get("signature")
    if isinstance(sig, dict) and isinstance(sig.get("inputs"), str):
        try:
            specs = json.loads(sig["inputs"])
        except ValueError:
            specs = None
        if isinstance(specs, list) and specs and all(isinstance(s, dict) for s in specs):
            columns: list[dict[str, str]] = []
            for i, spec in enumerate(specs):
                kind = _TYPES.get(str(spec.get("type")))
                if kind is None:  # tensor or object specs: MLflow enforces those itself
                    columns = []
                    break
                columns.append({"name": str(spec.get("name", i)), "type": kind})
            if columns:
                named = all("name" in s for s in specs)
                return {"input_kind": "dataframe" if named else "ndarray", "inputs": columns, "outputs": {}}
    example = mlmodel.get("saved_input_example_info")
    if isinstance(example, dict) and isinstance(example.get("artifact_path"), str):
        path = folder / example["artifact_path"]
        if path.is_file() and path.stat().st_size <= _MAX_MLMODEL:
            from shipyard.registry.signature import infer_signature

            try:
                data = json.loads(path.read_bytes())
                frame = _example_frame(data)
            except (ValueError, TypeError, KeyError):
                return None
            if frame is not None:
                return infer_signature(frame).to_dict()
    return None


def _example_frame(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, dict) and "columns" in data and "data" in data:  # pandas "split" orient
        return pd.DataFrame(data["data"], columns=data["columns"])
    if isinstance(data, dict) and "dataframe_split" in data:
        inner = data["dataframe_split"]
        return pd.DataFrame(inner["data"], columns=inner.get("columns"))
    return None


class MlflowModel:
    """A loaded pyfunc model plus the private folder its files live in (kept while it lives)."""

    def __init__(self, pyfunc: Any, folder: tempfile.TemporaryDirectory[str]) -> None:
        self.pyfunc = pyfunc
        self._folder = folder

    def predict(self, data: Any) -> Any:
        return self.pyfunc.predict(data)


class MlflowFlavor(Flavor):
    name = "mlflow"
    libraries = ("mlflow",)
    unsafe = True  # mlflow.pyfunc.load_model unpickles
    serializer = "mlflow-pyfunc"
    checks_own_input = True  # pyfunc enforces the MLmodel's schema itself

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return is_mlflow_model_dir(model)

    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        source = Path(model)
        mlmodel = read_mlmodel(source)
        for path in sorted(source.rglob("*")):
            if path.is_symlink():
                raise InvalidInputError(
                    f"MLflow model folder {source} holds a link ({path.name}); copy real files"
                )
        shutil.copytree(source, folder / FOLDER)
        flavors = sorted((mlmodel.get("flavors") or {}).keys())
        if "python_function" not in flavors:
            raise InvalidInputError(
                f"MLflow model {source} has no python_function flavor ({flavors}); only pyfunc models load"
            )
        return {"folder": FOLDER, "mlflow_flavors": flavors}

    def load(
        self, files: Mapping[str, bytes], meta: dict[str, Any], trusted: Sequence[str], limits: UnpackLimits
    ) -> Any:
        """Write the (verified) files to a private temp folder and load it with mlflow.pyfunc."""
        import mlflow.pyfunc

        prefix = str(meta.get("folder", FOLDER)).strip("/") + "/"
        members = {name[len(prefix) :]: data for name, data in files.items() if name.startswith(prefix)}
        if MLMODEL not in members:
            raise SerializationError(f"model package has no {prefix}{MLMODEL}")
        holder = tempfile.TemporaryDirectory(prefix="shipyard-mlflow-")
        root = Path(holder.name)
        for rel, data in members.items():
            parts = rel.split("/")
            if any(p in ("", ".", "..") for p in parts):  # read_tar refuses these already
                raise SerializationError(f"model package member {rel!r} is not a plain relative path")
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return MlflowModel(mlflow.pyfunc.load_model(str(root)), holder)

    def has_proba(self, model: Any) -> bool:
        return False

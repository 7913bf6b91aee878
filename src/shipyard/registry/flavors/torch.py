"""PyTorch ``nn.Module`` models: the state_dict in safetensors plus the class's import path and
constructor kwargs. Loading imports the class, builds it with the kwargs and loads the weights, so
no pickle is involved; the class must live in an importable module. Importing a module runs its
code, so the class named in model.yaml is checked first: a few ``torch.nn`` layers are allowed,
any other class must be named exactly in ``load_model(..., trusted=["pkg.models:Net"])`` (or
``--trust pkg.models:Net``), and an untrusted module is never imported.

Constructor kwargs come from ``log_model(..., init_kwargs={...})``, else from the model's
``init_kwargs`` attribute when it has one, else none. Inputs are converted to a float32 tensor
(or the signature's float type) and the output is returned as a numpy array.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.artifacts.unpack import UnpackLimits
from shipyard.core.errors import InvalidInputError, SerializationError
from shipyard.registry.flavors.base import (
    Flavor,
    checked_class_path,
    class_path,
    import_class,
    module_roots,
    package_file,
)

_FILE = "model.safetensors"
#: torch.nn layers built from JSON kwargs alone; any other class must be trusted by name
_ALLOWED = frozenset(
    f"torch.nn.modules.{path}"
    for path in (
        "linear:Linear", "linear:Bilinear", "linear:Identity", "conv:Conv1d", "conv:Conv2d", "conv:Conv3d",
        "sparse:Embedding", "rnn:LSTM", "rnn:GRU", "rnn:RNN",
    )
)  # fmt: skip


class TorchFlavor(Flavor):
    name = "pytorch"
    libraries = ("torch", "safetensors", "numpy")
    serializer = "safetensors"

    @classmethod
    def accepts(cls, model: Any) -> bool:
        return "torch" in module_roots(model)

    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        from safetensors.torch import save_model

        kwargs = options.get("init_kwargs")
        if kwargs is None:
            kwargs = getattr(model, "init_kwargs", None) or {}
        try:
            json.dumps(kwargs)
        except TypeError as exc:
            raise InvalidInputError(
                f"init_kwargs must be JSON values (numbers, strings, lists...): {exc}"
            ) from None
        save_model(model, str(folder / _FILE))
        return {"file": _FILE, "class": class_path(type(model)), "init_kwargs": kwargs}

    def load(
        self, files: Mapping[str, bytes], meta: dict[str, Any], trusted: Sequence[str], limits: UnpackLimits
    ) -> Any:
        path = checked_class_path(meta, _ALLOWED, trusted)  # before anything is imported
        import torch
        from safetensors.torch import load

        cls = import_class(path)
        if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
            raise SerializationError(f"model.yaml names {meta['class']!r}, which is not a torch.nn.Module")
        model = cls(**dict(meta.get("init_kwargs") or {}))
        state = load(package_file(files, meta, _FILE))
        missing, unexpected = model.load_state_dict(state, strict=False)
        # safetensors stores a tensor shared by several names once: those names may be "missing"
        loaded_ptrs = {p.data_ptr() for name, p in model.state_dict().items() if name in state}
        real_missing = [k for k in missing if model.state_dict()[k].data_ptr() not in loaded_ptrs]
        if unexpected or real_missing:
            raise SerializationError(
                f"the weights do not fit {meta['class']} built with {meta.get('init_kwargs')}: "
                f"missing {real_missing}, unexpected {list(unexpected)}"
            )
        model.eval()
        return model

    def predict(self, model: Any, data: Any) -> Any:
        import numpy as np
        import torch

        arr = np.asarray(data)
        if arr.dtype.kind in "iub" or arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        arr = np.ascontiguousarray(arr)
        if not arr.flags.writeable:  # torch.from_numpy warns on read-only buffers
            arr = arr.copy()
        with torch.no_grad():
            out = model(torch.from_numpy(arr))
        return out.detach().cpu().numpy()

    def has_proba(self, model: Any) -> bool:
        return False

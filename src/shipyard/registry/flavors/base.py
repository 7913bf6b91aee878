"""The flavor interface: how one family of models is saved into a package and loaded back.

Writing a new flavor
--------------------
Subclass :class:`Flavor`, set ``name``, ``libraries`` (the distributions whose exact versions the
package records) and ``unsafe`` (True only when loading runs arbitrary code, i.e. pickle), implement
:meth:`accepts`, :meth:`save` and :meth:`load`, and add the class to ``FLAVORS`` in
:mod:`shipyard.registry.flavors`. ``accepts`` must not import the model library: it looks at the
model's class hierarchy by module name, so that checking a scikit-learn model never imports torch.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from shipyard.artifacts.unpack import UnpackLimits
from shipyard.core.errors import InvalidInputError, SerializationError, UntrustedContentError

if TYPE_CHECKING:
    from shipyard.registry.plan_eval import Plan
    from shipyard.registry.signature import Signature


def module_roots(model: Any) -> set[str]:
    """Top-level package names of every class in the model's MRO (``{"sklearn", "builtins"}``)."""
    return {cls.__module__.split(".")[0] for cls in type(model).__mro__}


def class_path(cls: type) -> str:
    """``module:QualName`` for a class that can be imported again; error for local/__main__ ones."""
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        raise InvalidInputError(
            f"class {cls.__qualname__} is defined in {cls.__module__!r}"
            f"{' inside a function' if '<locals>' in cls.__qualname__ else ''}; "
            "move it to an importable module so the model can be loaded elsewhere"
        )
    return f"{cls.__module__}:{cls.__qualname__}"


def package_file(files: Mapping[str, bytes], meta: dict[str, Any], default: str) -> bytes:
    """The bytes of the file ``meta["file"]`` (or ``default``); SerializationError when absent."""
    name = str(meta.get("file", default))
    try:
        return files[name]
    except KeyError:
        raise SerializationError(f"model package is missing its model file {name!r}") from None


_CLASS_PATH = re.compile(
    r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
)


def checked_class_path(meta: dict[str, Any], allowed: frozenset[str], trusted: Sequence[str]) -> str:
    """``meta["class"]`` (``module:QualName``) if it is in ``allowed`` or named in ``trusted``
    (as ``module:QualName`` or ``module.QualName``); SerializationError otherwise. Nothing is
    imported: this runs before the class's module would be."""
    path = str(meta.get("class", ""))
    if not _CLASS_PATH.match(path):
        raise SerializationError(f"model.yaml names the class {path!r}, which is not a module:Class path")
    if path in allowed or path in trusted or path.replace(":", ".") in trusted:
        return path
    raise UntrustedContentError(
        f"model.yaml names the class {path!r}, which shipyard does not import by default (importing "
        "a module runs its code); if you trust who wrote the package, name it exactly: "
        f"load_model(..., trusted=[{path!r}]) or shipyard serve/batch --trust {path}"
    )


def import_class(path: str) -> Any:
    """Import ``module:QualName``; only for a path :func:`checked_class_path` passed."""
    import importlib

    module_name, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInputError(
            f"cannot import model class {path!r} ({exc}); install the package that defines it"
        ) from None
    return obj


class Flavor(abc.ABC):
    name: ClassVar[str]
    libraries: ClassVar[tuple[str, ...]] = ()
    unsafe: ClassVar[bool] = False
    serializer: ClassVar[str] = ""
    #: True when the model checks its own input (MLflow pyfunc enforces its MLmodel schema), so a
    #: package with an empty shipyard signature passes the data through unchecked
    checks_own_input: ClassVar[bool] = False

    @classmethod
    @abc.abstractmethod
    def accepts(cls, model: Any) -> bool:
        """True when this flavor can save ``model`` (without importing the model library)."""

    @abc.abstractmethod
    def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
        """Write the model's files under ``folder``; return what :meth:`load` needs (JSON values)."""

    @abc.abstractmethod
    def load(
        self, files: Mapping[str, bytes], meta: dict[str, Any], trusted: Sequence[str], limits: UnpackLimits
    ) -> Any:
        """The model object from the package's (verified) files, by relative path; ``meta`` is
        what :meth:`save` returned. Loading works from memory: no files are written. It must run
        no code the platform did not choose: classes and modules named in the package are checked
        against an exact allow-list plus ``trusted`` *before* anything is imported; ``limits``
        bound anything unpacked."""

    def compile(self, model: Any, folder: Path, signature: Signature, example: Any) -> dict[str, Any]:
        """Write files that answer for ``model`` without its library (a compiled plan) under
        ``folder``, checked against ``model`` first; return flavor options naming them (JSON
        values, merged into what :meth:`save` returned), or nothing when there are none."""
        return {}

    def load_plan(
        self, files: Mapping[str, bytes], meta: dict[str, Any], trusted: Sequence[str], limits: UnpackLimits
    ) -> Plan | None:
        """The compiled plan the package holds (see :meth:`compile`), checked as :meth:`load`
        checks the model file, or None when it has none."""
        return None

    def predict(self, model: Any, data: Any) -> Any:
        return model.predict(data)

    def has_proba(self, model: Any) -> bool:
        return callable(getattr(model, "predict_proba", None))

    def predict_proba(self, model: Any, data: Any) -> Any:
        return model.predict_proba(data)

"""One predictor interface over every flavor: signature checked before the model sees the data."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.artifacts.unpack import UnpackLimits
from shipyard.core.errors import (
    ConfigurationError,
    InvalidInputError,
    SerializationError,
    ShipyardError,
    UntrustedContentError,
)
from shipyard.registry.flavors import Flavor, flavor_by_name
from shipyard.registry.package import read_folder, read_manifest
from shipyard.registry.signature import Signature, enforce

if TYPE_CHECKING:
    from shipyard.registry.plan_eval import Plan


class LoadedModel:
    """A model loaded from a package.

    ``predict(data)`` (and ``predict_proba(data)`` where the flavor has it) check ``data`` against
    :attr:`signature` first; see :mod:`shipyard.registry.signature` for the rules. When the package
    holds a compiled plan (:mod:`shipyard.registry.plan_eval`) and the model was not loaded with
    ``native=True``, :attr:`plan` answers with numpy alone, and :attr:`model` (also :attr:`native`:
    the library's own object) is loaded from the model file on first use, checked as ever.
    """

    def __init__(
        self,
        model: Any,
        flavor: Flavor,
        manifest: dict[str, Any],
        *,
        digest: str | None = None,
        uri: str | None = None,
        version: int | None = None,
        model_name: str | None = None,
        plan: Plan | None = None,
        load_native: Callable[[], Any] | None = None,
    ) -> None:
        self._model = model
        self._load_native = load_native
        self.plan = plan
        self.flavor = flavor
        self.metadata = manifest
        self.signature = Signature.from_dict(manifest.get("signature") or {})
        self.digest = digest
        self.uri = uri
        self.version = version
        self.model_name = model_name

    def __repr__(self) -> str:
        where = self.uri or (self.digest or "")[:12]
        return f"<LoadedModel {self.flavor.name} {where}>"

    @property
    def model(self) -> Any:
        """The library's own model object (loaded from the model file on first use after a plan)."""
        if self._load_native is not None:
            self._model = self._load_native()
            self._load_native = None
        return self._model

    @property
    def native(self) -> Any:
        """The same as :attr:`model`: the scikit-learn (...) object, however predictions are made."""
        return self.model

    @property
    def has_predict_proba(self) -> bool:
        return bool(self.metadata.get("has_predict_proba"))

    def _plan_input(self, data: Any) -> Any:
        """``data`` checked, as the plan's float matrix; None when the plan does not answer it (no
        plan, or an input the library's own model answers faster: a large one for a forest)."""
        if self.plan is None:
            return None
        from shipyard.registry.matrix import enforce_matrix

        matrix = enforce_matrix(self.signature, data)
        return None if self.plan.hands_over(matrix.shape[0]) else matrix

    def predict(self, data: Any) -> Any:
        matrix = self._plan_input(data)
        if matrix is not None:
            assert self.plan is not None
            return self.plan.predict(matrix)
        if not self.signature.inputs and self.flavor.checks_own_input:
            return self.flavor.predict(self.model, data)  # e.g. MLflow pyfunc: its own schema check
        return self.flavor.predict(self.model, enforce(self.signature, data))

    def predict_proba(self, data: Any) -> Any:
        if not self.has_predict_proba:
            raise InvalidInputError(f"this {self.flavor.name} model has no predict_proba; use predict(...)")
        matrix = self._plan_input(data)
        if matrix is not None:
            assert self.plan is not None
            return self.plan.predict_proba(matrix)
        return self.flavor.predict_proba(self.model, enforce(self.signature, data))


def load_package(
    files: Mapping[str, bytes],
    *,
    allow_unsafe: bool = False,
    trusted: Sequence[str] = (),
    digest: str | None = None,
    uri: str | None = None,
    version: int | None = None,
    model_name: str | None = None,
    limits: UnpackLimits | None = None,
    native: bool | None = None,
) -> LoadedModel:
    """Verify and load a package from its files: pickle packages are refused unless
    ``allow_unsafe``; classes the package names are checked against the flavor's allow-list plus
    ``trusted`` before anything is imported; ``limits`` bound what is unpacked (skops files).
    A compiled plan in the package answers predictions unless ``native`` (default: the
    ``SHIPYARD_NATIVE_MODELS`` variable, ``1``/``true``/``yes``) asks for the library's object."""
    where = package_label(uri, model_name, version, digest)
    try:
        manifest = read_manifest(files, verify=True)
        flavor = flavor_by_name(str(manifest.get("flavor")))
    except ShipyardError as exc:
        raise type(exc)(f"model {where}: {one_line(exc.message)}") from None
    if (manifest.get("unsafe") or flavor.unsafe) and not allow_unsafe:
        raise UntrustedContentError(
            f"model {where} is a pickle-based ({flavor.name}) package: loading it runs code from the "
            "package; pass allow_unsafe=True only if you trust who wrote it"
        )
    options = dict(manifest.get("flavor_options") or {})
    bounds = limits if limits is not None else UnpackLimits()

    def load_native() -> Any:
        return _load_model_file(flavor, files, options, trusted, bounds, manifest, where)

    if native is None:
        native = native_models_forced()
    plan = None
    if not native:
        try:
            plan = flavor.load_plan(files, options, trusted, bounds)
        except SerializationError as exc:
            raise type(exc)(f"model {where}: {one_line(exc.message)}") from None
    model = None if plan is not None else load_native()
    return LoadedModel(
        model,
        flavor,
        manifest,
        digest=digest,
        uri=uri,
        version=version,
        model_name=model_name,
        plan=plan,
        load_native=load_native if plan is not None else None,
    )


def native_models_forced() -> bool:
    """Whether ``SHIPYARD_NATIVE_MODELS`` asks every load for the library's own model object."""
    from shipyard.core.environ import shipyard_variables

    return shipyard_variables().get("native_models", "").strip().lower() in ("1", "true", "yes")


def _load_model_file(  # noqa: PLR0917 - one call site, the load's own values
    flavor: Flavor,
    files: Mapping[str, bytes],
    options: dict[str, Any],
    trusted: Sequence[str],
    limits: UnpackLimits,
    manifest: dict[str, Any],
    where: str,
) -> Any:
    try:
        return flavor.load(files, options, trusted, limits)
    except SerializationError as exc:
        raise type(exc)(f"model {where}: {one_line(exc.message)}") from None
    except ImportError as exc:
        pins = " ".join(f"{k}=={v}" for k, v in (manifest.get("requirements") or {}).items())
        raise ConfigurationError(
            f"model {where} ({flavor.name}) needs {exc.name or 'a library'} to load: "
            f"pip install {pins or exc.name}"
        ) from None
    except ShipyardError:
        raise
    except Exception as exc:  # the model library's own parse errors (zip, JSON, safetensors, C++...)
        raise SerializationError(
            f"model {where} cannot be loaded: its {flavor.name} model file is damaged "
            f"({type(exc).__name__}: {one_line(str(exc), 300)}){REREGISTER}"
        ) from None


#: the advice that ends a damaged package's load error
REREGISTER = "; log and register the model again"


def package_label(uri: str | None, model_name: str | None, version: int | None, digest: str | None) -> str:
    """How errors name a package: ``models:/name/3`` for a version (with the URI it was asked for
    when that differs, e.g. an alias), else the URI, the digest or "package"."""
    if model_name is not None and version is not None:
        canonical = f"models:/{model_name}/{version}"
        return canonical if uri in (None, canonical) else f"{uri} ({canonical})"
    return uri or digest or "package"


def one_line(text: str, limit: int | None = None) -> str:
    """The first non-empty line of ``text``, cut at ``limit`` characters when given (a library's
    error can carry a C++ stack or a whole document)."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return first if limit is None or len(first) <= limit else first[: limit - 3] + "..."


def load_from_folder(
    folder: Path, *, allow_unsafe: bool = False, trusted: Sequence[str] = (), native: bool | None = None
) -> LoadedModel:
    """Load an unpacked package folder (e.g. one fetched with ``shipyard artifacts get``)."""
    return load_package(
        read_folder(folder), allow_unsafe=allow_unsafe, trusted=trusted, uri=str(folder), native=native
    )

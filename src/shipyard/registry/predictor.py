"""One predictor interface over every flavor: signature checked before the model sees the data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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


class LoadedModel:
    """A model loaded from a package.

    ``predict(data)`` (and ``predict_proba(data)`` where the flavor has it) check ``data`` against
    :attr:`signature` first; see :mod:`shipyard.registry.signature` for the rules.
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
    ) -> None:
        self.model = model
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
    def has_predict_proba(self) -> bool:
        return bool(self.metadata.get("has_predict_proba"))

    def predict(self, data: Any) -> Any:
        if not self.signature.inputs and self.flavor.checks_own_input:
            return self.flavor.predict(self.model, data)  # e.g. MLflow pyfunc: its own schema check
        return self.flavor.predict(self.model, enforce(self.signature, data))

    def predict_proba(self, data: Any) -> Any:
        if not self.has_predict_proba:
            raise InvalidInputError(f"this {self.flavor.name} model has no predict_proba; use predict(...)")
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
) -> LoadedModel:
    """Verify and load a package from its files: pickle packages are refused unless
    ``allow_unsafe``; classes the package names are checked against the flavor's allow-list plus
    ``trusted`` before anything is imported; ``limits`` bound what is unpacked (skops files)."""
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
    try:
        model = flavor.load(files, options, trusted, limits if limits is not None else UnpackLimits())
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
    return LoadedModel(
        model, flavor, manifest, digest=digest, uri=uri, version=version, model_name=model_name
    )


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


def load_from_folder(folder: Path, *, allow_unsafe: bool = False, trusted: Sequence[str] = ()) -> LoadedModel:
    """Load an unpacked package folder (e.g. one fetched with ``shipyard artifacts get``)."""
    return load_package(read_folder(folder), allow_unsafe=allow_unsafe, trusted=trusted, uri=str(folder))

"""One predictor interface over every flavor: signature checked before the model sees the data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.artifacts.unpack import UnpackLimits
from shipyard.core.errors import ConfigurationError, InvalidInputError, SerializationError
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
    manifest = read_manifest(files, verify=True)
    flavor = flavor_by_name(str(manifest.get("flavor")))
    where = uri or digest or "package"
    if (manifest.get("unsafe") or flavor.unsafe) and not allow_unsafe:
        raise SerializationError(
            f"model {where} is a pickle-based ({flavor.name}) package: loading it runs code from the "
            "package; pass allow_unsafe=True only if you trust who wrote it"
        )
    options = dict(manifest.get("flavor_options") or {})
    try:
        model = flavor.load(files, options, trusted, limits if limits is not None else UnpackLimits())
    except SerializationError as exc:
        raise SerializationError(f"model {where}: {exc.message}") from None
    except ImportError as exc:
        pins = " ".join(f"{k}=={v}" for k, v in (manifest.get("requirements") or {}).items())
        raise ConfigurationError(
            f"model {where} ({flavor.name}) needs {exc.name or 'a library'} to load: "
            f"pip install {pins or exc.name}"
        ) from None
    return LoadedModel(
        model, flavor, manifest, digest=digest, uri=uri, version=version, model_name=model_name
    )


def load_from_folder(folder: Path, *, allow_unsafe: bool = False, trusted: Sequence[str] = ()) -> LoadedModel:
    """Load an unpacked package folder (e.g. one fetched with ``shipyard artifacts get``)."""
    return load_package(read_folder(folder), allow_unsafe=allow_unsafe, trusted=trusted, uri=str(folder))

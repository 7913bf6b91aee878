"""Loading a registered model from the embedded local store without opening the full stores.

``shipyard.load_model("models:/NAME/N")`` in a fresh process used to open the process's
:class:`~shipyard.tracking.stores.Stores` (pydantic settings, the SQL store and SQLAlchemy, the
tracking client) only to look up one version row and read one blob: about a fifth of loading a
scikit-learn model. :func:`load_local` does the same two reads with the standard library when the
process uses the embedded defaults, and hands back ``None`` (use the full path) otherwise:

- the URI is ``models:/NAME/N``, ``models:/NAME@ALIAS`` or ``models:/NAME/latest`` (a ``runs:/``
  URI needs the run's artifacts: full path);
- no ``SHIPYARD_*`` variable is set other than ``HOME``, ``USER``, ``NAMESPACE``, ``NATIVE_MODELS``
  and the unpack limits ``UNPACK_MAX_BYTES`` / ``UNPACK_MAX_MEMBERS`` (whole numbers above 0;
  anything else, or a server, a database URI, an artifact root, a branch...: full path);
- the SQLite file exists and is at this code's schema head
  (:class:`~shipyard.metadata.sqlite_registry_read.SqliteVersionReader`);
- the version (or alias, or latest) exists; a miss goes the full way for its precise error.

What is loaded is checked exactly as on the full path: the package's bytes are verified against
their sha256 content address by the same :class:`~shipyard.artifacts.store.ArtifactStore`, and
:func:`~shipyard.registry.predictor.load_package` applies the same refusals (pickle without
``allow_unsafe``, the skops type allow-list plus ``trusted``). Nothing is cached between processes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.artifacts.unpack import UnpackLimits
    from shipyard.registry.predictor import LoadedModel

#: SHIPYARD_* variables this path understands; any other one sends the load the full way
_LIMIT_VARIABLES = ("unpack_max_bytes", "unpack_max_members")
_KNOWN_VARIABLES = frozenset({"home", "user", "namespace", "native_models", *_LIMIT_VARIABLES})


def local_home() -> Path | None:
    """``SHIPYARD_HOME`` (or the default home) when the process uses the embedded defaults, else
    None (some other ``SHIPYARD_*`` variable is set: the full settings decide)."""
    from shipyard.core.environ import default_home, shipyard_variables

    variables = shipyard_variables()
    if not set(variables) <= _KNOWN_VARIABLES:
        return None
    return Path(variables["home"]) if "home" in variables else default_home()


def local_limits() -> UnpackLimits | None:
    """The unpack limits the settings would give (their defaults, or SHIPYARD_UNPACK_MAX_BYTES /
    _MEMBERS as whole numbers above 0); None for a value the full settings must judge."""
    from shipyard.artifacts.unpack import UnpackLimits
    from shipyard.core.environ import shipyard_variables

    variables = shipyard_variables()
    given: dict[str, int] = {}
    for name in _LIMIT_VARIABLES:
        if name in variables:
            text = variables[name].strip()
            if not text.isdigit() or int(text) < 1:
                return None  # the settings' own one-line error
            given[name.removeprefix("unpack_")] = int(text)
    return UnpackLimits(**given)


def load_local(
    uri: str, *, allow_unsafe: bool = False, trusted: Sequence[str] = (), native: bool | None = None
) -> LoadedModel | None:
    """The model ``uri`` names, loaded from the embedded store; None when the full path must
    answer (see the module doc)."""
    from shipyard.registry.uri import parse_model_uri

    ref = parse_model_uri(uri)  # a malformed URI: the same error as the full path
    if ref.name is None:
        return None
    home = local_home()
    if home is None:
        return None
    from shipyard.metadata.sqlite_registry_read import SqliteVersionReader

    reader = SqliteVersionReader.open(home / "shipyard.db")
    if reader is None:
        return None
    with reader:
        try:
            if ref.alias is not None:
                found = reader.alias(ref.name, ref.alias)
            elif ref.version is not None:
                found = reader.version(ref.name, ref.version)
            else:
                found = reader.latest(ref.name)
        except sqlite3.Error:  # busy past the timeout, damaged: the full store says what is wrong
            return None
    if found is None:
        return None
    from shipyard.artifacts.backends.local import LocalBackend
    from shipyard.artifacts.store import ArtifactStore
    from shipyard.registry.package import files_from_tar
    from shipyard.registry.predictor import load_package, package_label

    limits = local_limits()
    if limits is None:
        return None
    artifacts = ArtifactStore(LocalBackend(home / "artifacts"), limits)
    try:
        label = package_label(uri, found.model_name, found.version, found.package_digest)
        data = artifacts.get_bytes(found.package_digest, label)  # sha256-verified
        return load_package(
            files_from_tar(data, label, artifacts.limits),
            allow_unsafe=allow_unsafe,
            trusted=trusted,
            digest=found.package_digest,
            uri=uri,
            version=found.version,
            model_name=found.model_name,
            limits=artifacts.limits,
            native=native,
        )
    finally:
        artifacts.close()

"""A version must load before it can be approved or aliased.

``check_version_loads`` reads the version's package the way serving does (sha256-verified blob,
bounded tar, per-file hashes in ``model.yaml``, the flavor's safe loader with no extra trust) and,
when the package has an input example, predicts it (``predict_proba`` too where the flavor has it;
with the library's own model and with the package's compiled plan, when it has one):
an error, or a non-finite prediction on a finite example, refuses the change with one line naming
the version and the cause. What cannot be checked here is let through, never guessed at: a package
that needs trust the caller did not give (a pickle package, a class off the allow-list: serving
needs ``--allow-unsafe-model`` / ``--trust`` for it, and then loads it itself), a model library
this process does not have, or a package that is not in this store at all (the registry API lets a
version be registered by digest alone; loading it then answers "not found").

There is no switch to skip the check: a version that does not load cannot be served, so an alias
or an approval pointing at it only moves the failure to serve time; the fix is a new version.

The SDK runs it where the registry is local; against a server, the server runs it (the REST routes
for aliases and approval call it) on its own copy of the package.
"""

from __future__ import annotations

import math
from typing import Any

from shipyard.core.errors import (
    ConfigurationError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    SerializationError,
    ShipyardError,
    UntrustedContentError,
)
from shipyard.metadata.model_registry import ModelVersion
from shipyard.registry.package import EXAMPLE, files_from_tar, read_example
from shipyard.registry.predictor import REREGISTER, load_package, one_line
from shipyard.tracking.stores import Stores


def check_version_loads(stores: Stores, version: ModelVersion, action: str) -> None:
    """Refuse ``action`` (e.g. "set alias 'champion' to") with a ConflictError when ``version``'s
    package does not load or cannot predict its own input example (see the module doc)."""
    where = f"models:/{version.model_name}/{version.version}"
    limits = stores.artifacts.limits
    try:
        data = stores.artifacts.get_bytes(version.package_digest, where)  # sha256-verified
        files = files_from_tar(data, where, limits)
        model, planned = (
            load_package(
                files,
                digest=version.package_digest,
                version=version.version,
                model_name=version.model_name,
                limits=limits,
                native=native,
            )
            for native in (True, False)
        )
    except (UntrustedContentError, ConfigurationError):
        return  # needs trust or a library only the serving side has: it is checked there
    except NotFoundError:
        return  # no package in this store (a version registered by digest alone): nothing to judge
    except (SerializationError, IntegrityError) as exc:
        raise _refusal(action, where, "its package does not load", exc.message) from None
    if EXAMPLE not in files:
        return
    try:
        example = read_example(files[EXAMPLE], where)
        outputs = []
        for loaded in {id(m): m for m in (model, planned) if m is model or m.plan is not None}.values():
            outputs.append(loaded.predict(example))
            if loaded.has_predict_proba:
                outputs.append(loaded.predict_proba(example))
    except ShipyardError as exc:
        raise _refusal(action, where, "it cannot predict its input example", exc.message) from None
    except Exception as exc:  # the model's own code failed on its own example
        cause = f"{type(exc).__name__}: {one_line(str(exc), 300)}"
        raise _refusal(action, where, "it cannot predict its input example", cause) from None
    if _finite(example) and not all(_finite(out) for out in outputs):
        raise _refusal(
            action,
            where,
            "it predicts NaN or infinity for its finite input example",
            "its weights may be damaged",
        )


def _refusal(action: str, where: str, what: str, cause: str) -> ConflictError:
    for prefix in (f"model {where} cannot be loaded: ", f"model {where}: ", f"model {where} "):
        if cause.startswith(prefix):
            cause = cause[len(prefix) :]
            break
    cause = cause.removesuffix(REREGISTER)
    return ConflictError(
        f"cannot {action} {where}: {what} ({one_line(cause)}); log and register a working version instead"
    )


def _finite(values: Any) -> bool:
    """True unless ``values`` (a DataFrame, array or list) holds a NaN or infinite number."""
    import numpy as np

    frame_values = getattr(values, "select_dtypes", None)
    if frame_values is not None:  # a DataFrame: only its numeric columns
        values = values.select_dtypes("number").to_numpy(dtype=float, na_value=math.nan)
    array = np.asarray(values)
    if array.dtype.kind not in "fc":
        return True
    return bool(np.isfinite(array).all())

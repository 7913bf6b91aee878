"""Import ``skops.io`` without the second or two its trusted-type defaults cost.

``skops.io`` computes its default trusted-type lists when it is imported
(``skops.io._trusted_types``): the estimator list from ``sklearn.utils.all_estimators()``, which
imports every module of scikit-learn (and, through its array-API layer, torch when installed), and
the scipy ufunc list by searching every loaded module for each of ~230 functions. That is more
than the rest of loading a model. shipyard never relies on those defaults:
:mod:`~shipyard.artifacts.serializers.skops_audit` checks every name a file holds against its
own allow-list first, then passes skops exactly the names that passed.

So before ``skops.io`` is first imported, :func:`skops_io` puts in place a
``skops.io._trusted_types`` holding the same lists, computed without those costs:

- the estimators come from shipyard's explicit table
  (:func:`~shipyard.artifacts.serializers.skops_types.estimator_names`: text compiled into the
  package, the estimators of scikit-learn 1.9 by defining module);
- the other lists are computed as skops computes them, with its module search done in one pass
  over the loaded modules instead of one pass per function.

``tests/artifacts/test_skops_import.py`` checks every list equals what a plain ``import skops.io``
computes with the installed libraries. Nothing is read from a cache or any file, so the trust skops
applies is never wider than what the installed packages themselves hold. A skops that asks the
module for a name it lacks gets the real module (slow, same behaviour).
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
import warnings
from collections.abc import Iterable
from typing import Any

_MODULE = "skops.io._trusted_types"
_LOCK = threading.Lock()

#: skops's own internal-type list (skops.io._trusted_types: loss and link functions, the binner)
_SKLEARN_INTERNALS = (
    "sklearn._loss.link.HalfLogitLink",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.ExponentialLoss",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfGammaLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.HuberLoss",
    "sklearn._loss.loss.PinballLoss",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
)


def _modules_of(objects: dict[str, Any]) -> dict[str, str]:
    """For each ``name -> obj`` without ``__module__``: the first loaded module (in import order)
    whose attribute ``name`` is ``obj``, like skops's ``whichmodule`` ("__main__" when none).
    Plain modules are matched through their ``__dict__`` in one set intersection; a module with
    its own ``__getattr__`` (or not a plain module) through ``getattr``, as skops does."""
    pending = dict(objects)
    found: dict[str, str] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for module_name, module in list(sys.modules.items()):
            if not pending:
                break
            if module_name in ("__main__", "__mp_main__") or module is None:
                continue
            namespace = getattr(module, "__dict__", None)
            exact = type(module) is types.ModuleType and isinstance(namespace, dict)
            if exact and namespace is not None and "__getattr__" not in namespace:
                candidates: Iterable[str] = pending.keys() & namespace.keys()
            else:
                candidates = list(pending)
            for name in list(candidates):
                try:
                    value = getattr(module, name, None)
                except (AttributeError, ImportError):
                    continue
                if value is pending[name]:
                    found[name] = module_name
                    del pending[name]
    found.update(dict.fromkeys(pending, "__main__"))
    return found


def _public_type_names(module: types.ModuleType, oftype: tuple[type, ...]) -> list[str]:
    """skops's ``get_public_type_names``: public objects of ``oftype`` whose full name starts
    with the module's parent package name."""
    prefix = module.__name__.rpartition(".")[0]
    objects = {attr: getattr(module, attr) for attr in dir(module)}
    chosen = {attr: obj for attr, obj in objects.items() if issubclass(obj.__class__, oftype)}
    names: set[str] = set()
    anonymous = {obj.__name__: obj for obj in chosen.values() if getattr(obj, "__module__", None) is None}
    located = _modules_of(anonymous)
    for obj in chosen.values():
        module_name = getattr(obj, "__module__", None) or located[obj.__name__]
        name = f"{module_name}.{obj.__name__}"
        if name.startswith(prefix):
            names.add(name)
    return sorted(names)


def _scipy_ufunc_wrapper() -> type | None:
    """skops's ``get_scipy_ufunc_wrapper_type`` (scipy >= 2 wraps some ufuncs)."""
    import numpy as np
    from scipy import special

    probe = getattr(special, "exp10", None)
    if probe is None or isinstance(probe, np.ufunc):
        return None
    for base in type(probe).__mro__:
        if base.__name__ == "_UFuncWrapper":
            return base
    return None


def trusted_types_module() -> types.ModuleType:
    """A stand-in for ``skops.io._trusted_types`` (see the module docstring)."""
    import numpy as np
    import scipy.special
    import sklearn.utils  # what the real module imports first (sklearn.base, scipy.stats...)

    from shipyard.artifacts.serializers.skops_types import estimator_names

    del sklearn
    primitives: list[type[Any]] = [int, float, str, bool]
    containers: list[type[Any]] = [list, set, map, tuple]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=DeprecationWarning)
        wrapper = _scipy_ufunc_wrapper()
        ufunc_types: tuple[type, ...] = (np.ufunc,) if wrapper is None else (np.ufunc, wrapper)
        scipy_ufuncs = _public_type_names(scipy.special, ufunc_types)
    dtypes = {f"{getattr(t, '__module__', None) or 'builtins'}.{t.__name__}" for t in np.sctypeDict.values()}
    module = types.ModuleType(_MODULE, "shipyard's stand-in: skops's default trusted types")
    values: dict[str, Any] = {
        "PRIMITIVES_TYPES": primitives,
        "PRIMITIVE_TYPE_NAMES": ["builtins." + t.__name__ for t in primitives],
        "CONTAINER_TYPES": containers,
        "CONTAINER_TYPE_NAMES": ["builtins." + t.__name__ for t in containers],
        "SKLEARN_ESTIMATOR_TYPE_NAMES": sorted(estimator_names()),
        "SKLEARN_INTERNAL_TYPE_NAMES": list(_SKLEARN_INTERNALS),
        "SCIPY_UFUNC_TYPE_NAMES": scipy_ufuncs,
        "NUMPY_UFUNC_TYPE_NAMES": _public_type_names(np, (np.ufunc,)),
        "NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES": sorted(
            f"numpy.random.{attr}"
            for attr in dir(np.random)
            if isinstance(obj := getattr(np.random, attr), type)
            and issubclass(obj, np.random.BitGenerator)
            and obj is not np.random.BitGenerator
        ),
        "NUMPY_DTYPE_TYPE_NAMES": sorted(name for name in dtypes if name.startswith("numpy")),
    }
    for key, value in values.items():
        setattr(module, key, value)
    return module


def skops_io() -> types.ModuleType:
    """``skops.io``, imported with the stand-in defaults when nothing imported it yet."""
    if "skops.io" not in sys.modules:
        with _LOCK:
            if "skops.io" not in sys.modules and _MODULE not in sys.modules:
                sys.modules[_MODULE] = trusted_types_module()
                try:
                    return importlib.import_module("skops.io")
                except ImportError:  # a skops wanting a name the stand-in lacks: the real one below
                    for name in [m for m in sys.modules if m == "skops.io" or m.startswith("skops.io.")]:
                        del sys.modules[name]
    return importlib.import_module("skops.io")  # waits for an import another thread started

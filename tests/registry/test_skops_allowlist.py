"""The skops allow-list is explicit, exact and in step with the installed libraries."""

from __future__ import annotations

import importlib
import warnings

import pytest

from shipyard.artifacts.serializers.skops_types import allowed_by_loader, never_trusted


def test_every_installed_estimator_is_on_the_list() -> None:
    """Fails when a scikit-learn upgrade adds or moves an estimator: add it to _ESTIMATORS."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sklearn.utils import all_estimators

        estimators = {f"{cls.__module__}.{cls.__qualname__}" for _, cls in all_estimators()}
    assert estimators - allowed_by_loader()["ObjectNode"] == set()


def test_every_listed_name_exists() -> None:
    """No typos: each allowed name imports (numpy 1.x-only spellings excepted)."""
    missing = []
    for names in allowed_by_loader().values():
        for name in names:
            module, _, attr = name.rpartition(".")
            try:
                getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError):
                missing.append(name)
    assert set(missing) <= {"numpy.bool_", "numpy.float128", "numpy.complex256"}


def test_no_wildcards_and_no_code_runners() -> None:
    for loader, names in allowed_by_loader().items():
        for name in names:
            assert not name.endswith((".", "*")) and not never_trusted(name), (loader, name)
    assert allowed_by_loader()["ConstructorFromReduceNode"] == frozenset()


@pytest.mark.parametrize(
    "name",
    [
        "builtins.exec",
        "builtins.eval",
        "os.system",
        "subprocess.Popen",
        "operator.attrgetter",
        "numpy.load",
        "numpy.lib._npyio_impl.load",
        "functools.reduce",
        "pickle.loads",
        "joblib.load",
    ],
)
def test_code_runners_are_never_trusted(name: str) -> None:
    assert never_trusted(name)


@pytest.mark.parametrize(
    "name", ["builtins.str", "builtins.list", "functools.partial", "sklearn.pipeline.Pipeline", "mypkg.Shift"]
)
def test_data_types_and_own_classes_can_be_trusted(name: str) -> None:
    assert not never_trusted(name)

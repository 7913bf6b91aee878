"""Dataset references: ``datasets:/NAME/VERSION``, ``datasets:/NAME@ALIAS``, ``datasets:/NAME/latest``;
the CLI also takes the short forms ``NAME``, ``NAME/3`` and ``NAME@alias``."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.core.errors import InvalidInputError
from shipyard.core.names import validate_alias_name, validate_name

SCHEME = "datasets:/"
_FORMS = "datasets:/NAME/VERSION, datasets:/NAME@ALIAS or datasets:/NAME/latest"


@dataclass(frozen=True)
class DatasetRef:
    """A dataset and at most one of (version, alias); neither means the latest version."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{SCHEME}{self.name}@{self.alias}"
        return f"{SCHEME}{self.name}/{self.version if self.version is not None else 'latest'}"


def validate_dataset_name(name: object, *, new: bool = False) -> str:
    """A dataset's name: a flat name (no '/'), unique among datasets by canonical form."""
    return validate_name("dataset", name, new=new)


def parse_dataset_uri(text: str) -> DatasetRef:
    """``datasets:/NAME/3`` (or ``NAME/3``), ``NAME@alias``, ``NAME/latest`` or just ``NAME``."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"a dataset reference is empty; expected {_FORMS}")
    body = text.removeprefix(SCHEME)
    if "://" in body or body.startswith("/"):
        raise InvalidInputError(f"{text!r} is not a dataset reference; expected {_FORMS}")
    if "@" in body:
        name, _, alias = body.partition("@")
        return DatasetRef(validate_dataset_name(name), alias=validate_alias_name(alias))
    name, sep, version = body.partition("/")
    name = validate_dataset_name(name)
    if not sep or version == "latest":
        return DatasetRef(name)
    if not version.isdigit() or int(version) < 1:
        raise InvalidInputError(f"{text!r}: version {version!r} is not a positive number; expected {_FORMS}")
    return DatasetRef(name, version=int(version))

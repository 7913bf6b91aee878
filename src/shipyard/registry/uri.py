"""Model references: ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``, ``models:/NAME/latest`` and
``runs:/RUN_ID/ARTIFACT``; the CLI also accepts the short forms ``NAME``, ``NAME/3`` and ``NAME@alias``."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.core import names
from shipyard.core.errors import InvalidInputError
from shipyard.core.names import validate_key

_FORMS = "models:/NAME/VERSION, models:/NAME@ALIAS, models:/NAME/latest or runs:/RUN_ID/ARTIFACT"


@dataclass(frozen=True)
class ModelRef:
    """What a URI names: exactly one of (version, alias, latest) for models, or (run_id, artifact)."""

    name: str | None = None
    version: int | None = None
    alias: str | None = None
    latest: bool = False
    run_id: str | None = None
    artifact: str | None = None

    def __str__(self) -> str:
        if self.run_id is not None:
            return f"runs:/{self.run_id}/{self.artifact}"
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        if self.version is not None:
            return f"models:/{self.name}/{self.version}"
        return f"models:/{self.name}/latest"


def validate_model_name(name: object, *, new: bool = False) -> str:
    return names.validate_model_name(name, new=new)


def validate_alias(alias: object, *, new: bool = False) -> str:
    return names.validate_alias_name(alias, new=new)


def parse_version(text: object) -> int:
    try:
        value = int(str(text))
    except ValueError:
        raise InvalidInputError(f"model version must be a positive integer, got {text!r}") from None
    if value < 1 or str(text).strip() != str(value):
        raise InvalidInputError(f"model version must be a positive integer, got {text!r}")
    return value


def _model_part(rest: str, uri: str) -> ModelRef:
    if "@" in rest:
        name, _, alias = rest.partition("@")
        return ModelRef(name=validate_model_name(name), alias=validate_alias(alias))
    name, sep, version = rest.partition("/")
    if not sep:
        return ModelRef(name=validate_model_name(name), latest=True)
    if version == "latest":
        return ModelRef(name=validate_model_name(name), latest=True)
    if not version:
        raise InvalidInputError(f"model URI {uri!r} has no version after '/'; use {_FORMS}")
    return ModelRef(name=validate_model_name(name), version=parse_version(version))


def parse_model_uri(uri: object) -> ModelRef:
    """Parse a full URI (see module doc)."""
    if not isinstance(uri, str) or not uri:
        raise InvalidInputError(f"model URI must be a non-empty string like {_FORMS}")
    if uri.startswith("models:/"):
        return _model_part(uri[len("models:/") :], uri)
    if uri.startswith("runs:/"):
        run_id, sep, artifact = uri[len("runs:/") :].partition("/")
        if not run_id or not sep or not artifact:
            raise InvalidInputError(f"run model URI {uri!r} must look like runs:/RUN_ID/ARTIFACT")
        return ModelRef(run_id=run_id, artifact=validate_key("artifact", artifact))
    raise InvalidInputError(f"cannot read model URI {uri!r}; use {_FORMS}")


def parse_model_spec(spec: str) -> ModelRef:
    """A CLI spec: ``NAME``, ``NAME/VERSION``, ``NAME@ALIAS`` (or any full URI)."""
    if spec.startswith(("models:/", "runs:/")):
        return parse_model_uri(spec)
    return _model_part(spec, spec)

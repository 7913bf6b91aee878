"""What a step or a flow declares about its environment, checked when it is declared.

``@step(pip=["xgboost==2.1.*"], python="3.11", image="registry/x:tag")`` and ``@flow(pip=[...],
requirements="requirements.txt", python="3.11")``. Nothing is resolved or installed here (the flows
layer never executes): :mod:`shipyard.runtime.envs` turns the declarations into a lock and a cached
environment when a run starts. :func:`merge_pins` is the one rule for a step's pins over its flow's:
a step may add packages and narrow a flow's pin, never contradict it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import FlowError

if TYPE_CHECKING:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

_PYTHON = re.compile(r"3\.\d{1,2}")
# an image reference: [host[:port]/]path[:tag][@sha256:digest], lower-case path components
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(
    rf"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)


@dataclass(frozen=True)
class EnvSpec:
    """Declared dependencies: ``pip`` requirement strings, a ``python`` version (``"3.11"``), a
    ``requirements`` file (flow level, relative to the flow file) and an ``image`` (step level,
    for exported runs)."""

    pip: tuple[str, ...] = ()
    python: str | None = None
    requirements: str | None = None
    image: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.pip:
            out["pip"] = list(self.pip)
        if self.python:
            out["python"] = self.python
        if self.requirements:
            out["requirements"] = self.requirements
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EnvSpec:
        data = data or {}
        return cls(
            pip=tuple(data.get("pip") or ()),
            python=data.get("python"),
            requirements=data.get("requirements"),
        )


def parse_env(
    owner: str,
    *,
    pip: Sequence[str] | None = None,
    python: str | None = None,
    requirements: str | None = None,
    image: str | None = None,
) -> EnvSpec:
    """The checked declaration of ``owner`` (``step 'train'``, ``flow 'training'``)."""
    return EnvSpec(
        pip=parse_pip(owner, pip),
        python=_parse_python(owner, python),
        requirements=_parse_requirements_file(owner, requirements),
        image=_parse_image(owner, image),
    )


def parse_pip(owner: str, value: Sequence[str] | None) -> tuple[str, ...]:
    """Requirement strings (PEP 508), e.g. ``["six==1.16.0", "numpy>=1.26"]``."""
    if value is None:
        return ()
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise FlowError(f'{owner}: pip is a list of requirements, e.g. pip=["xgboost==2.1.*"]')
    out: list[str] = []
    for text in value:
        out.append(parse_requirement(owner, text))
    return tuple(out)


def parse_requirement(owner: str, text: str) -> str:
    text = text.strip()
    if not text or text.startswith("-"):
        raise FlowError(
            f"{owner}: {text!r} is not a requirement; write a package with its version, e.g. 'six==1.16.0'"
        )
    from packaging.requirements import InvalidRequirement, Requirement  # only for flows that declare pins

    try:
        Requirement(text)
    except InvalidRequirement as exc:
        first = str(exc).splitlines()[0]
        raise FlowError(f"{owner}: invalid requirement {text!r} ({first})") from None
    return text


def _parse_python(owner: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _PYTHON.fullmatch(value):
        raise FlowError(f"{owner}: python={value!r} is not a version like '3.11'")
    return value


def _parse_requirements_file(owner: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise FlowError(f"{owner}: requirements is a file name, e.g. requirements='requirements.txt'")
    return value


def _parse_image(owner: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 255 or not _IMAGE.fullmatch(value):
        raise FlowError(f"{owner}: image={value!r} is not an image reference like 'registry.io/team/x:1.2'")
    return value


def _exact(spec: SpecifierSet) -> Version | None:
    """The version an ``==X`` (not ``==X.*``) clause pins, if any."""
    from packaging.version import InvalidVersion, Version

    for clause in spec:
        if clause.operator in ("==", "===") and not clause.version.endswith(".*"):
            try:
                return Version(clause.version)
            except InvalidVersion:
                return None
    return None


def merge_pins(owner: str, flow_pins: Sequence[str], step_pins: Sequence[str]) -> tuple[str, ...]:
    """The flow's requirements plus the step's. FlowError naming the package and both pins when a
    step's pin contradicts the flow's (an exact version one side pins that the other excludes); a
    conflict this cannot decide is left to the resolver, which names it just as well."""
    if not flow_pins or not step_pins:  # nothing to contradict (and no packaging to import)
        return tuple(dict.fromkeys([*flow_pins, *step_pins]))
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    flow_by_name: dict[str, Requirement] = {}
    for text in flow_pins:
        req = Requirement(text)
        flow_by_name.setdefault(canonicalize_name(req.name), req)
    for text in step_pins:
        req = Requirement(text)
        other = flow_by_name.get(canonicalize_name(req.name))
        if other is None or other.specifier == req.specifier:
            continue
        for pin, against in ((req, other), (other, req)):
            version = _exact(pin.specifier)
            if version is not None and not against.specifier.contains(version, prereleases=True):
                raise FlowError(
                    f"{owner} pins {str(req)!r} but its flow pins {str(other)!r}: no version of "
                    f"{req.name} satisfies both; drop or change one of the pins"
                )
    merged = list(dict.fromkeys([*flow_pins, *step_pins]))
    return tuple(merged)


__all__ = ["EnvSpec", "merge_pins", "parse_env", "parse_pip", "parse_requirement"]

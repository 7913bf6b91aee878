"""An experiment as data: what ``shipyard.yaml``'s ``experiments`` section and ``shipyard
experiment start`` declare (pure; pydantic, unknown keys refused).

.. code-block:: yaml

    experiments:
      fraud-v4:
        deployment: fraud             # the production service (its prediction log is read)
        environment: production
        challenger: models:/fraud/4   # a model version served beside production, or a deployment
        share: 10                     # percent of traffic (or of assignment units) to the challenger
        unit: customer_id             # sticky by this request key; "request" (default): by request id
        metrics:                      # the first decides; the others are shown
          - name: accuracy            # model quality once labels arrive
          - name: latency_ms
          - name: outcome:revenue     # a business metric from shipyard.log_outcome
        min_samples: 1000             # rows per arm before any decision
        window: 1h                    # one look per window
        guardrails:
          error_rate: 0.02            # challenger's error rate worse by more than 2 points: stop
          p99_latency_ms: 50          # challenger's p99 latency worse by more than 50 ms: stop
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: per-row metrics the prediction log (with labels) gives, and whether higher is better
BUILTIN_METRICS: dict[str, bool] = {
    "accuracy": True,  # 1 when the prediction equals the label (classification)
    "log_loss": False,  # -log p(label) from the logged probabilities (binary)
    "squared_error": False,  # regression
    "absolute_error": False,
    "latency_ms": False,
    "error_rate": False,  # 1 for a request the model failed on (500/504)
}
OUTCOME_PREFIX = "outcome:"
_OUTCOME = re.compile(r"^outcome:[A-Za-z0-9_.\-]{1,100}$")
_UNIT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")
_CHALLENGER = re.compile(
    r"^(models:/[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}/[1-9][0-9]{0,8}|[a-z]([a-z0-9-]{0,61}[a-z0-9])?)$"
)
_WINDOW = re.compile(r"^[1-9][0-9]*[mhd]$")
STATUSES = ("running", "stopped", "promoted")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSpec(_Strict):
    name: str
    higher_is_better: bool | None = None  # default: the built-in's direction; outcomes: higher
    margin: Annotated[float, Field(ge=0)] | None = None  # "not worse" within this many units

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in BUILTIN_METRICS and not _OUTCOME.match(name):
            known = ", ".join(BUILTIN_METRICS)
            raise ValueError(f"metric {name!r}: use one of {known}, or outcome:NAME for shipyard.log_outcome")
        return name

    @property
    def higher(self) -> bool:
        if self.higher_is_better is not None:
            return self.higher_is_better
        return BUILTIN_METRICS.get(self.name, True)


class Guardrails(_Strict):
    error_rate: Annotated[float, Field(gt=0, le=1)] | None = None
    p99_latency_ms: Annotated[float, Field(gt=0)] | None = None
    min_requests: Annotated[int, Field(ge=1)] = 500  # per arm, before a p99 is compared


class ExperimentSpec(_Strict):
    """One experiment (see the module doc)."""

    deployment: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
    environment: str = Field(default="production", pattern=r"^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$")
    challenger: str
    share: Annotated[float, Field(gt=0, lt=100)] = 10
    unit: str = "request"
    metrics: list[MetricSpec] = Field(default_factory=lambda: [MetricSpec(name="accuracy")], min_length=1)
    min_samples: Annotated[int, Field(ge=10, le=10**9)] = 1000
    window: str = "1h"
    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    guardrails: Guardrails = Guardrails()
    status: Literal["running", "stopped", "promoted"] = "running"
    reason: str | None = None  # why it stopped

    @field_validator("challenger")
    @classmethod
    def _challenger(cls, value: str) -> str:
        if not _CHALLENGER.match(value):
            raise ValueError(
                f"challenger {value!r}: use a model version like models:/fraud/4 or a deployment name"
            )
        return value

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str) -> str:
        if not _UNIT.match(value):
            raise ValueError(f"unit {value!r}: use 'request' or a request key like customer_id")
        return value

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        if not _WINDOW.match(value):
            raise ValueError(f"window {value!r}: use a span like 30m, 1h or 1d")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> ExperimentSpec:
        if len({m.name for m in self.metrics}) != len(self.metrics):
            raise ValueError("each metric may be listed once")
        return self

    @property
    def challenger_version(self) -> int | None:
        """The challenger's model version (None: the challenger is a deployment)."""
        return int(self.challenger.rsplit("/", 1)[1]) if self.challenger.startswith("models:/") else None

    @property
    def challenger_model(self) -> str | None:
        return (
            self.challenger[len("models:/") :].rsplit("/", 1)[0]
            if self.challenger.startswith("models:/")
            else None
        )

    @property
    def sticky_key(self) -> str | None:
        """The request key units are assigned by (None: each request on its own)."""
        return None if self.unit == "request" else self.unit

    @property
    def effective_share(self) -> float:
        """The challenger's traffic now: 0 once stopped."""
        return self.share if self.status == "running" else 0.0

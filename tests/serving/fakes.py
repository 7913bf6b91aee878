"""Python-flavor (pickle) models for the serving tests: importable, so they pickle by reference."""

from __future__ import annotations

import time
from typing import Any


class Exploding:
    """Raises on every call (a shadow that must never affect responses)."""

    def predict(self, frame: Any) -> Any:
        raise RuntimeError("boom: this model always fails")


class Slow:
    """Sleeps ``delay`` seconds per call, then answers 1 for every row."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def predict(self, frame: Any) -> Any:
        import numpy as np

        time.sleep(self.delay)
        return np.ones(len(frame), dtype="int64")


class SecretReader:
    """Answers the length of ``$DB_PASSWORD`` per row (proof it saw the deployment's secret); a row
    whose first value is below -1e6 makes it fail with the secret in its error text."""

    def predict(self, frame: Any) -> Any:
        import os

        import numpy as np

        value = os.environ.get("DB_PASSWORD", "")
        if (frame.iloc[:, 0] < -1e6).any():
            raise RuntimeError(f"cannot connect with {value}")
        return np.full(len(frame), len(value), dtype="int64")


class Cubing:
    """Answers the cube of the first column: raises ``FloatingPointError`` when it overflows
    (``raises``), else answers the overflow (``inf``) as numpy does."""

    def __init__(self, raises: bool) -> None:
        self.raises = raises

    def predict(self, frame: Any) -> Any:
        import numpy as np

        x = np.asarray(frame, dtype="float64")[:, 0]
        with np.errstate(over="raise" if self.raises else "ignore"):
            return x**3

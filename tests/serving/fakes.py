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

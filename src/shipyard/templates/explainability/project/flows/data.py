"""The example data: a labelled table with snake-case columns and a `target` label."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

LABEL = "target"


def labelled_table(path: str = "") -> pd.DataFrame:
    if path:
        file = Path(path)
        frame = pd.read_parquet(file) if file.suffix in (".parquet", ".pq") else pd.read_csv(file)
    else:
        from sklearn.datasets import load_breast_cancer

        frame = load_breast_cancer(as_frame=True).frame
    frame = frame.rename(columns=lambda c: re.sub(r"[^0-9a-z]+", "_", str(c).lower()).strip("_"))
    label = frame.pop(LABEL)
    frame = frame.select_dtypes("number").astype("float64")
    frame[LABEL] = label.astype(int)
    return frame

"""Importable model classes for the registry tests (torch module, a plain predict class)."""

from __future__ import annotations

from typing import Any


class MeanModel:
    """Any object with predict(frame): predicts the row mean (stored with the pickle flavor)."""

    def predict(self, frame: Any) -> Any:
        return frame.mean(axis=1).to_numpy()


def make_torch_mlp(n_in: int, n_hidden: int) -> Any:
    import torch

    from tests.registry.torch_models import TinyMLP

    torch.manual_seed(0)
    return TinyMLP(n_in=n_in, n_hidden=n_hidden)


def make_shift_pipeline(X: Any, y: Any) -> Any:
    """A pipeline with a custom transformer: skops does not trust its type by default."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(_shift_transformer_class()(), LogisticRegression(max_iter=500)).fit(X, y)


def _shift_transformer_class() -> Any:
    from tests.registry import sk_custom

    return sk_custom.ShiftTransformer

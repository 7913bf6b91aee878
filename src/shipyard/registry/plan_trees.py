"""Decision trees and forests in a compiled plan (:mod:`shipyard.registry.plan_eval`), numpy only.

A tree is its fitted ``tree_`` arrays: ``left`` / ``right`` child (``-1`` at a leaf), ``feature``,
``threshold``, ``missing_left`` (where a NaN goes) and ``value`` (per node: class fractions, or the
regression value). As scikit-learn does, the input is cast to float32, checked (NaN allowed where
the estimator takes it), and each row walks from the root: NaN goes the recorded way, else left
when ``x <= threshold`` (float32 against float64, as in scikit-learn's C code). A forest adds the
trees' answers in order and divides by their number. numpy walks a level of every tree at once:
for a few rows (serving) that is faster than scikit-learn's forest, for many rows (batch scoring)
slower, so a loaded model hands large inputs to the scikit-learn object (see ``LARGE_INPUT``).
Reading a plan checks that every inner node's children come after it (so a walk ends) and that
features are in range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

_INT_FIELDS = ("left", "right", "feature", "missing_left")
#: rows x trees past which scikit-learn's own forest is faster than walking it with numpy (~500
#: rows of a 100-tree forest on this project's machine); a loaded model hands such inputs over
LARGE_INPUT = 50_000


@dataclass(frozen=True)
class Tree:
    left: np.ndarray[Any, Any]
    right: np.ndarray[Any, Any]
    feature: np.ndarray[Any, Any]
    threshold: np.ndarray[Any, Any]
    missing_left: np.ndarray[Any, Any]
    value: np.ndarray[Any, Any]  # (nodes, width)


class Forest:
    """One tree (``mean`` False) or a forest's trees, with the estimator's own input check.

    The trees are kept as one table of nodes (children renumbered into it), so that all rows of
    all trees walk down together: one round of numpy operations per level, not per tree."""

    def __init__(
        self,
        name: str,
        trees: tuple[Tree, ...],
        allow_nan: bool,
        mean: bool,
        classes: np.ndarray[Any, Any] | None,
    ) -> None:
        import numpy as np

        self.name = name
        self.allow_nan = allow_nan
        self.mean = mean
        self.classes = classes
        sizes = [len(t.left) for t in trees]
        self.roots = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)

        def joined(field: str, shift: bool) -> np.ndarray[Any, Any]:
            parts = []
            for tree, start in zip(trees, self.roots, strict=True):
                part = getattr(tree, field)
                parts.append(np.where(part >= 0, part + start, part) if shift else part)
            return np.concatenate(parts)

        self.left = joined("left", True)
        self.right = joined("right", True)
        self.feature = joined("feature", False)
        self.threshold = joined("threshold", False)
        self.missing_left = joined("missing_left", False) == 1
        self.value = np.concatenate([t.value for t in trees])

    def hands_over(self, rows: int) -> bool:
        """Whether ``rows`` rows are better answered by the scikit-learn object (see ``LARGE_INPUT``)."""
        return rows * len(self.roots) > LARGE_INPUT

    def leaves(self, X32: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """The leaf each row reaches in each tree: (trees, rows)."""
        import numpy as np

        n = X32.shape[0]
        node = np.repeat(self.roots, n)
        rows = np.tile(np.arange(n), len(self.roots))
        walking = np.arange(node.size)
        while walking.size:
            at = node[walking]
            left = self.left[at]
            inner = left >= 0
            walking, at, left = walking[inner], at[inner], left[inner]
            if not walking.size:
                break
            x = X32[rows[walking], self.feature[at]]
            go_left = np.where(np.isnan(x), self.missing_left[at], x <= self.threshold[at])
            node[walking] = np.where(go_left, left, self.right[at])
        return node.reshape(len(self.roots), n)

    def values(self, X: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Class fractions (rows, classes), or regression values (rows,)."""
        import numpy as np

        from shipyard.registry.plan_eval import check_finite

        with np.errstate(over="ignore"):
            X32 = X.astype(np.float32)
        check_finite(X32, self.allow_nan, self.name, "float32")
        leaves = self.leaves(X32)
        answers = self.value[leaves]  # (trees, rows, width)
        if self.classes is None:
            answers = answers[:, :, 0]
        if not self.mean:
            return np.asarray(answers[0])
        out = np.zeros(answers.shape[1:], dtype=np.float64)
        for answer in answers:  # in order, as scikit-learn adds them up
            out += answer
        out /= len(answers)
        return out


def read_forest(raw: dict[str, Any], arrays: dict[str, Any], k: int, classes: Any) -> Forest:
    """The trees ``raw`` names in ``arrays``; ValueError for anything inconsistent."""
    import numpy as np

    trees = []
    width = 1 if classes is None else len(classes)
    for names in raw["trees"]:
        fields = {name: arrays[str(names[name])] for name in (*_INT_FIELDS, "threshold", "value")}
        nodes = fields["left"].shape
        for name in _INT_FIELDS:
            if fields[name].dtype != np.int64 or fields[name].shape != nodes:
                raise ValueError(f"tree array {name!r} is {fields[name].dtype}{fields[name].shape}")
        if fields["threshold"].shape != nodes or fields["value"].shape != (nodes[0], width):
            raise ValueError("tree thresholds or values do not match its nodes")
        left, right, feature = fields["left"], fields["right"], fields["feature"]
        index = np.arange(nodes[0])
        inner = left >= 0
        if not nodes[0] or not (
            np.all((left > index) | (left == -1))
            and np.all((right > index) == inner)
            and np.all(right[~inner] == -1)
            and np.all(right < nodes[0])
            and np.all(left < nodes[0])
            and np.all((feature[inner] >= 0) & (feature[inner] < k))
        ):
            raise ValueError("a tree whose children or features are out of order or range")
        trees.append(Tree(**{n: fields[n] for n in (*_INT_FIELDS, "threshold", "value")}))
    if not trees or (not raw["mean"] and len(trees) != 1):
        raise ValueError(f"{len(trees)} trees")
    return Forest(str(raw["name"]), tuple(trees), bool(raw["allow_nan"]), bool(raw["mean"]), classes)


def compile_forest(est: Any, kind: str, keep: Any, forest: bool) -> dict[str, Any]:
    """The plan head for a fitted tree or forest (``keep(array, what)`` stores an array, returns
    its key); raises the compiler's Unsupported through ``keep``'s checks or ValueError."""
    import numpy as np

    estimators = list(est.estimators_) if forest else [est]
    if getattr(est, "n_outputs_", 1) != 1 or not estimators:
        raise ValueError("a tree model with several outputs")
    allow_nan = bool(estimators[0].__sklearn_tags__().input_tags.allow_nan)
    trees = []
    for tree_est in estimators:
        tree = tree_est.tree_
        value = np.asarray(tree.value, dtype=np.float64)
        if value.ndim != 3 or value.shape[1] != 1:
            raise ValueError(f"tree values of shape {value.shape}")
        names = {
            "left": keep(np.asarray(tree.children_left, dtype=np.int64), "children_left"),
            "right": keep(np.asarray(tree.children_right, dtype=np.int64), "children_right"),
            "feature": keep(np.asarray(tree.feature, dtype=np.int64), "feature"),
            "threshold": keep(np.asarray(tree.threshold, dtype=np.float64), "threshold"),
            "missing_left": keep(np.asarray(tree.missing_go_to_left, dtype=np.int64), "missing_go_to_left"),
            "value": keep(value[:, 0, :], "value"),
        }
        trees.append(names)
    return {"name": kind, "kind": "trees", "trees": trees, "allow_nan": allow_nan, "mean": forest}

"""What changed between two versions of a view's spec, as lines a person reads in a plan."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def spec_changes(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """``+ feature amount: float64``, ``~ ttl: 30d -> 7d``, ``- feature n: int64``; [] when equal."""
    if old is None:
        return [f"+ view {new.get('name')} (new)"]
    changes: list[str] = []
    old_features, new_features = dict(old.get("features") or {}), dict(new.get("features") or {})
    for name, kind in new_features.items():
        if name not in old_features:
            changes.append(f"+ feature {name}: {kind}")
        elif old_features[name] != kind:
            changes.append(f"~ feature {name}: {old_features[name]} -> {kind}")
    changes.extend(
        f"- feature {name}: {kind}" for name, kind in old_features.items() if name not in new_features
    )
    for key in sorted(set(old) | set(new)):
        if key in ("features", "name"):
            continue
        before, after = old.get(key), new.get(key)
        if key == "transform" and before and after and before != after:
            changes.append(
                f"~ transform: {after.get('name')} changed (code {str(after.get('code_sha256'))[:12]})"
            )
        elif before != after:
            changes.append(f"~ {key}: {_short(before)} -> {_short(after)}")
    return changes


def _short(value: Any) -> str:
    text = "none" if value is None else str(value)
    return text if len(text) <= 80 else text[:77] + "..."

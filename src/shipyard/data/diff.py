"""What changed between two versions: schema (columns added, removed, retyped, retagged), row
count, size, files added / removed / changed, and per-column statistic changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shipyard.metadata.datasets import DatasetFile, DatasetVersion


@dataclass(frozen=True)
class VersionDiff:
    old: str
    new: str
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    columns_changed: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # name -> {type|tags: [old, new]}
    rows: tuple[int | None, int | None] = (None, None)
    size: tuple[int, int] = (0, 0)
    files_added: list[str] = field(default_factory=list)
    files_removed: list[str] = field(default_factory=list)
    files_changed: list[str] = field(default_factory=list)
    stats_changed: dict[str, dict[str, list[Any]]] = field(
        default_factory=dict
    )  # column -> stat -> [old, new]

    @property
    def unchanged(self) -> bool:
        return not (
            self.columns_added
            or self.columns_removed
            or self.columns_changed
            or self.files_added
            or self.files_removed
            or self.files_changed
            or self.rows[0] != self.rows[1]
        )


def diff_versions(
    old: DatasetVersion, new: DatasetVersion, old_files: list[DatasetFile], new_files: list[DatasetFile]
) -> VersionDiff:
    before = {c["name"]: c for c in old.columns}
    after = {c["name"]: c for c in new.columns}
    changed: dict[str, dict[str, Any]] = {}
    for name in before.keys() & after.keys():
        for key in ("type", "tags"):
            if before[name].get(key) != after[name].get(key):
                changed.setdefault(name, {})[key] = [before[name].get(key), after[name].get(key)]
    files_old = {f.path: f.digest for f in old_files}
    files_new = {f.path: f.digest for f in new_files}
    stats: dict[str, dict[str, list[Any]]] = {}
    for name in old.stats.keys() & new.stats.keys():
        for key in sorted(old.stats[name].keys() | new.stats[name].keys()):
            a, b = old.stats[name].get(key), new.stats[name].get(key)
            if a != b:
                stats.setdefault(name, {})[key] = [a, b]
    return VersionDiff(
        old=old.uri,
        new=new.uri,
        columns_added=[c for c in after if c not in before],
        columns_removed=[c for c in before if c not in after],
        columns_changed=changed,
        rows=(old.num_rows, new.num_rows),
        size=(old.size, new.size),
        files_added=sorted(files_new.keys() - files_old.keys()),
        files_removed=sorted(files_old.keys() - files_new.keys()),
        files_changed=sorted(p for p in files_old.keys() & files_new.keys() if files_old[p] != files_new[p]),
        stats_changed=stats,
    )

"""Each label/outcome file's request-id hashes (sorted, distinct), cached by the file's identity
under ``_analysis/keys/`` (:mod:`.statcache`): a cached group is checked against a new file's ids
without reading its rows."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shipyard.experiments.statcache import Identity


class SideKeys:
    """Each label/outcome file's request-id hashes (sorted, distinct), cached by its identity."""

    def __init__(self, con: Any, root: Path, folder: Path, cache: bool) -> None:
        self.con, self.root, self.folder, self.cache = con, root, folder, cache
        self.known: dict[Identity, Any] = {}

    def get(self, idents: list[Identity]) -> dict[Identity, Any]:
        import numpy as np

        from shipyard.experiments.duck import _H1, _arrays, _listed
        from shipyard.experiments.segstats import distinct
        from shipyard.experiments.statcache import side_keys, store_side_keys

        missing = [i for i in idents if i not in self.known]
        if self.cache:
            for ident in missing:
                found = side_keys(self.folder, ident)
                if found is not None:
                    self.known[ident] = found
        missing = [i for i in idents if i not in self.known]
        if missing:
            files = [str(self.root / i[0]) for i in missing]
            data = _arrays(
                self.con,
                f"SELECT file_index AS f, {_H1} AS h FROM read_parquet({_listed(files)}, union_by_name=true)",
            )
            order = np.argsort(data["f"], kind="stable")
            f, h = data["f"][order], np.asarray(data["h"], dtype=np.uint64)[order]
            bounds = np.searchsorted(f, np.arange(len(files) + 1))
            for j, ident in enumerate(missing):
                self.known[ident] = distinct(h[bounds[j] : bounds[j + 1]])
                if self.cache:
                    store_side_keys(self.folder, ident, self.known[ident])
        return {i: self.known[i] for i in idents}

    def learn(self, idents: list[Identity], labels: Any) -> None:
        """Each read label file's ids, from the labels read (``labels.rid``, ``labels.file``)."""
        import numpy as np

        from shipyard.experiments.segstats import distinct
        from shipyard.experiments.statcache import store_side_keys

        todo = [f for f, ident in enumerate(idents) if ident not in self.known]
        if not todo or not self.cache:
            return  # (without a cache they would only be kept for this analysis)
        files = labels.file
        if len(files) > 1 and not bool(np.all(files[1:] >= files[:-1])):
            order = np.argsort(files, kind="stable")
            files, rid = files[order], labels.rid[order]
        else:
            rid = labels.rid  # in file order already (log_labels' files)
        bounds = np.searchsorted(files, np.arange(len(idents) + 1, dtype=files.dtype))  # (no cast of files)
        for f in todo:
            keys = distinct(rid[bounds[f] : bounds[f + 1]])
            self.known[idents[f]] = keys
            if self.cache:
                store_side_keys(self.folder, idents[f], keys)


def intersects(a: Any, b: Any) -> bool:
    """Whether two sorted distinct uint64 arrays share a value."""
    import numpy as np

    if not len(a) or not len(b):
        return False
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    at = np.searchsorted(large, small)
    at = np.minimum(at, len(large) - 1)
    return bool((large[at] == small).any())

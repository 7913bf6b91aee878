"""An experiment's analysis that reads only what changed since the last one.

The prediction log only grows by new segments, and labels and outcomes arrive later as new files.
So the statistics of a group of segments (:mod:`.segstats`) are computed once and kept next to the
log (:mod:`.statcache`), keyed by the segments' identity (path, size, mtime: a rewritten segment
is another identity, and its group is recomputed) and by the label and outcome files they were
joined with. A later analysis:

1. lists the segments and the label/outcome files (a ``stat`` each);
2. takes each cached group whose segments are unchanged and whose rows are before ``end``; a label
   or outcome file it has not seen is checked against the group's request ids (hashed, sorted; each
   file's own ids cached once): a file naming none of them leaves the group as it was (it is only
   marked as seen), a file naming one of them — a late label for an old row, whatever its
   ``labelled_at`` — makes the group stale; a seen file that changed or disappeared does too;
3. reads the segments no valid group covers (new ones, stale groups' ones) with DuckDB, joins
   only the label/outcome files that name one of their requests (the others cannot change a row's
   newest label: the order among the files read is the order among all of them), computes their
   statistics and stores them;
4. merges every group into the per-window sums :func:`shipyard.experiments.runner.evaluate_observed`
   reads.

``cache=False`` computes every group from the log and stores nothing: the full recomputation the
cached analysis equals (tests/experiments/test_incremental.py).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.experiments import logparts
from shipyard.experiments.config import OUTCOME_PREFIX, ExperimentSpec
from shipyard.experiments.sidekeys import SideKeys, intersects

if TYPE_CHECKING:
    from collections.abc import Callable

    from shipyard.experiments.runner import ExperimentResult
    from shipyard.experiments.segstats import GroupStats
    from shipyard.experiments.statcache import Entry, Identity


@dataclass
class _Source:
    deployment: str
    arm: str | None
    folder: Path  # the cache folder (fingerprinted)
    kinds: dict[str, str]
    metrics: list[str]
    quality: list[str]
    experiment: str | None
    index: int
    days: dict[str, list[tuple[Path, Identity]]] = field(default_factory=dict)


@dataclass
class _Todo:
    source: _Source
    day: str
    members: list[tuple[Path, Identity]]
    order: tuple[int, str, str]  # where its sums go in the merge: the same with or without a cache
    candidates: list[Identity] | None = None  # side files that may name its requests (None: all)
    relevant: list[Identity] = field(default_factory=list)
    extend: Entry | None = None  # its cached entry, when new label files only add labels to it
    adding: list[Identity] = field(default_factory=list)  # those files


def analyse_log(
    name: str,
    spec: ExperimentSpec,
    log_dir: str,
    end: datetime,
    *,
    experiment: str | None = None,
    cache: bool = True,
) -> ExperimentResult:
    """The analysis from the experiment's first logged row to ``end`` (rows logged under another
    ``experiment`` left out, as :func:`shipyard.experiments.data.read_rows` does)."""
    from concurrent.futures import ThreadPoolExecutor

    import duckdb

    from shipyard.experiments.runner import evaluate_observed
    from shipyard.experiments.segstats import merge, p99
    from shipyard.monitoring.windows import as_utc, parse_span

    end = as_utc(end)
    end_us = int(end.timestamp() * 1e6)
    span_us = int(parse_span(spec.window).total_seconds() * 1e6)
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        root = Path(log_dir)
        sources, side = _listing(con, spec, log_dir, end, experiment, span_us)
        keys_folder = sources[0].folder.parent if sources else root
        side_keys = SideKeys(con, root, keys_folder, cache)
        groups: list[tuple[tuple[int, str, str], GroupStats]] = []
        todo: list[_Todo] = []
        for source in sources:
            _collect(source, side, side_keys, end_us, cache, groups, todo)
        with ThreadPoolExecutor(1) as writer:  # each group's entry written once it is computed
            stored: list[Any] = []

            def keep(item: _Todo, stats: GroupStats) -> None:
                if cache and stats.max_ts < end_us:
                    stored.append(writer.submit(_store, item, stats, side))

            computed = _compute(con, spec, todo, side, side_keys, span_us, end_us, done=keep) if todo else []
            groups += [(item.order, stats) for item, stats in computed]
            ordered = [stats for _, stats in sorted(groups, key=lambda g: g[0])]
            seen, _ = merge(spec, ordered, end, span_us)
            if "latency_ms" in {m.name for m in spec.metrics}:
                p99s: list[float | None] = []
                for arm in (0, 1):
                    value = p99(ordered, arm, spec.guardrails.min_requests)
                    if value is False:  # the kept latencies do not decide it: keep them all
                        full = _compute(con, spec, _all(sources), side, side_keys, span_us, end_us, True)
                        value = p99([s for _, s in full], arm, spec.guardrails.min_requests)
                    p99s.append(None if value is None or value is False else float(value))
                seen.p99_ms = (p99s[0], p99s[1])
            for future in stored:
                future.result()  # (a failed write is no error; anything else is raised here)
    finally:
        con.close()
    return evaluate_observed(name, spec, seen)


def _listing(  # noqa: PLR0917
    con: Any, spec: ExperimentSpec, log_dir: str, end: datetime, experiment: str | None, span_us: int
) -> tuple[list[_Source], dict[Identity, Path]]:
    from shipyard.experiments.data import QUALITY
    from shipyard.experiments.duck import _files, _label_files, _outcome_files, _types
    from shipyard.experiments.statcache import CACHE_DIR, fingerprint, identity
    from shipyard.monitoring.logs import deployment_dir

    root = Path(log_dir)
    names = {m.name for m in spec.metrics}
    pairs = [(spec.deployment, "control" if spec.challenger_version is None else None)]
    if spec.challenger_version is None:
        pairs.append((spec.challenger, "challenger"))
    sources: list[_Source] = []
    label_paths: list[Path] = []
    for deployment, arm in pairs:
        files = _files(log_dir, deployment, None, end)
        label_paths += [Path(p) for p in _label_files(log_dir, deployment)] if names & set(QUALITY) else []
        if not files:
            continue
        kinds = _types(con, files)
        fp = fingerprint(
            {
                "metrics": sorted(names),
                "challenger": spec.challenger,
                "unit": spec.unit,
                "span_us": span_us,
                "arm": arm,
                "experiment": experiment,
                "kinds": kinds,
            }
        )
        folder = deployment_dir(log_dir, deployment) / CACHE_DIR / fp
        quality = sorted(names & set(QUALITY))
        source = _Source(deployment, arm, folder, kinds, sorted(names), quality, experiment, len(sources))
        for f in files:
            path = Path(f)
            source.days.setdefault(path.parent.name, []).append((path, identity(path, root)))
        sources.append(source)
    if any(n.startswith(OUTCOME_PREFIX) for n in names):
        label_paths += [Path(p) for p in _outcome_files(log_dir)]
    side = {identity(p, root): p for p in label_paths}  # in the order labels are read (insertion)
    return sources, side


def _all(sources: list[_Source]) -> list[_Todo]:
    out = []
    for s in sources:
        for day, members in s.days.items():
            now: dict[str, list[tuple[Path, Identity]]] = {}
            for member in members:
                now.setdefault(group_key(member[0].name), []).append(member)
            out += [_Todo(s, day, chunk, (s.index, day, key)) for key, chunk in now.items()]
    return out


def _collect(  # noqa: PLR0917
    source: _Source,
    side: dict[Identity, Path],
    side_keys: SideKeys,
    end_us: int,
    cache: bool,
    groups: list[tuple[tuple[int, str, str], GroupStats]],
    todo: list[_Todo],
) -> None:
    """The source's valid cached groups into ``groups``, the rest of its segments into ``todo``."""
    from shipyard.experiments.statcache import load, store

    metrics = source.metrics
    for day, members in source.days.items():
        now: dict[str, list[tuple[Path, Identity]]] = {}
        for member in members:
            now.setdefault(group_key(member[0].name), []).append(member)
        folder = source.folder / day
        entries = sorted(folder.glob("*.json")) if cache and folder.is_dir() else []
        done: set[str] = set()
        for path in entries:
            entry = load(path, metrics, source.quality)
            key = group_key(Path(entry.members[0][0]).name) if entry is not None and entry.members else ""
            if entry is None or key in done or [m[1] for m in now.get(key, [])] != entry.members:
                _remove(path)  # unreadable, or its segments changed (new, rewritten, gone): recomputed
                continue
            if entry.stats.max_ts >= end_us:
                continue  # rows after the analysis' end: read this time, kept for a later look
            done.add(key)
            order = (source.index, day, key)
            if not set(entry.side) <= set(side):  # a label/outcome file it joined changed or is gone
                todo.append(_Todo(source, day, now[key], order))
                continue
            new = [i for i in side if i not in set(entry.side)]
            hits = [i for i, keys in side_keys.get(new).items() if intersects(entry.stats.rid, keys)]
            labelled = entry.stats.labelled
            if (
                hits
                and labelled is not None
                and all(not _is_outcome(i) for i in hits)
                and not any(intersects(labelled, side_keys.get([i])[i]) for i in hits)
            ):  # labels for requests it had none for: their rows' sums are added, per file
                todo.append(_Todo(source, day, now[key], order, extend=entry, adding=hits))
                continue
            if hits:  # a new label (or outcome) for one of its requests: recomputed
                candidates = [i for i in side if i in set(new) or i[0] in set(entry.relevant)]
                todo.append(_Todo(source, day, now[key], order, candidates))
                continue
            groups.append((order, entry.stats))
            if new:  # seen now: the next look need not check them again
                entry.side = list(side)
                store(folder, entry, arrays=False)
        todo.extend(
            _Todo(source, day, chunk, (source.index, day, key))
            for key, chunk in now.items()
            if key not in done
        )


def group_key(name: str) -> str:
    """The group a segment belongs to: its hour (segments are named ``HHMMSS-pid-seq.parquet``
    by the time they were started), else itself. Groups depend on the file names alone, so the
    cached analysis sums the same groups in the same order as a full recomputation."""
    return name[:2] if len(name) > 7 and name[:6].isdigit() and name[6] == "-" else name


def _remove(path: Path) -> None:
    for p in (path, path.with_suffix(".arrow")):
        with contextlib.suppress(OSError):
            p.unlink()


def _store(item: _Todo, stats: GroupStats, side: dict[Identity, Path]) -> None:
    from shipyard.experiments.statcache import Entry, store

    entry = Entry([m[1] for m in item.members], list(side), [i[0] for i in item.relevant], stats)
    store(item.source.folder / item.day, entry)


def _compute(  # noqa: PLR0917
    con: Any,
    spec: ExperimentSpec,
    todo: list[_Todo],
    side: dict[Identity, Path],
    side_keys: SideKeys,
    span_us: int,
    end_us: int,
    all_latencies: bool = False,
    done: Callable[[_Todo, GroupStats], None] | None = None,
) -> list[tuple[_Todo, GroupStats]]:
    """Read the groups' segments (one DuckDB query per source), join their labels and outcomes,
    and compute each group's statistics. A label/outcome file naming none of a group's requests
    cannot change it, so a group reads only the files that may: one recomputed because new files
    name its requests, those and the files that held its rows' newest labels (the newest label of
    a row over all files is the newer of the two; outcomes: the files naming its requests); a
    new group, the files whose request ids (cached per file) meet its own. When most of the log is
    read anyway (the first analysis), every file is read and nothing is tested."""
    from concurrent.futures import ThreadPoolExecutor

    from shipyard.experiments.data import QUALITY
    from shipyard.experiments.duck import _numeric, _read_labels, prepare, prepare_outcomes, wants

    names = [m.name for m in spec.metrics]
    quality = set(names) & set(QUALITY)
    extending = [item for item in todo if item.extend is not None]
    out = _extend(con, spec, extending, side, side_keys) if extending else []
    if done is not None:
        for item, stats in out:
            done(item, stats)
    todo = [item for item in todo if item.extend is None]
    if not todo:
        return out
    by_source: dict[int, list[_Todo]] = {}
    for item in todo:
        by_source.setdefault(item.source.index, []).append(item)
    kinds = [items[0].source.kinds for items in by_source.values()]
    want = wants(spec, None, kinds) | {"keys"}
    if quality and any(not _is_outcome(i) for i in side):  # as for whole-request number labels
        want |= {"prediction"} | (set() if all(_numeric(k.get("prediction")) for k in kinds) else {"text"})
    unknown = [item for item in todo if item.candidates is None]
    new_bytes = sum(m[1][1] for item in unknown for m in item.members)
    log_bytes = sum(
        m[1][1] for s in {id(t.source): t.source for t in todo}.values() for d in s.days.values() for m in d
    )
    logs: list[tuple[list[_Todo], Any, Any]] | None = None  # None: streamed after the labels are read
    if unknown and new_bytes * 4 > log_bytes:
        read = list(side)  # most of the log: read every file (and learn each file's ids meanwhile)
    else:
        logs = [_read_log(con, spec, items, want) for items in by_source.values()]
        keys = side_keys.get(list(side)) if unknown else {}
        for items, bounds, log in logs:
            for g, item in enumerate(items):
                if item.candidates is None:
                    rid = _distinct(log["h1"][bounds[g] : bounds[g + 1]])
                    item.candidates = [i for i in side if intersects(rid, keys[i])]
        wanted = {i for item in todo for i in item.candidates or []}
        read = [i for i in side if i in wanted]
    label_ids = [i for i in read if not _is_outcome(i)]
    outcome_ids = [i for i in read if _is_outcome(i)]
    labels = _read_labels(con, [str(side[i]) for i in label_ids], True) if quality and label_ids else None
    # each label file's ids are learnt, and the labels prepared, while the log is read
    learner = ThreadPoolExecutor(2)
    learning = ready = None
    try:
        if labels is not None:
            learning = learner.submit(side_keys.learn, label_ids, labels)
            more = wants(spec, labels, kinds) - want
            if more:  # labels of single rows, or text labels: the rows' columns for them
                want |= more
                if logs is not None:
                    logs = [_read_log(con, spec, items, want) for items in by_source.values()]
            if len(todo) > 1:  # joined part by part: the labels' side sorted once, meanwhile
                ready = learner.submit(prepare, labels)
        part = _Part(
            con, spec, labels, label_ids, [str(side[i]) for i in outcome_ids], outcome_ids,
            side_keys.get(outcome_ids) if outcome_ids else {}, span_us, end_us, all_latencies, ready, done,
        )  # fmt: skip
        prepare_outcomes(con, spec, part.outcome_files, part.shared)  # (the parts' threads do not query)
        for n, items in enumerate(by_source.values()):
            try:
                parts = _stream(con, spec, items, want) if logs is None else logparts.split(*logs[n])
                out += logparts.each(part.stats, parts)
            except logparts.Unordered:  # not in file order: read whole and sorted
                out += [
                    (item, part.stats(item, log))
                    for item, log in logparts.split(*_read_log(con, spec, items, want))
                ]
        if learning is not None:
            learning.result()
    finally:
        learner.shutdown()
    return out


def _read_log(
    con: Any, spec: ExperimentSpec, items: list[_Todo], want: set[str]
) -> tuple[list[_Todo], Any, Any]:
    """The rows of ``items``' segments (one source, in file order, then position), and where each
    item's rows start and end (``bounds[g]:bounds[g + 1]``: its files are consecutive)."""
    import numpy as np

    from shipyard.experiments.duck import subset_source

    source = items[0].source
    files = [str(path) for item in items for path, _ in item.members]
    first_file = np.cumsum([0] + [len(item.members) for item in items])
    log = _read_rows_of(con, spec, source, files, want, subset_source(con, files, source.kinds))
    bounds = np.searchsorted(np.asarray(log["seg"], dtype=np.int64), first_file, side="left")
    return items, bounds, log


def _stream(con: Any, spec: ExperimentSpec, items: list[_Todo], want: set[str]) -> Any:
    from shipyard.experiments.duck import _log_select, subset_source

    source = items[0].source
    files = [str(path) for item in items for path, _ in item.members]
    read = subset_source(con, files, source.kinds)
    sql = _log_select(files, source.kinds, spec, source.arm, want, source.experiment, read)
    return logparts.stream(con, sql, items, [len(item.members) for item in items])


@dataclass
class _Part:
    """What a group's statistics are computed with: the labels and outcomes read, joined to each
    group's rows in turn (their values are per row: computed by group or for all rows at once,
    they are the same)."""

    con: Any
    spec: ExperimentSpec
    labels: Any
    label_ids: list[Identity]
    outcome_files: list[str]
    outcome_ids: list[Identity]
    outcome_keys: dict[Identity, Any]
    span_us: int
    end_us: int
    all_latencies: bool
    ready: Any = None  # a future: the labels' side of the join is prepared when it is done
    done: Callable[[_Todo, GroupStats], None] | None = None  # told each group's statistics
    shared: dict[str, Any] = field(default_factory=dict)  # the outcomes summed (prepare_outcomes)

    def stats(self, item: _Todo, log: dict[str, Any]) -> GroupStats:
        import numpy as np

        from shipyard.experiments.data import QUALITY
        from shipyard.experiments.duck import metric_rows

        if self.ready is not None:
            self.ready.result()
        names = [m.name for m in self.spec.metrics]
        quality = sorted(set(names) & set(QUALITY))
        rows = metric_rows(self.con, self.spec, log, self.labels, self.outcome_files, self.shared)
        rid = np.asarray(log["h1"], dtype=np.uint64)
        label_file = np.full(len(rid), -1, dtype=np.int64)
        if self.labels is not None and "label_at" in log:
            j = log["label_at"]
            label_file = np.where(j >= 0, self.labels.file[np.maximum(j, 0)], -1).astype(np.int64)
        paths = [i[0] for i in self.label_ids]
        stats = _stats(
            rows, rid, self.span_us, self.end_us, names, quality, label_file, paths, self.all_latencies
        )
        item.relevant = [i for i in self.label_ids if i[0] in stats.partials]
        if self.outcome_keys:
            ids = stats.rid if stats.rows == len(rid) else _distinct(rid)  # (no rows cut: the same)
            item.relevant += [i for i in self.outcome_ids if intersects(ids, self.outcome_keys[i])]
        if self.done is not None:
            self.done(item, stats)
        return stats


def _stats(  # noqa: PLR0917
    part: Any,
    rid: Any,
    span_us: int,
    end_us: int,
    names: list[str],
    quality: list[str],
    label_file: Any,
    paths: list[str],
    all_latencies: bool,
) -> GroupStats:
    import numpy as np

    from shipyard.experiments.segstats import compute

    if len(part) and int(part.ts_us.max()) >= end_us:
        keep = np.flatnonzero(part.ts_us < end_us)
        stats = compute(
            _take(part, keep), rid[keep], span_us, names, quality, label_file[keep], paths,
            all_latencies=all_latencies,
        )  # fmt: skip
        stats.max_ts = end_us  # not to be stored: it holds rows after the end
        return stats
    return compute(part, rid, span_us, names, quality, label_file, paths, all_latencies=all_latencies)


def _extend(
    con: Any, spec: ExperimentSpec, items: list[_Todo], side: dict[Identity, Path], side_keys: SideKeys
) -> list[tuple[_Todo, GroupStats]]:
    """Groups that new label files name only requests of which had no label: each row's newest
    label is then in the new files, and no other row changes, so the rows of the named requests
    (read alone, in the order a full read gives them) add the new files' per-file sums; the
    result is what recomputing the group gives (its per-file sums are combined in path order)."""
    import numpy as np
    import pyarrow as pa

    from shipyard.experiments.arrays import arrow_of
    from shipyard.experiments.duck import _H1, _read_labels, metric_rows, subset_source, wants
    from shipyard.experiments.segstats import combine, distinct, partial_sums

    adding = [i for i in side if any(i in item.adding for item in items)]
    labels = _read_labels(con, [str(side[i]) for i in adding], True)
    named = distinct(np.concatenate([side_keys.get([i])[i] for i in adding]))
    con.register("_named", pa.Table.from_arrays([arrow_of(np.asarray(named, dtype=np.uint64))], names=["h"]))
    paths = [i[0] for i in adding]
    out = []
    try:
        by_source: dict[int, list[_Todo]] = {}
        for item in items:
            by_source.setdefault(item.source.index, []).append(item)
        for group in by_source.values():
            source = group[0].source
            want = wants(spec, labels, [source.kinds]) | {"keys"}
            files = [str(path) for item in group for path, _ in item.members]
            owner = np.repeat(np.arange(len(group)), [len(item.members) for item in group])
            read = subset_source(con, files, source.kinds)
            only = f"(SELECT * FROM {read} WHERE {_H1} IN (SELECT h FROM _named))"
            log = _read_rows_of(con, spec, source, files, want, only)
            rows = metric_rows(con, spec, log, labels, [])
            group_of = owner[np.asarray(log["seg"], dtype=np.int64)]
            j = log.get("label_at", np.full(len(group_of), -1))
            label_file = np.where(j >= 0, labels.file[np.maximum(j, 0)], -1).astype(np.int64)
            for g, item in enumerate(group):
                assert item.extend is not None
                entry, stats = item.extend, item.extend.stats
                at = np.flatnonzero(group_of == g)
                part = _take(rows, at)
                local = part.ts_us // (_span_us(spec)) - stats.k0
                new = partial_sums(part, local, stats.windows, source.quality, label_file[at], paths)
                stats.partials.update(new)
                combine(stats, source.quality)
                rid = np.asarray(log["h1"], dtype=np.uint64)[at]
                stats.labelled = distinct(np.concatenate([stats.labelled, rid[label_file[at] >= 0]]))
                item.relevant = [i for i in side if i[0] in set(entry.relevant) or i[0] in new]
                out.append((item, stats))
    finally:
        con.unregister("_named")
    return out


def _span_us(spec: ExperimentSpec) -> int:
    from shipyard.monitoring.windows import parse_span

    return int(parse_span(spec.window).total_seconds() * 1e6)


def _read_rows_of(  # noqa: PLR0917
    con: Any, spec: ExperimentSpec, source: _Source, files: list[str], want: set[str], frm: str
) -> Any:
    import numpy as np

    from shipyard.experiments.duck import _arrays, _log_select

    log = _arrays(con, _log_select(files, source.kinds, spec, source.arm, want, source.experiment, frm))
    log["h1"] = np.asarray(log["h1"], dtype=np.uint64)
    # the rows in file order, then position (what the sums' shift and the per-file sums depend
    # on): a parallel scan, or the semi-join of an extension, need not return them so
    seg, pos = np.asarray(log["seg"], dtype=np.int64), np.asarray(log["pos"], dtype=np.int64)
    if len(seg) > 1 and not bool(
        np.all((seg[1:] > seg[:-1]) | ((seg[1:] == seg[:-1]) & (pos[1:] > pos[:-1])))
    ):
        import pyarrow as pa
        import pyarrow.compute as pc

        order = np.lexsort((pos, seg))
        log = {
            k: pc.take(v, pa.array(order)) if isinstance(v, pa.ChunkedArray) else v[order]
            for k, v in log.items()
        }
    return log


def _distinct(values: Any) -> Any:
    from shipyard.experiments.segstats import distinct

    return distinct(values)


def _is_outcome(ident: Identity) -> bool:
    from shipyard.experiments.outcomes import OUTCOMES_DIR

    return ident[0].startswith(OUTCOMES_DIR + "/")


def _take(rows: Any, at: Any) -> Any:
    from shipyard.experiments.data import Rows

    out = Rows(
        rows.ts_us[at], rows.arm[at], rows.first[at], units=None if rows.units is None else rows.units[at]
    )
    out.values = {k: v[at] for k, v in rows.values.items()}
    return out

"""A/B experiment benchmark (issue 17): the analysis reaches the right decision on a replayed
prediction log with delayed labels, keeps its false-positive rate under alpha despite hourly
looks, and analyses 10M logged predictions in seconds.

Run: ``python bench/experiments.py [--rows 10000000] [--sims 200] [--hours 48]`` (``--only scale
--keep DIR``: the scale log is generated into DIR once and reused by later runs). Prints:

1. replay: a 48-hour prediction log (``--replay-rows``) where the challenger (20 % of customers,
   sticky) is right 2 points more often; labels arrive 0-12 h after their prediction. Each hour
   the experiment is analysed with only the labels that had arrived (the prediction log, the
   labels joined by request id, the per-window sums, the sequential test: the code path of
   ``shipyard experiment status``). Reported: the first hour it decides, its decision (must be
   ``better``; never ``worse``), and the always-valid interval at the end (must hold +0.02).
2. A/A: ``--sims`` experiments with no effect, looked at every hour for ``--hours`` hours, on a
   0/1 metric (accuracy) and a continuous one (latency); the share that ever decided better or
   worse (must be <= 5 %), beside what a fixed-horizon test re-checked every hour would give.
3. scale: ``--rows`` logged predictions over 48 h as Parquet segments of the log layout, labels
   0-12 h late in hourly files. The analysis (``shipyard experiment status``'s: incremental, over
   per-segment statistics cached next to the log) cold, with nothing cached, then the next hour's
   look after that hour's rows and labels arrived (target < 5 s; median of ``--repeat``), each
   beside the readers before it on the same files in the same run with the ratio: the row reader
   (read every row, join the labels, sum) and the one before it (``bench/experiments_sql_peer.py``:
   one DuckDB query); then the full recomputation (no cache), which must equal the cached result.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from experiments_sql_peer import read_rows_duckdb as read_rows_sql  # type: ignore[import-not-found]

from shipyard.experiments import stats
from shipyard.experiments.analysis import Sums, sequential, window_sums
from shipyard.experiments.config import ExperimentSpec
from shipyard.experiments.data import read_rows, rows_from_table
from shipyard.experiments.runner import evaluate

HOUR_US = 3600 * 10**6


def log_table(
    rng: np.random.Generator, n: int, start_us: int, hours: int, lift: float
) -> tuple[pa.Table, np.ndarray]:
    """n predictions over ``hours`` (customers sticky by hash), and their true labels."""
    from shipyard.experiments.assign import BUCKETS

    ts = start_us + np.sort(rng.integers(0, hours * HOUR_US, n))
    customer = rng.integers(0, max(n // 20, 100), n)
    # the serving assignment hashes the customer id; any fixed hash does here (vectorized)
    arm = ((customer * 2654435761) % 2**32 % BUCKETS < 0.2 * BUCKETS).astype(np.int64)
    label = (rng.random(n) < 0.3).astype(np.int64)
    correct = rng.random(n) < np.where(arm == 1, 0.80 + lift, 0.80)
    ids = np.char.add("r", np.arange(n).astype(str))
    table = pa.table(
        {
            "request_id": pa.array(ids),
            "ts": pa.array(ts.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
            "deployment": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), ["fraud"]),
            "model": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), ["fraud"]),
            "version": pa.array(np.where(arm == 1, 2, 1)),
            "role": pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), ["primary"]),
            "latency_ms": pa.array(rng.gamma(2.0, 4.0, n)),
            "row": pa.array(np.zeros(n, np.int32)),
            "prediction": pa.array(np.where(correct, label, 1 - label)),
            "customer_id": pa.array(customer),  # an input column: the assignment key
        }
    )
    return table, label


def spec(min_samples: int = 2000) -> ExperimentSpec:
    return ExperimentSpec.model_validate(
        {
            "deployment": "fraud",
            "challenger": "models:/fraud/2",
            "share": 20,
            "unit": "customer_id",
            "metrics": [{"name": "accuracy"}, {"name": "latency_ms"}],
            "min_samples": min_samples,
        }
    )


def replay(rows: int, hours: int) -> None:
    rng = np.random.default_rng(17)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    start_us = int(start.timestamp() * 1e6)
    table, label = log_table(rng, rows, start_us, hours, 0.02)
    ts = table["ts"].cast(pa.int64()).to_numpy()
    arrives = ts + rng.integers(0, 12 * HOUR_US, rows)  # delayed labels
    s = spec()
    first, final, decisions = None, None, []
    for hour in range(1, hours + 1):
        look = start_us + hour * HOUR_US
        seen = ts < look
        known = seen & (arrives < look)
        labels = pa.table(
            {
                "request_id": table["request_id"].filter(pa.array(known)),
                "row": pa.array(np.full(int(known.sum()), -1, np.int32)),
                "label": pa.array(label[known]),
                "seq": pa.array(np.arange(int(known.sum()))),
            }
        )
        part = table.filter(pa.array(seen))
        result = evaluate(
            "replay", s, rows_from_table(part, s, labels, {}), start, start + timedelta(hours=hour)
        )
        decisions.append(result.decision)
        if first is None and result.decision not in (stats.UNKNOWN,):
            first = (hour, result.decision)
        final = result
    assert final is not None
    last = final.metrics[0].windows[-1]
    print(f"replay ({rows:,} predictions over {hours} h, challenger +2 points accuracy, labels 0-12 h late):")
    print(
        f"  first decision: {first[1] if first else 'none'} at hour {first[0] if first else '-'}; "
        f"final: {final.decision}; ever 'worse': {stats.WORSE in decisions}"
    )
    print(
        f"  accuracy diff {last.cum_diff:+.4f}, always-valid 95% interval "
        f"[{last.cs[0]:+.4f}, {last.cs[1]:+.4f}] (holds +0.02: {last.cs[0] <= 0.02 <= last.cs[1]}); "
        f"rows per arm {last.cum_n}; SRM p (customers) {final.srm_p:.3g}"
    )
    print(f"  latency: {final.metrics[1].decision} (no true difference)")


def _naive(sums: Sums, alpha: float) -> np.ndarray:
    """A fixed-horizon test re-run on the cumulative data at every look: ever significant?"""
    cn, cs, css = (np.cumsum(x, axis=-1) for x in (sums.n, sums.s, sums.ss))
    mean = cs / cn
    var = (css - cn * mean * mean) / (cn - 1)
    diff, se2 = stats.welch(
        cn[..., 0, :], mean[..., 0, :], var[..., 0, :], cn[..., 1, :], mean[..., 1, :], var[..., 1, :]
    )
    low, high = stats.fixed_ci(diff, se2, alpha)
    return ((low > 0) | (high < 0)).any(axis=-1)


def a_a(sims: int, hours: int) -> None:
    rng = np.random.default_rng(2026)
    per_hour = 400
    started = time.perf_counter()
    # accuracy: 0/1 with p = 0.8; latency: gamma(2, 4) ms; 20 % of traffic to the challenger
    n = np.empty((sims, 2, hours))
    n[:, 0], n[:, 1] = per_hour * 0.8, per_hour * 0.2
    k = rng.binomial(n.astype(np.int64), 0.8).astype(np.float64)
    acc = Sums(n, k, k)
    lat_rows_c = rng.gamma(2.0, 4.0, (sims, hours, int(per_hour * 0.8)))
    lat_rows_t = rng.gamma(2.0, 4.0, (sims, hours, int(per_hour * 0.2)))
    lat = Sums(
        n,
        np.stack([lat_rows_c.sum(-1), lat_rows_t.sum(-1)], axis=1),
        np.stack([(lat_rows_c**2).sum(-1), (lat_rows_t**2).sum(-1)], axis=1),
    )
    for name, sums, higher in (("accuracy", acc, True), ("latency_ms", lat, False)):
        looks = sequential(sums, higher_is_better=higher, min_samples=2000, shares=(0.8, 0.2))
        fpr = np.isin(looks.decision, [stats.BETTER, stats.WORSE]).any(axis=-1).mean()
        naive = _naive(sums, 0.05).mean()
        print(
            f"A/A {name}: {sims} experiments x {hours} hourly looks: false positives {fpr:.1%} "
            f"(target <= 5%); a fixed-horizon test checked hourly: {naive:.1%}"
        )
    print(f"  ({time.perf_counter() - started:.2f} s for all simulations)")


def _write_segments(folder: Path, table: pa.Table, start_us: int, segment: int) -> None:
    """Parquet segments of ``segment`` rows in the log layout: a day's folder, named by the hour
    (``HHMMSS-pid-seq``) of their first row, as ``shipyard serve`` names them."""
    ts = table["ts"].cast(pa.int64()).to_numpy()
    for i in range(0, table.num_rows, segment):
        first = datetime.fromtimestamp(int(ts[i]) / 1e6, UTC)
        day = folder / first.date().isoformat()
        day.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.slice(i, segment), day / f"{first:%H%M%S}-1-{i // segment:06d}.parquet")


def _write_labels(
    folder: Path, ids: pa.Array, label: np.ndarray, arrives: np.ndarray, hours: range, t0: int
) -> None:
    """The labels that arrive in each of ``hours`` (after ``t0``), one file per hour as a
    labelling job run hourly writes them (``labelled_at``: the hour's end)."""
    hour = (arrives - t0) // HOUR_US
    order = np.argsort(hour, kind="stable")
    bounds = np.searchsorted(hour[order], np.arange(hours.start, hours.stop + 1))
    folder.mkdir(exist_ok=True)
    for h, (a, b) in zip(hours, itertools.pairwise(bounds), strict=True):
        at = order[a:b]
        when = datetime.fromtimestamp((t0 + (h + 1) * HOUR_US) / 1e6, UTC)
        table = pa.table(
            {
                "request_id": ids.take(pa.array(at)),
                "row": pa.array(np.full(len(at), -1, np.int32)),
                "label": pa.array(label[at]),
                "labelled_at": pa.array(
                    np.full(len(at), when.timestamp() * 1e6).astype("datetime64[us]"),
                    pa.timestamp("us", tz="UTC"),
                ),
            }
        )
        pq.write_table(table, folder / f"{when:%Y%m%dT%H%M%S%f}-{h:020d}-1-bench.parquet")


def _timed(fn):  # type: ignore[no-untyped-def]
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def _generate(folder: Path, rows: int, hours: int) -> dict[str, int]:
    """The scale log in ``folder``: ``log/`` (``hours`` of rows and their hourly label files) and
    ``next/`` (the next hour's segment and label file, added for the second look)."""
    rng = np.random.default_rng(5)
    t0 = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp() * 1e6)
    per_hour = rows // hours
    table, label = log_table(rng, rows + per_hour, t0, hours + 1, 0.01)  # one more hour: the next look's
    ts = table["ts"].cast(pa.int64()).to_numpy()
    arrives = ts + rng.integers(0, 12 * HOUR_US, len(ts))
    cut = int(np.searchsorted(ts, t0 + hours * HOUR_US))
    _write_segments(folder / "log" / "fraud", table.slice(0, cut), t0, 1_000_000)
    _write_labels(folder / "log" / "fraud" / "_labels", table["request_id"], label, arrives, range(hours), t0)
    _write_segments(folder / "next" / "fraud", table.slice(cut), t0, 1_000_000)
    _write_labels(
        folder / "next" / "fraud" / "_labels",
        table["request_id"],
        label,
        arrives,
        range(hours, hours + 1),
        t0,
    )
    return {"rows": cut, "later": table.num_rows - cut}


def _linked(source: Path, target: Path) -> None:
    """``source``'s files in ``target`` as hard links (a copy where links are refused)."""
    import shutil

    def link(a: str, b: str) -> None:
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    shutil.copytree(source, target, copy_function=link, dirs_exist_ok=True)


def scale(rows: int, hours: int, repeat: int = 1, with_peer: bool = True, keep: str | None = None) -> None:
    """10M logged predictions over ``hours`` with labels 0-12 h late in hourly files. A cold
    analysis (nothing cached), then the next hour's look after the hour's rows and labels arrived
    (late labels for rows of older segments among them), each beside the readers before it on the
    same files in the same run: the row reader (read every row, join, sum: what ``experiment
    status`` did) and the one before that (bench/experiments_sql_peer.py). ``keep``: a folder the
    generated files are written to once and reused from by later runs (linked into the run's own
    temporary folder, so no run sees another's cache)."""
    import json
    import shutil

    import scipy.stats  # noqa: F401  (imported before timing: every path below uses it)

    from shipyard.experiments.incremental import analyse_log

    start = datetime(2026, 6, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp) / "run"
        built = time.perf_counter()
        made = Path(keep) if keep else Path(tmp) / "made"
        marker = made / f"made-{rows}-{hours}.json"
        reused = marker.exists()
        if reused:
            counts = json.loads(marker.read_text())
        else:  # (another size's files, if any, are replaced)
            for old in made.glob("made-*.json"):
                old.unlink()
            shutil.rmtree(made / "log", ignore_errors=True)
            shutil.rmtree(made / "next", ignore_errors=True)
            counts = _generate(made, rows, hours)
            marker.write_text(json.dumps(counts))
        _linked(made / "log", log_dir)
        cut, later_rows = counts["rows"], counts["later"]
        segments = len(list(log_dir.rglob("*-1-0*.parquet")))
        print(
            f"scale: {cut:,} logged predictions over {hours} h in {segments} segments, labels 0-12 h "
            f"late in {hours} hourly files; {'reused' if reused else 'written'} in "
            f"{time.perf_counter() - built:.1f} s"
        )
        s = spec()
        end = start + timedelta(hours=hours)
        cache = log_dir / "fraud" / "_analysis"

        def ours(at: datetime) -> Any:
            return analyse_log("scale", s, str(log_dir), at)

        def rows_path(at: datetime) -> Any:
            loaded = read_rows(s, str(log_dir), None, at)
            first = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(loaded.ts_us.min()))
            return evaluate("scale", s, loaded, first, at)

        def peer(at: datetime) -> Any:
            loaded = read_rows_sql(s, str(log_dir), None, at)
            first = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(loaded.ts_us.min()))
            return evaluate("scale", s, loaded, first, at)

        def compare(title: str, at: datetime, prepare: Any) -> None:
            times: dict[str, list[tuple[float, float]]] = {"ours": [], "rows": [], "peer": []}
            for _ in range(repeat):
                prepare()
                mine, wall, cpu = _timed(lambda: ours(at))
                times["ours"].append((wall, cpu))
                before, wall, cpu = _timed(lambda: rows_path(at))
                times["rows"].append((wall, cpu))
                assert mine.decision == before.decision and mine.requests == before.requests
                assert mine.p99_ms == before.p99_ms
                if with_peer:
                    oldest, wall, cpu = _timed(lambda: peer(at))
                    times["peer"].append((wall, cpu))
                    assert oldest.decision == mine.decision
            med = {
                k: tuple(statistics.median(x) for x in zip(*v, strict=True)) for k, v in times.items() if v
            }
            line = f"  {title}: ours {med['ours'][0]:.2f} s (CPU {med['ours'][1]:.2f} s; target < 5 s)"
            for key, what in (("rows", "row reader"), ("peer", "SQL reader")):
                if key in med:
                    wall, cpu = med[key]
                    line += f"; {what} {wall:.2f} s (CPU {cpu:.2f} s), ratio {wall / med['ours'][0]:.2f}x"
            print(
                f"{line}; median of {repeat}; decision {mine.decision}; load average {os.getloadavg()[0]:.1f}"
            )

        compare("cold (nothing cached)", end, lambda: shutil.rmtree(cache, ignore_errors=True))
        warm = log_dir / "warm-cache"
        shutil.copytree(cache, warm)
        # the next hour: its rows (a new segment) and the labels that arrived in it (for rows up to 12 h old)
        _linked(made / "next", log_dir)
        nxt = end + timedelta(hours=1)

        def restore() -> None:
            shutil.rmtree(cache, ignore_errors=True)
            shutil.copytree(warm, cache)

        compare(f"the next hour's look (+{later_rows:,} rows, +1 label file)", nxt, restore)
        cached = ours(nxt).to_dict()
        full, wall, cpu = _timed(lambda: analyse_log("scale", s, str(log_dir), nxt, cache=False))
        assert full.to_dict() == cached
        print(f"  full recomputation (no cache): {wall:.2f} s (CPU {cpu:.2f} s); equals the cached result")
        loaded = read_rows(s, str(log_dir), None, nxt)
        idx = (loaded.ts_us - loaded.ts_us.min()) // HOUR_US
        t3 = time.perf_counter()
        looks = sequential(
            window_sums(idx, loaded.arm, loaded.values["accuracy"], hours + 1),
            higher_is_better=True,
            min_samples=2000,
        )
        print(
            f"  analysis core alone on {len(loaded):,} rows: {time.perf_counter() - t3:.2f} s "
            f"(accuracy interval [{looks.cs_low[-1]:+.4f}, {looks.cs_high[-1]:+.4f}])"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--replay-rows", type=int, default=400_000)
    parser.add_argument("--sims", type=int, default=200)
    parser.add_argument("--hours", type=int, default=48)
    parser.add_argument("--only", choices=["replay", "aa", "scale"], default=None)
    parser.add_argument("--repeat", type=int, default=3, help="scale: timed runs (the median is printed)")
    parser.add_argument("--no-peer", action="store_true", help="scale: skip timing the reader before")
    parser.add_argument(
        "--keep", default=None, help="scale: write the generated log to this folder once and reuse it"
    )
    args = parser.parse_args()
    if args.only in (None, "replay"):
        replay(args.replay_rows, args.hours)
    if args.only in (None, "aa"):
        a_a(args.sims, args.hours)
    if args.only in (None, "scale"):
        scale(args.rows, args.hours, args.repeat, not args.no_peer, args.keep)


if __name__ == "__main__":
    main()

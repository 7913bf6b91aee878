"""A/B experiment benchmark (issue 17): the analysis reaches the right decision on a replayed
prediction log with delayed labels, keeps its false-positive rate under alpha despite hourly
looks, and analyses 10M logged predictions in seconds.

Run: ``python bench/experiments.py [--rows 10000000] [--sims 200] [--hours 48]``. Prints:

1. replay: a 48-hour prediction log (``--replay-rows``) where the challenger (20 % of customers,
   sticky) is right 2 points more often; labels arrive 0-12 h after their prediction. Each hour
   the experiment is analysed with only the labels that had arrived (the prediction log, the
   labels joined by request id, the per-window sums, the sequential test: the code path of
   ``shipyard experiment status``). Reported: the first hour it decides, its decision (must be
   ``better``; never ``worse``), and the always-valid interval at the end (must hold +0.02).
2. A/A: ``--sims`` experiments with no effect, looked at every hour for ``--hours`` hours, on a
   0/1 metric (accuracy) and a continuous one (latency); the share that ever decided better or
   worse (must be <= 5 %), beside what a fixed-horizon test re-checked every hour would give.
3. scale: ``--rows`` logged predictions with labels as Parquet segments of the log layout; the
   wall time of reading them, joining labels and deciding accuracy and latency over hourly
   windows (target < 5 s; median of ``--repeat``), beside the reader before it
   (``bench/experiments_sql_peer.py``: one DuckDB query) on the same files, with the ratio, and
   the analysis alone on the arrays.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

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


def scale(rows: int, hours: int, repeat: int = 1, with_peer: bool = True) -> None:
    rng = np.random.default_rng(5)
    start = datetime(2026, 6, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp)
        built = time.perf_counter()
        table, label = log_table(rng, rows, int(start.timestamp() * 1e6), hours, 0.01)
        day = log_dir / "fraud" / "2026-06-01"
        day.mkdir(parents=True)
        nxt = log_dir / "fraud" / "2026-06-02"
        nxt.mkdir(parents=True)
        segment = 1_000_000
        ts = table["ts"].cast(pa.int64()).to_numpy()
        cut = int(np.searchsorted(ts, int((start + timedelta(days=1)).timestamp() * 1e6)))
        for i in range(0, rows, segment):
            part = table.slice(i, min(segment, rows - i))
            folder = day if i < cut else nxt
            pq.write_table(part, folder / f"000000-1-{i // segment:06d}.parquet")
        labels = pa.table(
            {
                "request_id": table["request_id"],
                "row": pa.array(np.full(rows, -1, np.int32)),
                "label": pa.array(label),
                "labelled_at": pa.array(
                    np.full(rows, ts.max()).astype("datetime64[us]"), pa.timestamp("us", tz="UTC")
                ),
            }
        )
        (log_dir / "fraud" / "_labels").mkdir()
        pq.write_table(labels, log_dir / "fraud" / "_labels" / "20260603T000000000000-0-1-x.parquet")
        del table, labels
        print(
            f"scale: {rows:,} logged predictions with labels written in {time.perf_counter() - built:.1f} s"
        )
        s = spec()
        end = start + timedelta(hours=hours)
        ours, peer = [], []
        for _ in range(repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            loaded = read_rows(s, str(log_dir), None, None)
            t1 = time.perf_counter()
            result = evaluate("scale", s, loaded, start, end)
            c2, t2 = time.process_time(), time.perf_counter()
            ours.append((t1 - t0, t2 - t1, t2 - t0, c2 - c0))
            if with_peer:
                del loaded
                c0, t0 = time.process_time(), time.perf_counter()
                before = evaluate("scale", s, read_rows_sql(s, str(log_dir), None, None), start, end)
                c1, t1 = time.process_time(), time.perf_counter()
                peer.append((t1 - t0, c1 - c0))
                assert before.decision == result.decision
                loaded = read_rows(s, str(log_dir), None, None)
        read_s, analysis_s, total, cpu = (statistics.median(x) for x in zip(*ours, strict=True))
        print(
            f"  read log + join labels: {read_s:.2f} s; "
            f"analysis (2 metrics x {hours} windows): {analysis_s:.2f} s; "
            f"total {total:.2f} s (target < 5 s; median of {repeat}); decision {result.decision}; "
            f"CPU time of this process (all threads) {cpu:.2f} s on {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        if peer:
            peer_s, peer_cpu = (statistics.median(x) for x in zip(*peer, strict=True))
            print(
                f"  peer (the reader before: one DuckDB query, string hash joins + GROUP BY, "
                f"bench/experiments_sql_peer.py) + the same analysis: {peer_s:.2f} s, CPU {peer_cpu:.2f} s; "
                f"ratio peer/ours: wall {peer_s / total:.2f}x, CPU {peer_cpu / cpu:.2f}x"
            )
        idx = (loaded.ts_us - loaded.ts_us.min()) // HOUR_US
        t3 = time.perf_counter()
        looks = sequential(
            window_sums(idx, loaded.arm, loaded.values["accuracy"], hours),
            higher_is_better=True,
            min_samples=2000,
        )
        print(
            f"  analysis core alone on {rows:,} rows: {time.perf_counter() - t3:.2f} s "
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
    args = parser.parse_args()
    if args.only in (None, "replay"):
        replay(args.replay_rows, args.hours)
    if args.only in (None, "aa"):
        a_a(args.sims, args.hours)
    if args.only in (None, "scale"):
        scale(args.rows, args.hours, args.repeat, not args.no_peer)


if __name__ == "__main__":
    main()

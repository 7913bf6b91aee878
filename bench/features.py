"""Feature store: shipyard vs Feast 0.67 on the same Parquet data, in the same run.

    .venv/bin/python bench/features.py [--entity-rows 1000000] [--feature-rows 1000000]
                                       [--materialize-rows 1000000] [--lookups 2000] [--skip-peer]

Point-in-time join: N entity rows x M feature rows x 10 float features (100k customers, 60 days,
a 7-day TTL, created timestamps for ties). Each side runs in its own subprocess; its time includes
reading the Parquet files and building the result as a pandas DataFrame; peak memory is that
subprocess's max RSS. Both results are checked: exactly as many rows as the entity frame, and the
values of 300 sampled entity rows equal a brute-force reference computed here with pandas.

Online: materialize the feature rows into each side's SQLite online store (and shipyard's Redis),
then ``get_online_features`` for 1 entity x 10 features, ``--lookups`` times in-process: p50/p99.

Feast runs in its own venv ``bench/.venv-feast`` (``pip install 'feast==0.67.*'``) with its local
provider: the file offline store and the SQLite online store.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DATA = ROOT / "results" / "features-data"
PEER_PY = ROOT / ".venv-feast" / "bin" / "python"
FEATURES = [f"f{i}" for i in range(10)]
CUSTOMERS = 100_000
DAYS = 60
TTL_DAYS = 7

OURS_JOIN = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from datetime import timedelta
import pandas as pd
from shipyard.features import Entity, FeatureStore, FeatureView, FileSource
features_path, entity_path, out_path = sys.argv[1:4]
entity_df = pd.read_parquet(entity_path)
view = FeatureView(name="cust", entity=Entity("customer", ["customer_id"]), source=FileSource(features_path),
                   timestamp="ts", created_timestamp="created", ttl=timedelta(days=%(ttl)d),
                   features={f"f{i}": "float64" for i in range(10)})
result = FeatureStore([view]).get_historical_features(entity_df, [f"cust:f{i}" for i in range(10)])
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result.to_parquet(out_path)
print(json.dumps({"seconds": seconds, "peak_kib": peak, "rows": len(result)}))
"""

PEER_JOIN = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
t0 = time.perf_counter()
from datetime import timedelta
import pandas as pd
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float64
features_path, entity_path, out_path, repo = sys.argv[1:5]
store = FeatureStore(repo_path=repo)
cust = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
source = FileSource(path=features_path, timestamp_field="ts", created_timestamp_column="created")
view = FeatureView(name="cust", entities=[cust], ttl=timedelta(days=%(ttl)d), source=source, online=True,
                   schema=[Field(name=f"f{i}", dtype=Float64) for i in range(10)])
store.apply([cust, view])
t_apply = time.perf_counter() - t0
entity_df = pd.read_parquet(entity_path)
refs = [f"cust:f{i}" for i in range(10)]
result = store.get_historical_features(entity_df=entity_df, features=refs).to_df()
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result.to_parquet(out_path)
print(json.dumps({"seconds": seconds, "peak_kib": peak, "rows": len(result), "apply": t_apply}))
"""

OURS_ONLINE = r"""
import json, sys, time, statistics
from datetime import datetime, timedelta, timezone
import numpy as np
from shipyard.features import Entity, FeatureStore, FeatureView, FileSource
features_path, online, lookups = sys.argv[1], sys.argv[2], int(sys.argv[3])
view = FeatureView(name="cust", entity=Entity("customer", ["customer_id"]), source=FileSource(features_path),
                   timestamp="ts", created_timestamp="created", ttl=timedelta(days=%(ttl)d),
                   features={f"f{i}": "float64" for i in range(10)})
store = FeatureStore([view], online=online)
store.online.delete_view("cust")
t0 = time.perf_counter()
written = store.materialize(end=datetime(2030, 1, 1, tzinfo=timezone.utc))
materialize = time.perf_counter() - t0
refs = [f"cust:f{i}" for i in range(10)]
keys = np.random.default_rng(7).integers(0, %(customers)d, lookups).tolist()
for key in keys[:50]:
    store.get_online_features([{"customer_id": key}], refs)
times = []
for key in keys:
    s = time.perf_counter()
    store.get_online_features([{"customer_id": key}], refs)
    times.append(time.perf_counter() - s)
times.sort()
print(json.dumps({"materialize": materialize, "written": written["cust"],
                  "p50_ms": times[len(times)//2] * 1000, "p99_ms": times[int(len(times) * 0.99)] * 1000}))
"""

PEER_ONLINE = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
from datetime import datetime, timedelta, timezone
import numpy as np
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
from feast.types import Float64
features_path, repo, lookups = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = FeatureStore(repo_path=repo)
cust = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
source = FileSource(path=features_path, timestamp_field="ts", created_timestamp_column="created")
view = FeatureView(name="cust", entities=[cust], ttl=timedelta(days=%(ttl)d), source=source, online=True,
                   schema=[Field(name=f"f{i}", dtype=Float64) for i in range(10)])
store.apply([cust, view])
t0 = time.perf_counter()
utc = timezone.utc
store.materialize(start_date=datetime(2000, 1, 1, tzinfo=utc), end_date=datetime(2030, 1, 1, tzinfo=utc))
materialize = time.perf_counter() - t0
refs = [f"cust:f{i}" for i in range(10)]
keys = np.random.default_rng(7).integers(0, %(customers)d, lookups).tolist()
for key in keys[:50]:
    store.get_online_features(features=refs, entity_rows=[{"customer_id": key}]).to_dict()
times = []
for key in keys:
    s = time.perf_counter()
    store.get_online_features(features=refs, entity_rows=[{"customer_id": key}]).to_dict()
    times.append(time.perf_counter() - s)
times.sort()
print(json.dumps({"materialize": materialize, "p50_ms": times[len(times)//2] * 1000,
                  "p99_ms": times[int(len(times) * 0.99)] * 1000}))
"""

REPO_YAML = """project: bench
registry: {repo}/registry.db
provider: local
online_store:
  type: sqlite
  path: {repo}/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def make_data(entity_rows: int, feature_rows: int) -> tuple[Path, Path]:
    import numpy as np
    import pandas as pd

    DATA.mkdir(parents=True, exist_ok=True)
    features_path = DATA / f"features-{feature_rows}.parquet"
    entity_path = DATA / f"entity-{entity_rows}.parquet"
    start = pd.Timestamp("2026-01-01", tz="UTC")
    span = DAYS * 86_400 * 1_000_000
    if not features_path.exists():
        rng = np.random.default_rng(20261207)
        ts = start + pd.to_timedelta(rng.integers(0, span, feature_rows), unit="us")
        frame = pd.DataFrame({"customer_id": rng.integers(0, CUSTOMERS, feature_rows), "ts": ts})
        frame["created"] = frame["ts"] + pd.to_timedelta(
            rng.integers(0, 3_600_000_000, feature_rows), unit="us"
        )
        for name in FEATURES:
            frame[name] = rng.normal(0, 1, feature_rows)
        frame.to_parquet(features_path, index=False)
    if not entity_path.exists():
        rng = np.random.default_rng(1207)
        ts = start + pd.to_timedelta(rng.integers(0, span, entity_rows), unit="us")
        # about 5% of the customers asked for never appear in the feature rows
        pd.DataFrame(
            {"customer_id": rng.integers(0, int(CUSTOMERS * 1.05), entity_rows), "event_timestamp": ts}
        ).to_parquet(entity_path, index=False)
    return features_path, entity_path


def reference_values(
    features_path: Path, entity_path: Path, count: int
) -> list[tuple[int, object, list[float | None]]]:
    """Brute force for ``count`` sampled entity rows: the latest row at or before, within the TTL."""
    import numpy as np
    import pandas as pd

    feats = pd.read_parquet(features_path)
    entity = pd.read_parquet(entity_path)
    entity = entity.drop_duplicates(["customer_id", "event_timestamp"], keep=False)
    sample = entity.sample(n=min(count, len(entity)), random_state=3)
    by_key = {key: group for key, group in feats.groupby("customer_id")}
    ttl = pd.Timedelta(days=TTL_DAYS)
    out = []
    for key, at in zip(sample["customer_id"], sample["event_timestamp"], strict=True):
        group = by_key.get(key)
        values: list[float | None] = [None] * len(FEATURES)
        if group is not None:
            hits = group[(group["ts"] <= at) & (at - group["ts"] <= ttl)]
            if len(hits):
                best = hits.sort_values(["ts", "created"]).iloc[-1]
                values = [float(best[name]) for name in FEATURES]
        out.append((int(key), at, values))
    del np
    return out


def check(result_path: Path, expected: list[tuple[int, object, list[float | None]]]) -> str:
    import math

    import pandas as pd

    result = pd.read_parquet(result_path)
    result["event_timestamp"] = pd.to_datetime(result["event_timestamp"], utc=True)
    indexed = result.set_index(["customer_id", "event_timestamp"])
    wrong = 0
    for key, at, values in expected:
        try:
            row = indexed.loc[(key, at)]
        except KeyError:
            wrong += 1
            continue
        if isinstance(row, pd.DataFrame):
            row = row.iloc[0]
        got = [
            None if (v is None or (isinstance(v, float) and math.isnan(v))) else float(v)
            for v in row[FEATURES]
        ]
        if any(
            (a is None) != (b is None) or (a is not None and abs(a - b) > 1e-12)
            for a, b in zip(got, values, strict=True)
        ):
            wrong += 1
    return f"{len(expected) - wrong}/{len(expected)} sampled rows equal the brute-force reference"


def run(python: str, code: str, args: list[str], timeout: float) -> dict[str, float]:
    proc = subprocess.run(
        [python, "-c", code, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def repo(folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feature_store.yaml").write_text(REPO_YAML.format(repo=folder))
    return str(folder)


def row(name: str, ours: float, peer: float, unit: str, target: str, ok: bool) -> None:
    ratio = peer / max(ours, 1e-12)
    print(
        f"{name:<34}{ours:>12.3f}{peer:>12.3f} {unit:<4}{ratio:>9.1f}x{target:>10}  "
        f"{'PASS' if ok else 'FAIL'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entity-rows", type=int, default=1_000_000)
    parser.add_argument("--feature-rows", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    features_path, entity_path = make_data(args.entity_rows, args.feature_rows)
    params = {"ttl": TTL_DAYS, "customers": CUSTOMERS}
    expected = reference_values(features_path, entity_path, 300)
    work = Path(tempfile.mkdtemp(prefix="bench-features-"))
    print(
        f"point-in-time join: {args.entity_rows:,} entity rows x {args.feature_rows:,} feature rows "
        "x 10 features"
    )
    ours = run(
        sys.executable,
        OURS_JOIN % params,
        [str(features_path), str(entity_path), str(work / "ours.parquet")],
        args.timeout,
    )
    print(
        f"  shipyard {ours['seconds']:.2f} s, {ours['peak_kib'] / 1024:.0f} MiB, {ours['rows']:,} rows; "
        f"{check(work / 'ours.parquet', expected)}"
    )
    online_ours = run(
        sys.executable,
        OURS_ONLINE % params,
        [str(features_path), f"sqlite:///{work}/online.db", str(args.lookups)],
        args.timeout,
    )
    print(
        f"  shipyard online (SQLite): materialize {online_ours['materialize']:.2f} s "
        f"({online_ours['written']:,} entities), p50 {online_ours['p50_ms']:.3f} ms, "
        f"p99 {online_ours['p99_ms']:.3f} ms"
    )
    try:
        online_redis = run(
            sys.executable,
            OURS_ONLINE % params,
            [str(features_path), args.redis, str(args.lookups)],
            args.timeout,
        )
        print(
            f"  shipyard online (Redis): materialize {online_redis['materialize']:.2f} s, "
            f"p50 {online_redis['p50_ms']:.3f} ms, p99 {online_redis['p99_ms']:.3f} ms"
        )
    except RuntimeError as exc:
        print(f"  shipyard online (Redis) skipped: {str(exc).splitlines()[-1]}")
    if args.skip_peer or not PEER_PY.exists():
        print("  Feast skipped" + ("" if args.skip_peer else " (no bench/.venv-feast)"))
        return
    peer = run(
        str(PEER_PY),
        PEER_JOIN % params,
        [str(features_path), str(entity_path), str(work / "feast.parquet"), repo(work / "feast-join")],
        args.timeout,
    )
    print(
        f"  Feast {peer['seconds']:.2f} s, {peer['peak_kib'] / 1024:.0f} MiB, {peer['rows']:,} rows; "
        f"{check(work / 'feast.parquet', expected)}"
    )
    online_peer = run(
        str(PEER_PY),
        PEER_ONLINE % params,
        [str(features_path), repo(work / "feast-online"), str(args.lookups)],
        args.timeout,
    )
    print(
        f"  Feast online (SQLite): materialize {online_peer['materialize']:.2f} s, "
        f"p50 {online_peer['p50_ms']:.3f} ms, p99 {online_peer['p99_ms']:.3f} ms"
    )
    print()
    print(f"{'':<34}{'shipyard':>12}{'Feast':>12}{'':5}{'ratio':>10}{'target':>10}")
    row(
        "join seconds",
        ours["seconds"],
        peer["seconds"],
        "s",
        ">=10x",
        peer["seconds"] / ours["seconds"] >= 10,
    )
    mem = ours["peak_kib"] / peer["peak_kib"]
    print(
        f"{'join peak MiB':<34}{ours['peak_kib'] / 1024:>12.0f}{peer['peak_kib'] / 1024:>12.0f} {'MiB':<4}"
        f"{mem:>9.2f}x{'<=0.33x':>10}  {'PASS' if mem <= 1 / 3 else 'FAIL'}"
    )
    exact = ours["rows"] == args.entity_rows
    print(
        f"{'join rows (entity frame: ' + format(args.entity_rows, ',') + ')':<34}{ours['rows']:>12,}"
        f"{peer['rows']:>12,}{'':24}  {'PASS' if exact else 'FAIL'}"
    )
    row(
        "materialize seconds (SQLite)",
        online_ours["materialize"],
        online_peer["materialize"],
        "s",
        ">=10x",
        online_peer["materialize"] / online_ours["materialize"] >= 10,
    )
    row(
        "online p50 ms (SQLite)",
        online_ours["p50_ms"],
        online_peer["p50_ms"],
        "ms",
        ">=5x",
        online_peer["p50_ms"] / online_ours["p50_ms"] >= 5,
    )
    row(
        "online p99 ms (SQLite)",
        online_ours["p99_ms"],
        online_peer["p99_ms"],
        "ms",
        "<1ms, 5x",
        online_ours["p99_ms"] < 1 and online_peer["p99_ms"] / online_ours["p99_ms"] >= 5,
    )
    print("(2 cores shared; each side in its own subprocess; times include reading Parquet)")


if __name__ == "__main__":
    main()

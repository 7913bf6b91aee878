"""Argo export benchmark: time to export and size of the spec for 10, 1,000 and 10,000-way fan-outs.

    PYTHONPATH=src python bench/orchestrators_export.py [--repeat 5]

The flow is ``hello`` of tests/flows/flows_for_tests/fanout.py (``numbers(n)`` -> ``square.map`` ->
``total``), exported as `shipyard export argo` does (build the graph, write the YAML). Item lists
and task ids stay in the artifact store, so the spec must not grow with the width (target: flat,
and under 100 KB at 10,000). For reference, the last column is what an exporter passing the items
through Argo's ``withParam`` would put in one output parameter (a JSON list of as many task ids of
Metaflow's form, ``t-`` and 8 hex digits; Argo's limit is 256 KB): Metaflow issue 1538.
Prints a table; writes ``bench/results/orchestrators_export.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from shipyard.exporters.argo import ArgoOptions, export, to_yaml
from shipyard.exporters.source import flow_ref

ROOT = Path(__file__).resolve().parents[1]
FLOW = ROOT / "tests" / "flows" / "flows_for_tests" / "fanout.py"
RESULTS = ROOT / "bench" / "results" / "orchestrators_export.json"
WIDTHS = (10, 1_000, 10_000)
LIMIT_KB = 100


def _export(n: int) -> tuple[float, int]:
    start = time.perf_counter()
    ref = flow_ref(FLOW, {"n": str(n)}, "hello", "/app")
    text = to_yaml(export(ref, ArgoOptions(image="registry.example/fraud:1")), FLOW.name)
    return time.perf_counter() - start, len(text.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    _export(10)  # import the flow file once, as the CLI would on its first call
    rows = []
    for n in WIDTHS:
        times, sizes = zip(*(_export(n) for _ in range(args.repeat)), strict=True)
        with_param = len(json.dumps([f"t-{i:08x}" for i in range(n)]).encode())
        rows.append(
            {
                "width": n,
                "export_ms": statistics.median(times) * 1000,
                "spec_bytes": sizes[0],
                "withparam": with_param,
            }
        )
    print(f"{'width':>8} {'export ms':>10} {'spec KB':>9} {'withParam KB':>13}")
    for row in rows:
        print(
            f"{row['width']:>8,} {row['export_ms']:>10.1f} {row['spec_bytes'] / 1024:>9.2f} "
            f"{row['withparam'] / 1024:>13.1f}"
        )
    sizes = [row["spec_bytes"] for row in rows]
    flat = max(sizes) - min(sizes) <= 8
    small = sizes[-1] < LIMIT_KB * 1024
    print(f"spec size flat across widths: {'PASS' if flat else 'FAIL'} ({min(sizes)}..{max(sizes)} bytes)")
    print(f"10,000-way spec under {LIMIT_KB} KB: {'PASS' if small else 'FAIL'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"rows": rows, "flat": flat, "under_limit": small}, indent=2))


if __name__ == "__main__":
    main()

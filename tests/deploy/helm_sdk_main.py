"""Run by :func:`tests.deploy.render_tools.helm_template` with the python of ``.venvs/helm`` (where
``helm-python-sdk`` is installed; Helm's Go SDK through ctypes, kept out of the test process):

    python helm_sdk_main.py REQUEST_JSON

REQUEST_JSON: ``{"chart", "values_file" (or null), "namespace", "release", "kube_versions"}``.
Prints ``{"helm": SDK version, "lint": {kube version: helm lint's report}, "manifests": {template:
text}}``: what ``helm lint --strict -n NAMESPACE -f VALUES --kube-version V`` and
``helm template RELEASE CHART -n NAMESPACE -f VALUES`` give.
Imports nothing from the project: it runs in another virtual environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(request: dict[str, object]) -> dict[str, object]:
    import helm_python as helm

    chart_dir = Path(str(request["chart"]))
    values_file = request["values_file"]
    values = None
    if values_file is not None:
        # Helm's own YAML reading of a -f file (numbers, nulls and all)
        values = helm.values_from_yaml((chart_dir / str(values_file)).read_text())
    namespace = str(request["namespace"])
    lint = {
        version: helm.lint(chart_dir, values, strict=True, namespace=namespace, kube_version=version)
        for version in (str(v) for v in request["kube_versions"])  # type: ignore[attr-defined]
    }
    with helm.Chart.load(chart_dir) as chart:
        manifests = chart.render(
            values,
            name=str(request["release"]),
            namespace=namespace,
            is_install=True,
        )
    return {"helm": helm.helm_sdk_version(), "lint": lint, "manifests": manifests}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))

"""The self-contained HTML monitoring report (``shipyard monitor report --html``): inline CSS and
pure-SVG charts, no scripts and no external requests, so it opens anywhere (mail, CI artifacts)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shipyard.monitoring.drift import DriftReport
from shipyard.monitoring.quality import WindowQuality

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:960px;color:#1d2433}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
td,th{padding:.3rem .6rem;border-bottom:1px solid #e3e6ec;text-align:left}th{font-weight:600}
.drift{color:#b42318;font-weight:600}.ok{color:#067647}.muted{color:#667085}
svg{background:#fafbfc;border:1px solid #e3e6ec}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def svg_line(
    points: Sequence[tuple[float, float | None]],
    *,
    width: int = 900,
    height: int = 180,
    threshold: float | None = None,
    label: str = "",
) -> str:
    """A polyline chart of ``(x, y)`` points (None = a gap), with an optional threshold line."""
    known = [(x, y) for x, y in points if y is not None]
    if not known:
        return f'<p class="muted">{_esc(label)}: no data</p>'
    xs = [x for x, _ in known]
    ys = [y for _, y in known] + ([threshold] if threshold is not None else [])
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(0.0, *ys), max(ys) * 1.1 if max(ys) > 0 else 1.0
    pad = 30

    def sx(x: float) -> float:
        return pad + (x - x0) / (x1 - x0) * (width - 2 * pad)

    def sy(y: float) -> float:
        return height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad)

    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in known)
    parts = [
        f'<svg role="img" aria-label="{_esc(label)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="{pad}" y="16" font-size="12">{_esc(label)}</text>',
        f'<polyline fill="none" stroke="#2e5aac" stroke-width="2" points="{path}"/>',
    ]
    parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="#2e5aac"/>' for x, y in known]
    if threshold is not None:
        parts.append(
            f'<line x1="{pad}" x2="{width - pad}" y1="{sy(threshold):.1f}" y2="{sy(threshold):.1f}" '
            'stroke="#b42318" stroke-dasharray="4 3"/>'
        )
    parts.append(
        f'<text x="4" y="{sy(y1):.0f}" font-size="10">{y1:.3g}</text>'
        f'<text x="4" y="{sy(y0):.0f}" font-size="10">{y0:.3g}</text></svg>'
    )
    return "".join(parts)


def render_report(  # noqa: PLR0917
    title: str,
    drift: DriftReport | None,
    quality: Sequence[WindowQuality],
    drift_over_time: Sequence[tuple[datetime, DriftReport | None]] = (),
    importance: dict[str, Any] | None = None,
    notes: Sequence[str] = (),
) -> str:
    out = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{_esc(title)}</h1>"
    ]
    out += [f'<p class="muted">{_esc(n)}</p>' for n in notes]
    out.append("<h2>Feature drift</h2>")
    if drift is None:
        out.append('<p class="muted">no data in this window</p>')
    else:
        verdict = "dataset drift" if drift.dataset_drift else "no dataset drift"
        out.append(
            f"<p>{drift.rows} rows; {len(drift.drifted)} of {len(drift.features)} features drifted "
            f"({verdict}).</p><table><tr><th>feature</th><th>type</th><th>method</th><th>score</th>"
            "<th>p-value</th><th>threshold</th><th>verdict</th></tr>"
        )
        rows = [*drift.features, *([drift.prediction] if drift.prediction else [])]
        for f in rows:
            p = "-" if f.p_value is None else f"{f.p_value:.3g}"
            cls, word = ("drift", "drift") if f.drift else ("ok", "ok")
            out.append(
                f"<tr><td>{_esc(f.feature)}</td><td>{f.kind}</td><td>{f.method}</td><td>{f.score:.4g}</td>"
                f"<td>{p}</td><td>{f.threshold:g}</td><td class='{cls}'>{word}</td></tr>"
            )
        out.append("</table>")
        if drift.missing_features:
            out.append(
                f"<p class='drift'>missing from the log: {_esc(', '.join(drift.missing_features))}</p>"
            )
    if drift_over_time:
        out.append("<h2>Drift share over time</h2>")
        pts = [(t.timestamp(), r.drift_share if r else None) for t, r in drift_over_time]
        out.append(svg_line(pts, threshold=0.5, label="share of drifted features"))
    out.append("<h2>Quality per window</h2>")
    metric = next(
        (m for m in ("f1", "rmse", "accuracy", "mae") if any(m in q.metrics for q in quality)), None
    )
    if metric:
        out.append(
            svg_line(
                [((q.start or datetime.min).timestamp(), q.metrics.get(metric)) for q in quality],
                label=f"{metric} per window",
            )
        )
    out.append("<table><tr><th>window start</th><th>predictions</th><th>labelled</th><th>metrics</th></tr>")
    for q in quality:
        metrics = ", ".join(f"{k}={v:.3f}" for k, v in q.metrics.items()) or _esc(q.note)
        start = f"{q.start:%Y-%m-%d %H:%M}" if q.start else "-"
        out.append(
            f"<tr><td>{start}</td><td>{q.predictions}</td><td>{q.labelled}</td><td>{metrics}</td></tr>"
        )
    out.append("</table>")
    if importance:
        out.append("<h2>Feature importance</h2><table><tr><th>feature</th><th>importance</th></tr>")
        for name, value in importance.items():
            number = value["mean"] if isinstance(value, dict) else value
            out.append(f"<tr><td>{_esc(name)}</td><td>{float(number):.4g}</td></tr>")
        out.append("</table>")
    out.append("</body></html>")
    return "".join(out)


def drift_repr(report: DriftReport) -> str:
    """A drift report in a notebook (``DriftReport._repr_html_``): the verdict, a chart of each
    feature's score against its threshold, and the per-feature table; every name escaped."""
    from shipyard.cards.svg import bar_chart
    from shipyard.core.html import grid, repr_block, status

    features = [*report.features, *([report.prediction] if report.prediction else [])]
    verdict = "drift" if report.dataset_drift else "no drift"
    summary = (
        f"<p>{status('failed' if report.dataset_drift else 'succeeded')} — {_esc(verdict)}: "
        f"{len(report.drifted)} of {len(report.features)} features drifted "
        f"(share {report.drift_share:.0%}) over {report.rows:,} rows</p>"
    )
    chart = bar_chart(
        [f.feature for f in features],
        [("score", [f.score for f in features]), ("threshold", [f.threshold for f in features])],
        label="drift score per feature",
    )
    rows = [
        [
            f.feature,
            f.kind,
            f.method,
            f.score,
            f.p_value,
            f.threshold,
            status("failed" if f.drift else "succeeded"),
        ]
        for f in features
    ]
    table = grid(
        ["feature", "kind", "method", "score", "p-value", "threshold", "drift"], rows, raw_columns=(6,)
    )
    notes = ""
    if report.missing_features:
        notes += f'<p class="muted">missing: {_esc(", ".join(report.missing_features))}</p>'
    if report.no_data:
        notes += f'<p class="muted">no data: {_esc(", ".join(report.no_data))}</p>'
    return repr_block("Drift report", summary + chart + table + notes)

"""The UI's pages over HTTP (no browser): auth, headers, escaping, previews, downloads, filters."""

from __future__ import annotations

import json
import re

from shipyard.server.ui.routes import PERMISSIONS
from tests.ui.conftest import UiApp
from tests.ui.live import LiveServer
from tests.ui.seed import XSS


def _flow(ui: UiApp) -> str:
    return ui.seeded.runs["train-flow-run"]


def test_every_ui_route_is_in_the_permission_table(ui_app: UiApp) -> None:
    from fastapi.routing import APIRoute

    ui_routes = {
        (method, route.path)
        for route in ui_app.app.routes  # type: ignore[attr-defined]
        if isinstance(route, APIRoute) and (route.path.startswith("/ui") or route.path == "/")
        for method in route.methods
    }
    assert ui_routes == set(PERMISSIONS)
    assert ("GET", "/") in ui_routes  # the server's root: browsers land on the UI


def test_a_signed_out_browser_is_sent_to_the_login_page(live: LiveServer) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    reply = live.request("GET", "/ui/runs?status=failed", browser)
    assert reply.status == 303
    assert reply.headers["location"] == "/ui/login?next=%2Fui%2Fruns%3Fstatus%3Dfailed"
    assert live.request("GET", "/ui/login", browser).status == 200
    # API clients and non-page requests still get the JSON 401
    assert live.get("/ui/runs").status == 401
    assert live.request("GET", "/api/v1/runs", browser).status == 401


def test_pages_need_a_token_and_accept_the_cookie(live: LiveServer, ui_app: UiApp) -> None:
    assert live.get("/ui/runs").status == 401
    assert live.get("/ui/runs", cookie="shipyard_token=shp_not_a_real_token").status == 401
    assert live.get("/ui/runs", cookie=f"shipyard_token={ui_app.reader_token}").status == 200
    # signing in: a wrong token sets nothing; a right one sets an HttpOnly, SameSite=Strict cookie
    bad = live.request("POST", "/ui/login", {"Content-Type": "application/json"}, b'{"token": "shp_x"}')
    assert bad.status == 401 and bad.headers.get("set-cookie") is None
    body = json.dumps({"token": ui_app.token, "next": "https://evil.example/"}).encode()
    good = live.request("POST", "/ui/login", {"Content-Type": "application/json"}, body)
    assert good.status == 200
    assert json.loads(good.body) == {"next": "/ui/runs"}  # no open redirect
    cookie = good.headers["set-cookie"]
    assert cookie.startswith(f"shipyard_token={ui_app.token};")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    # a form post (what a cross-site page can send) is refused before the route runs
    form = live.request(
        "POST", "/ui/login", {"Content-Type": "application/x-www-form-urlencoded"}, b"token=x"
    )
    assert form.status == 415
    assert live.get("/ui/login").status == 200
    assert live.get("/ui/static/ui.css").status == 200


def test_pages_send_a_strict_csp_and_no_inline_script(live: LiveServer, ui_app: UiApp) -> None:
    for path in ("/ui/runs", f"/ui/runs/{_flow(ui_app)}", "/ui/models", "/ui/login"):
        reply = live.get(path, ui_app.token)
        assert reply.status == 200, path
        csp = reply.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert reply.headers["x-content-type-options"] == "nosniff"
        # every <script> either loads a file from this server or carries JSON data
        for tag in re.findall(r"<script[^>]*>", reply.text):
            assert 'src="/ui/static/' in tag or 'type="application/json"' in tag, tag


def test_user_text_is_escaped(live: LiveServer, ui_app: UiApp) -> None:
    run = live.get(f"/ui/runs/{ui_app.seeded.runs['baseline']}", ui_app.token).text
    assert XSS not in run
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;" in run
    text = live.get(
        f"/ui/runs/{_flow(ui_app)}/artifacts/{ui_app.seeded.artifacts['notes.txt']}", ui_app.token
    )
    assert XSS not in text.text and "&lt;script&gt;" in text.text
    table = live.get(f"/ui/runs/{_flow(ui_app)}/artifacts/{ui_app.seeded.artifacts['dataset']}", ui_app.token)
    assert XSS not in table.text


def test_runs_list_filters_and_pages(live: LiveServer, ui_app: UiApp) -> None:
    def names(path: str) -> list[str]:
        reply = live.get(path, ui_app.token)
        assert reply.status == 200, reply.text
        return re.findall(r'<a href="/ui/runs/[0-9a-f]+">([^<]+)</a>', reply.text)

    assert set(names("/ui/runs")) == {"baseline", "tuned", "other-team", "train-flow-run"}
    assert names("/ui/runs?filter=params.optimizer+%3D+%27adam%27") == ["tuned"]
    assert names("/ui/runs?status=failed") == ["train-flow-run"]
    assert names("/ui/runs?flow=train_flow") == ["train-flow-run"]
    assert names("/ui/runs?namespace=team%3Anlp") == ["other-team"]
    assert set(names("/ui/runs?tag=team%3Dvision")) == {"baseline", "tuned", "train-flow-run"}
    assert names("/ui/runs?tag=team%3Dx%27+OR+1%3D1") == []  # the value is quoted, not parsed
    assert set(names("/ui/runs?tag=stage")) == {"baseline", "tuned"}
    first = live.get("/ui/runs?limit=3&order=name", ui_app.token).text
    assert "1\u20133 of 4 runs" in first and 'href="/ui/runs?order=name&amp;offset=3&amp;limit=3"' in first
    assert names("/ui/runs?limit=3&order=name&offset=3") == ["tuned"]


def test_bad_filters_answer_400_with_the_reason(live: LiveServer, ui_app: UiApp) -> None:
    reply = live.get("/ui/runs?filter=metrics.acc+%3E%3E+1", ui_app.token)
    assert reply.status == 400 and 'class="alert"' in reply.text
    assert live.get("/ui/runs?status=bogus", ui_app.token).status == 400
    assert live.get("/ui/runs?limit=0", ui_app.token).status == 400


def test_run_page_has_charts_dag_tasks_and_artifacts(live: LiveServer, ui_app: UiApp) -> None:
    html = live.get(f"/ui/runs/{_flow(ui_app)}", ui_app.token).text
    charts = [
        json.loads(m)
        for m in re.findall(r'<script type="application/json" class="chart-data">(.*?)</script>', html)
    ]
    assert {c["title"] for c in charts} == {"acc", "loss"}
    loss = next(c for c in charts if c["title"] == "loss")
    assert loss["data"][0] == list(range(30)) and len(loss["data"][1]) == 30
    assert html.count('<g class="node') == 5
    assert html.count('<path class="edge"') == 4  # load -> featurize -> train -> evaluate -> report
    assert '<g class="node n-failed" data-step="report">' in html
    assert '<g class="node n-cached" data-step="featurize">' not in html  # worst status wins: succeeded
    assert "3 succeeded" not in html and "2 succeeded, 1 cached" in html
    for name in ("dataset", "confusion.png", "notes.txt", "model"):
        assert f">{name}</a>" in html
    assert "logs/stdout" not in html  # logs are on the task pages
    assert 'href="/ui/models/churn-model/versions/1"' in html


def test_short_run_ids_redirect_to_the_run(live: LiveServer, ui_app: UiApp) -> None:
    run_id = _flow(ui_app)
    reply = live.get(f"/ui/runs/{run_id[:12]}", ui_app.token)
    assert reply.status == 303 and reply.headers["location"] == f"/ui/runs/{run_id}"
    assert live.get("/ui/runs/zzzzzzzzzzzz", ui_app.token).status == 404


def test_task_logs(live: LiveServer, ui_app: UiApp) -> None:
    task = ui_app.seeded.tasks["report"]
    html = live.get(f"/ui/runs/{_flow(ui_app)}/tasks/{task}/logs", ui_app.token).text
    assert "[report] started" in html and "warning: report" in html and "ValueError: no scores" in html
    other = ui_app.seeded.runs["baseline"]
    assert live.get(f"/ui/runs/{other}/tasks/{task}/logs", ui_app.token).status == 404


def test_artifact_previews_images_and_downloads(live: LiveServer, ui_app: UiApp) -> None:
    art, run = ui_app.seeded.artifacts, _flow(ui_app)
    table = live.get(f"/ui/runs/{run}/artifacts/{art['dataset']}", ui_app.token).text
    assert "First 50 of 120 rows." in table
    assert table.count("<tr>") == 51  # header + 50 rows
    image = live.get(f"/ui/runs/{run}/artifacts/{art['confusion.png']}/image", ui_app.token)
    assert image.status == 200 and image.headers["content-type"] == "image/png"
    assert image.body.startswith(b"\x89PNG") and "sandbox" in image.headers["content-security-policy"]
    spoof = live.get(f"/ui/runs/{run}/artifacts/{art['fake.png']}/image", ui_app.token)
    assert spoof.status == 404  # HTML named .png is never served as an image
    fake_page = live.get(f"/ui/runs/{run}/artifacts/{art['fake.png']}", ui_app.token).text
    assert 'id="preview-text"' in fake_page and "&lt;html&gt;" in fake_page
    download = live.get(f"/ui/runs/{run}/artifacts/{art['dataset']}/download", ui_app.token)
    assert download.status == 200
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == 'attachment; filename="dataset.parquet"'
    record = ui_app.seeded.stores.metadata.get_artifact(art["dataset"])
    assert download.body == ui_app.seeded.stores.artifacts.get_bytes(record.digest)
    # an artifact id is only reachable under its own run
    assert (
        live.get(f"/ui/runs/{ui_app.seeded.runs['tuned']}/artifacts/{art['dataset']}", ui_app.token).status
        == 404
    )


def test_compare_highlights_differences(live: LiveServer, ui_app: UiApp) -> None:
    runs = ui_app.seeded.runs
    html = live.get(f"/ui/compare?run={runs['baseline']}&run={runs['tuned']}", ui_app.token).text
    rows = dict(re.findall(r'<tr class="(diff|same)"><th>([^<]+)</th>', html)[i][::-1] for i in range(4))
    assert rows == {"epochs": "same", "lr": "diff", "note": "same", "optimizer": "diff"}
    charts = [json.loads(m) for m in re.findall(r'class="chart-data">(.*?)</script>', html)]
    assert [c["labels"] for c in charts] == [["baseline", "tuned"], ["baseline", "tuned"]]
    only = live.get(f"/ui/compare?run={runs['baseline']}&run={runs['tuned']}&diff=1", ui_app.token).text
    assert ">epochs<" not in only and ">lr<" in only
    assert live.get(f"/ui/compare?run={runs['baseline']}", ui_app.token).status == 400


def test_model_pages(live: LiveServer, ui_app: UiApp) -> None:
    listing = live.get("/ui/models", ui_app.token).text
    assert "churn-model" in listing and "@champion → v2" in listing
    model = live.get("/ui/models/churn-model", ui_app.token).text
    assert model.count('href="/ui/models/churn-model/versions/') >= 4  # versions table + aliases
    version = live.get("/ui/models/churn-model/versions/2", ui_app.token).text
    assert "Retrained." in version and "Intended use:" in version and "approved" in version
    lineage = version[version.index('id="lineage"') :]
    assert f'/artifacts/{ui_app.seeded.artifacts["dataset"]}">dataset</a>' in lineage
    assert "train-flow-run" in lineage and "task train" in lineage
    assert live.get("/ui/models/nope", ui_app.token).status == 404
    assert live.get("/ui/models/churn-model/versions/x", ui_app.token).status == 400

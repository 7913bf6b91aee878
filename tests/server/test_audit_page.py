"""The audit log page for admins (issue 12: "a UI page for admins"): /ui/audit needs audit:read,
lists events newest first with filters and paging, escapes what it shows, and reports the hash
chain's verdict, naming the first event an edit broke."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import httpx

from tests.server.access_helpers import make_user, run_of
from tests.server.live import LiveServer


def page(server: LiveServer, token: str, **params: str | int) -> httpx.Response:
    return httpx.get(server.url + "/ui/audit", params=params, headers={"Cookie": f"shipyard_token={token}"})


def ids(html: str) -> list[int]:
    body = html.split('id="audit-table"', 1)[1]
    return [int(i) for i in re.findall(r"<tr[^>]*>\s*<td>(\d+)</td>", body)]


def test_admins_see_the_events_and_the_chain_verdict(server: LiveServer, admin: httpx.Client) -> None:
    for i in range(3):
        admin.post("/api/v1/groups", json={"name": f"g{i}"}).raise_for_status()
    viewer = make_user(admin, "vic", "viewer")
    shown = page(server, server.token)
    assert shown.status_code == 200
    assert "chain ok" in shown.text and "chain broken" not in shown.text
    assert "POST /api/v1/groups" in shown.text and 'href="/ui/audit"' in shown.text  # the nav link
    listed = ids(shown.text)
    assert listed == sorted(listed, reverse=True) and len(listed) >= 5
    # a viewer has no audit:read: refused, and the nav does not offer the page
    assert page(server, viewer).status_code == 403
    runs = httpx.get(server.url + "/ui/runs", headers={"Cookie": f"shipyard_token={viewer}"})
    assert runs.status_code == 200 and 'href="/ui/audit"' not in runs.text


def test_filters_and_paging(server: LiveServer, admin: httpx.Client) -> None:
    token = make_user(admin, "ann", "developer")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as ann:
        run_of(ann, "ann")
    for i in range(60):
        admin.post("/api/v1/groups", json={"name": f"g{i}"}).raise_for_status()
    mine = page(server, server.token, who="ann")
    assert mine.status_code == 200 and len(ids(mine.text)) == 1 and "POST /api/v1/runs" in mine.text
    groups = page(server, server.token, what="/groups")
    first = ids(groups.text)
    assert len(first) == 50 and 'id="older"' in groups.text
    older = page(server, server.token, what="/groups", before_id=first[-1])
    rest = ids(older.text)
    assert rest and max(rest) < min(first) and len(first) + len(rest) >= 60
    assert page(server, server.token, since="2999-01-01").text.count("No events match") == 1
    bad = page(server, server.token, since="yesterday")
    assert bad.status_code == 400 and "is not a date" in bad.text
    assert page(server, server.token, before_id="x").status_code == 400


def test_what_it_shows_is_escaped(server: LiveServer, admin: httpx.Client) -> None:
    admin.patch("/api/v1/users/<img src=x onerror=alert(1)>", json={"disabled": True})  # audited path
    shown = page(server, server.token, who="admin")
    assert "<img src=x" not in shown.text and "&lt;img src=x onerror=alert(1)&gt;" in shown.text
    assert "script-src 'self'" in shown.headers["content-security-policy"]


def test_a_tampered_row_shows_as_the_broken_event(server: LiveServer, admin: httpx.Client) -> None:
    for i in range(4):
        admin.post("/api/v1/groups", json={"name": f"g{i}"}).raise_for_status()
    assert "chain ok" in page(server, server.token).text
    db = Path(str(server.settings.uri).removeprefix("sqlite:///"))
    with sqlite3.connect(db) as conn:
        (victim,) = conn.execute("SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 1").fetchone()
        conn.execute("UPDATE audit_events SET user = 'someone-else' WHERE id = ?", (victim,))
    shown = page(server, server.token)
    assert shown.status_code == 200 and "chain broken" in shown.text and "chain ok" not in shown.text
    assert f'<strong id="bad-event">{victim}</strong>' in shown.text
    assert f'<tr class="bad-event">\n      <td>{victim}</td>' in shown.text

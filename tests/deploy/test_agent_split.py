"""An experiment in the router: traffic split between production's and the challenger's backends by
the experiment's share and assignment unit (each request, or a sticky key), the arm counted and
answered, a sticky experiment's request without its key refused, and production answering the
challenger's units while the challenger has no backend ready."""

from __future__ import annotations

import json
import math

import httpx

from shipyard.deploy.agent.process import free_port
from shipyard.deploy.agent.router import Router
from shipyard.deploy.agent.split import Split, sticky_unit
from shipyard.experiments.assign import arm
from tests.deploy.test_agent_router import Backend, in_loop, routed, serving


def _within(count: int, total: int, share: float) -> bool:
    """``count`` of ``total`` is within 4 standard deviations of ``share`` percent."""
    p = share / 100
    return abs(count - total * p) <= 4 * math.sqrt(total * p * (1 - p))


@in_loop
async def test_requests_are_split_by_share_and_each_answer_names_its_arm() -> None:
    async with (
        serving(Backend("prod")) as prod,
        serving(Backend("chal")) as chal,
        routed(prod.port) as router,
        httpx.AsyncClient() as client,
    ):
        challenger = Router("api.challenger", "127.0.0.1", 0)  # listens nowhere, as the agent's slot
        challenger.switch([chal.port])
        split = router.split = Split("ab", 30.0, challenger)
        url = f"http://127.0.0.1:{router.port}/predict"
        seen: dict[str, int] = {"prod": 0, "chal": 0}
        for _ in range(600):
            r = await client.post(url, content=b"[]")
            assert r.status_code == 200
            backend = r.json()["backend"]
            seen[backend] += 1
            assert r.headers["x-shipyard-arm"] == ("challenger" if backend == "chal" else "control")
        assert _within(seen["chal"], 600, 30.0), seen
        assert split.arms == {"control": seen["prod"], "challenger": seen["chal"]}
        assert split.fallbacks == 0 and challenger.stats.requests == seen["chal"]
        # the router made each request's id and the service got it: its log names the same id
        ids = [h["x-request-id"] for h in chal.seen_headers]
        assert len(set(ids)) == len(ids) == seen["chal"]
        assert all(arm(i, 30.0, "ab") == 1 for i in ids)
        assert all(arm(h["x-request-id"], 30.0, "ab") == 0 for h in prod.seen_headers)
        # a client's own request id is its unit: retried, it lands in the same arm every time
        for rid in ("req-1", "req-2", "req-3", "req-4"):
            want = "challenger" if arm(rid, 30.0, "ab") else "control"
            for _ in range(3):
                r = await client.post(url, content=b"[]", headers={"x-request-id": rid})
                assert r.headers["x-shipyard-arm"] == want
        assert chal.seen_headers[-1]["x-request-id"] in {"req-1", "req-2", "req-3", "req-4"}
        router.split = None  # the experiment ended: everything to production
        before = chal.served
        for _ in range(20):
            r = await client.post(url, content=b"[]")
            assert r.json()["backend"] == "prod" and "x-shipyard-arm" not in r.headers
        assert chal.served == before


@in_loop
async def test_a_sticky_key_keeps_each_customer_in_one_arm_and_a_missing_key_is_400() -> None:
    async with (
        serving(Backend("prod")) as prod,
        serving(Backend("chal")) as chal,
        routed(prod.port) as router,
        httpx.AsyncClient() as client,
    ):
        challenger = Router("api.challenger", "127.0.0.1", 0)
        challenger.switch([chal.port])
        router.split = Split("sticky", 50.0, challenger, key="customer_id")
        router.max_body = 1 << 20
        url = f"http://127.0.0.1:{router.port}/predict"
        arms: dict[int, set[str]] = {}
        for i in range(300):
            customer = i % 100
            body = [
                {"customer_id": customer, "x": 1.0},  # records
                {"records": [{"customer_id": customer}]},  # records, wrapped
                {"columns": {"customer_id": [customer, 999], "x": [1.0, 2.0]}},  # columns
            ][i % 3]
            r = await client.post(url, content=json.dumps(body if i % 3 else [body]).encode())
            assert r.status_code == 200
            arms.setdefault(customer, set()).add(r.json()["backend"])
            assert r.headers["x-shipyard-arm"] == (
                "challenger" if arm(str(customer), 50.0, "sticky") else "control"
            )
        assert all(len(backends) == 1 for backends in arms.values()), arms  # sticky
        assert _within(sum(b == {"chal"} for b in arms.values()), 100, 50.0)
        # the key on the URL, as shipyard serve takes it
        r = await client.post(url + "?customer_id=7", content=b"[{}]")
        assert r.json()["backend"] == ("chal" if arm("7", 50.0, "sticky") else "prod")
        # missing: refused with the key named, and no backend saw it
        served = prod.served + chal.served
        r = await client.post(url, content=b'[{"x": 1.0}]')
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["code"] == "missing_assignment_key" and "'customer_id'" in error["message"]
        assert prod.served + chal.served == served


@in_loop
async def test_the_challengers_units_go_to_production_while_it_has_no_backend_ready() -> None:
    async with (
        serving(Backend("prod")) as prod,
        routed(prod.port) as router,
        httpx.AsyncClient() as client,
    ):
        challenger = Router("api.challenger", "127.0.0.1", 0)  # its slot is still starting
        split = router.split = Split("ab", 50.0, challenger)
        url = f"http://127.0.0.1:{router.port}/predict"
        for _ in range(40):
            r = await client.post(url, content=b"[]")
            assert r.status_code == 200 and r.json()["backend"] == "prod"
            assert r.headers["x-shipyard-arm"] == "control"
        assert split.arms["control"] == 40 and split.arms["challenger"] == 0
        assert 0 < split.fallbacks < 40  # about half were the challenger's units
        challenger.switch([free_port()])  # a backend that refuses: passed over, production answers
        for _ in range(20):
            r = await client.post(url, content=b"[]")
            assert r.status_code == 200 and r.json()["backend"] == "prod"


def test_the_sticky_unit_is_read_where_shipyard_serve_reads_it() -> None:
    assert sticky_unit("k", b'[{"k": "a"}, {"k": "b"}]', b"") == "a"
    assert sticky_unit("k", b'{"records": [{"k": 3}]}', b"") == "3"
    assert sticky_unit("k", b'{"columns": {"k": [4, 5]}}', b"") == "4"
    assert sticky_unit("k", b'{"entities": [{"k": "e"}]}', b"") == "e"
    assert sticky_unit("k", b"[{}]", b"a=1&k=q") == "q"
    assert sticky_unit("k", b"not json", b"") is None
    assert sticky_unit("k", b'[{"k": 1.5}]', b"") is None  # a float is no unit (as in serve)
    assert sticky_unit("k", b'[{"k": true}]', b"") is None
    assert sticky_unit("k", b"[]", b"") is None


@in_loop
async def test_the_backend_is_told_the_signed_arm_and_a_clients_copy_is_dropped() -> None:
    from shipyard.experiments.armtag import verified

    key = b"k" * 32
    async with (
        serving(Backend("prod")) as prod,
        serving(Backend("chal")) as chal,
        routed(prod.port) as router,
        httpx.AsyncClient() as client,
    ):
        router.arm_key = key
        challenger = Router("beta", "127.0.0.1", 0)  # another deployment's router
        challenger.switch([chal.port])
        router.split = Split("ab", 50.0, challenger, key="customer_id")
        url = f"http://127.0.0.1:{router.port}/predict"
        forged = {
            "x-shipyard-arm": "challenger",
            "x-shipyard-experiment": "ab",
            "x-shipyard-arm-signature": "0",
        }
        for i in range(40):
            r = await client.post(url, content=json.dumps([{"customer_id": i}]).encode(), headers=forged)
            assert r.status_code == 200
        for backend, want in ((prod, "control"), (chal, "challenger")):
            assert backend.seen_headers
            for seen in backend.seen_headers:
                assert seen["x-shipyard-arm-signature"] != "0"  # the client's copy never arrives
                assert verified(key, seen, seen["x-request-id"]) == ("ab", want)
        # the challenger has no backend: its units are production's, and told so
        challenger.switch([])
        prod.seen_headers.clear()
        for i in range(20):
            await client.post(url, content=json.dumps([{"customer_id": i}]).encode())
        assert {verified(key, s, s["x-request-id"]) for s in prod.seen_headers} == {("ab", "control")}
        # no key: no arm told
        router.arm_key = None
        prod.seen_headers.clear()
        await client.post(url, content=b'[{"customer_id": 1}]', headers=forged)
        assert "x-shipyard-arm" not in prod.seen_headers[0]

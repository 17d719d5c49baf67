"""/api/v1 against real PostgreSQL: upsert all or nothing, Idempotency-Key, payments, reads, OpenAPI."""

from __future__ import annotations

import json
from typing import Any

from openapi_spec_validator import validate
from web_stack import Console


def doc(ref: str, phone: str = "+14155550111", **loan: Any) -> dict[str, Any]:
    return {
        "id": ref,
        "debtor_id": f"D-{ref}",
        "language": "en",
        "identity": {"name": "Ada Test"},
        "contact": {
            "country": "US",
            "region": "CA",
            "timezone": "America/Los_Angeles",
            "phones": [{"number": phone, "type": "mobile", "consent": True}],
        },
        "loan": {
            "principal": "900.00",
            "balance": "450.00",
            "due_date": "2026-10-01",
            "currency": "USD",
            **loan,
        },
    }


def auth(console: Console, key: str | None = None) -> dict[str, str]:
    h = {"Authorization": f"Bearer {console.token}", "Content-Type": "application/json"}
    if key:
        h["Idempotency-Key"] = key
    return h


async def count(console: Console) -> int:
    n: int = await console.pool.fetchval("SELECT count(*) FROM accounts")
    return n


async def test_upsert_creates_then_updates(console: Console) -> None:
    body = json.dumps([doc("API-1"), doc("API-2", "+14155550112")])
    r = await console.client.post("/api/v1/accounts", data=body, headers=auth(console))
    assert r.status == 200, await r.text()
    assert (await r.json())["accounts_created"] == 2
    r = await console.client.post(
        "/api/v1/accounts", data=json.dumps([doc("API-1", balance="100.00")]), headers=auth(console)
    )
    assert (await r.json())["accounts_updated"] == 1
    assert (
        str(await console.pool.fetchval("SELECT balance FROM accounts WHERE account_ref='API-1'")) == "100.00"
    )
    actor = await console.pool.fetchval(
        "SELECT actor FROM audit_log WHERE action = 'import' ORDER BY id DESC LIMIT 1"
    )
    assert actor == "api:lender"


async def test_one_bad_document_stores_nothing_and_names_the_field(console: Console) -> None:
    before = await count(console)
    bad = doc("API-4", "+1415")  # not a phone number
    r = await console.client.post(
        "/api/v1/accounts", data=json.dumps([doc("API-3"), bad]), headers=auth(console)
    )
    assert r.status == 422
    errors = (await r.json())["errors"]
    assert errors and errors[0]["document"] == 2 and "phone" in errors[0]["field"]
    assert "+1415" not in await r.text()  # personal values are never echoed
    assert await count(console) == before


async def test_not_json_and_wrong_shape(console: Console) -> None:
    for body, reason in ((b"{", "not JSON"), (b'{"id": 1}', "JSON list")):
        r = await console.client.post("/api/v1/accounts", data=body, headers=auth(console))
        assert r.status == 422
        assert reason in (await r.json())["errors"][0]["reason"]


async def test_idempotency_key_replays_and_refuses_another_body(console: Console) -> None:
    body = json.dumps([doc("API-5")])
    first = await console.client.post("/api/v1/accounts", data=body, headers=auth(console, "k-1"))
    again = await console.client.post("/api/v1/accounts", data=body, headers=auth(console, "k-1"))
    assert first.status == again.status == 200
    assert await first.json() == await again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    imports = await console.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action='import' AND actor='api:lender'"
    )
    assert imports == 1
    other = await console.client.post(
        "/api/v1/accounts", data=json.dumps([doc("API-6")]), headers=auth(console, "k-1")
    )
    assert other.status == 422
    assert (await other.json())["errors"][0]["field"] == "Idempotency-Key"


async def test_payments_all_or_nothing(console: Console) -> None:
    ok = {
        "payments": [
            {"account_ref": "ACC-1001", "paid_at": "2026-12-01", "amount": "50.00", "reference": "P1"}
        ]
    }
    r = await console.client.post("/api/v1/payments", data=json.dumps(ok), headers=auth(console))
    assert r.status == 200 and (await r.json())["inserted"] == 1
    bad = {
        "payments": [
            {"account_ref": "ACC-1001", "paid_at": "2026-12-02", "amount": "20.00", "reference": "P2"},
            {"account_ref": "NOPE", "paid_at": "2026-12-02", "amount": "20.00", "reference": "P3"},
        ]
    }
    r = await console.client.post("/api/v1/payments", data=json.dumps(bad), headers=auth(console))
    assert r.status == 422
    assert (await r.json())["errors"] == [{"row": 2, "field": "account_ref", "reason": "no such account"}]
    neg = {
        "payments": [{"account_ref": "ACC-1001", "paid_at": "2026-12-02", "amount": "-5", "reference": "P4"}]
    }
    r = await console.client.post("/api/v1/payments", data=json.dumps(neg), headers=auth(console))
    assert r.status == 422
    assert (await r.json())["errors"] == [
        {"row": 1, "field": "amount", "reason": "Input should be greater than 0"}
    ]
    assert await console.pool.fetchval("SELECT count(*) FROM payments") == 1


async def test_reads(console: Console) -> None:
    h = auth(console)
    acc = await (await console.client.get("/api/v1/accounts/ACC-1001", headers=h)).json()
    assert acc["ref"] == "ACC-1001" and acc["identity"]["name"] == "Maria Gonzalez"
    plan = await (await console.client.get("/api/v1/accounts/ACC-1001/plan", headers=h)).json()
    assert plan["tier"] and plan["steps"] and all(s["reason"] for s in plan["steps"])
    tl = await (await console.client.get("/api/v1/accounts/ACC-1001/timeline", headers=h)).json()
    assert tl["timeline"] == []
    missing = await console.client.get("/api/v1/accounts/NOPE", headers=h)
    assert missing.status == 404 and "NOPE" in (await missing.json())["error"]


async def test_openapi_is_valid_and_matches_the_routes(console: Console) -> None:
    spec = await (await console.client.get("/api/v1/openapi.json")).json()
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    routes = {
        r.resource.canonical
        for r in console.client.app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith("/api/v1/")
        and "openapi" not in r.resource.canonical
    }
    assert set(spec["paths"]) == routes
    assert "AccountProfile" in spec["components"]["schemas"]


async def test_campaign_create_control_and_status(console: Console) -> None:
    h = auth(console)
    bad = await console.client.post(
        "/api/v1/campaigns", data=json.dumps({"name": "x", "mode": "robo"}), headers=h
    )
    assert bad.status == 422 and "mode" in (await bad.json())["errors"][0]["reason"]
    r = await console.client.post(
        "/api/v1/campaigns", data=json.dumps({"name": "API run", "mode": "ivr"}), headers=h
    )
    assert r.status == 201
    cid = (await r.json())["campaign"]
    assert (await (await console.client.post(f"/api/v1/campaigns/{cid}/start", headers=h)).json())[
        "status"
    ] == "running"
    again = await console.client.post(f"/api/v1/campaigns/{cid}/resume", headers=h)
    assert again.status == 409 and "running" in (await again.json())["error"]
    snap = await (await console.client.get(f"/api/v1/campaigns/{cid}", headers=h)).json()
    assert snap["status"] == "running" and snap["name"] == "API run" and snap["abandon_cap"] == 0.03
    assert (await console.client.get("/api/v1/campaigns/999", headers=h)).status == 404
    assert (await console.client.get("/api/v1/campaigns/abc", headers=h)).status == 404

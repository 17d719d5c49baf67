"""`/api/v1`: the HTTP API for the lender's systems.

Every route but `/api/v1/openapi.json` needs `Authorization: Bearer <token>` (`dunline token create`)
with the route's scope (`roles.API`); `security.api_auth` answers 401/403 before a handler runs.
Bodies are validated with the same pydantic models the CLI uses (the account document of
docs/strategies.md; payments as `dunline import payments` reads them): a bad body answers 422 naming
each document and field, and nothing is stored. An upsert is all or nothing per request; with an
`Idempotency-Key` header a retry of the same body gets the first answer again and changes nothing, and
the same key with another body is refused (422).

Errors: `{"error": "...", "errors": [{"document" or "row", "field", "reason"}]}`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dunline.portfolio.json_form import parse_accounts_json
from dunline.portfolio.payments_csv import PaymentRow
from dunline.store import users
from dunline.store.accounts import import_portfolio
from dunline.store.contacts import audit_trail
from dunline.store.db import StoreError
from dunline.store.payments import UnknownAccounts, import_payments
from dunline.strategies.profile import AccountProfile
from dunline.web.campaigns import campaign_id as _campaign_id
from dunline.web.context import services, token
from dunline.web.views import debtor_view

MAX_ACCOUNTS = 5000


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_ref: str = Field(min_length=1, max_length=64)
    paid_at: datetime | date = Field(description="ISO 8601 date-time with an offset, or a date (noon UTC)")
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    reference: str | None = Field(default=None, max_length=128, description="the lender's payment id")


class PaymentsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payments: list[PaymentIn] = Field(min_length=1, max_length=MAX_ACCOUNTS)


class UpsertResult(BaseModel):
    rows: int
    debtors_created: int
    debtors_updated: int
    accounts_created: int
    accounts_updated: int
    phones_written: int
    phones_removed: int


class ErrorItem(BaseModel):
    document: int | None = None
    row: int | None = None
    field: str
    reason: str


class ErrorOut(BaseModel):
    error: str
    errors: list[ErrorItem] = []


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.json_response(
        doc, status=status, dumps=lambda d: json.dumps(d, default=_default, ensure_ascii=False)
    )


def _default(value: Any) -> str:
    """Dates and times in ISO 8601; Decimals, UUIDs and the rest as their text."""
    return value.isoformat() if isinstance(value, datetime | date) else str(value)


def _invalid(message: str, errors: list[dict[str, Any]]) -> web.Response:
    return _json({"error": message, "errors": errors}, status=422)


async def _idempotent_replay(
    request: web.Request, body: bytes
) -> tuple[str | None, bytes, web.Response | None]:
    key = request.headers.get("Idempotency-Key")
    digest = hashlib.sha256(body).digest()
    if key is None:
        return None, digest, None
    if not 1 <= len(key) <= 200 or not key.isprintable():
        return (
            key,
            digest,
            _invalid(
                "bad Idempotency-Key", [{"field": "Idempotency-Key", "reason": "1-200 printable characters"}]
            ),
        )
    row = await users.stored_answer(services(request).pool, token(request).id, key)
    if row is None:
        return key, digest, None
    if row["request_hash"] != digest:
        return (
            key,
            digest,
            _invalid(
                "this Idempotency-Key was used with another body",
                [{"field": "Idempotency-Key", "reason": "reused with a different request body"}],
            ),
        )
    response = _json(row["body"], status=row["status"])
    response.headers["Idempotent-Replayed"] = "true"
    return key, digest, response


async def _remember(request: web.Request, key: str | None, digest: bytes, status: int, doc: Any) -> None:
    if key is None:
        return
    body = json.loads(json.dumps(doc, default=_default))
    await users.store_answer(services(request).pool, token(request).id, key, digest, status, body)


async def upsert_accounts(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    key, digest, replay = await _idempotent_replay(request, body)
    if replay is not None:
        return replay
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return _invalid("the body is not UTF-8", [{"field": "(body)", "reason": "not UTF-8"}])
    parsed = parse_accounts_json(text)
    if len(parsed.rows) + len(parsed.errors) > MAX_ACCOUNTS:
        return _invalid(
            f"at most {MAX_ACCOUNTS} accounts per request", [{"field": "(body)", "reason": "too many"}]
        )
    if parsed.errors:
        errors = [{"document": e.row or None, "field": e.column, "reason": e.reason} for e in parsed.errors]
        return _invalid(f"{len(errors)} problem(s); nothing was stored", errors)
    if not parsed.rows:
        return _invalid("no account documents", [{"field": "(body)", "reason": "an empty list"}])
    try:
        summary = await import_portfolio(
            services(request).pool, parsed.rows, upsert=True, actor=f"api:{token(request).name}", source="api"
        )
    except StoreError as exc:
        return _invalid(
            "the database refused a document; nothing was stored",
            [{"document": exc.row, "field": exc.field or "?", "reason": str(exc)}],
        )
    doc = UpsertResult.model_validate(summary.as_dict(), from_attributes=False).model_dump()
    await _remember(request, key, digest, 200, doc)
    return _json(doc)


async def add_payments(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    key, digest, replay = await _idempotent_replay(request, body)
    if replay is not None:
        return replay
    try:
        parsed = PaymentsIn.model_validate_json(body)
    except ValidationError as exc:
        errors = []
        for e in exc.errors():
            loc = [str(p) for p in e["loc"]]
            row = int(loc[1]) + 1 if len(loc) > 1 and loc[0] == "payments" and loc[1].isdigit() else None
            errors.append(
                {"row": row, "field": ".".join(loc[2:] if row else loc) or "(body)", "reason": e["msg"]}
            )
        return _invalid(f"{len(errors)} problem(s); nothing was stored", errors)
    rows = []
    for n, p in enumerate(parsed.payments, start=1):
        at = p.paid_at
        if not isinstance(at, datetime):
            at = datetime.combine(at, time(12, 0), tzinfo=UTC)
        elif at.tzinfo is None:
            return _invalid(
                "1 problem; nothing was stored", [{"row": n, "field": "paid_at", "reason": "needs an offset"}]
            )
        rows.append(PaymentRow(n, p.account_ref, at, p.amount, p.reference))
    try:
        result = await import_payments(services(request).pool, rows, source=f"api:{token(request).name}")
    except UnknownAccounts as exc:
        errors = [{"row": e.row, "field": e.column, "reason": e.reason} for e in exc.errors]
        return _invalid(f"{len(errors)} unknown account(s); nothing was stored", errors)
    doc = result.as_dict()
    await _remember(request, key, digest, 200, doc)
    return _json(doc)


async def _account(request: web.Request) -> dict[str, Any]:
    # an integration sees what it sent: the full identity is its own data
    return await debtor_view(request, unmasked=True)


async def get_account(request: web.Request) -> web.StreamResponse:
    v = await _account(request)
    keep = (
        "ref",
        "identity",
        "phones",
        "flags",
        "loan",
        "credit",
        "scorecard",
        "promises",
        "payments",
        "campaigns",
    )
    return _json({k: v[k] for k in keep})


async def get_plan(request: web.Request) -> web.StreamResponse:
    v = await _account(request)
    return _json({"ref": v["ref"], **v["plan"]})


async def get_timeline(request: web.Request) -> web.StreamResponse:
    v = await _account(request)
    return _json({"ref": v["ref"], "timeline": v["timeline"]})


async def get_audit(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["ref"]
    trail = await audit_trail(services(request).pool, ref)
    if trail is None:
        raise web.HTTPNotFound(text=f"no account {ref!r}")
    return _json(trail)


class CampaignIn(BaseModel):
    """A campaign as `dunline campaign create` takes it (docs/dialer.md); validated by the dialer's spec."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1, max_length=80)
    mode: str = Field(description="ivr, preview, progressive or predictive")


async def create_campaign(request: web.Request) -> web.StreamResponse:
    from dunline.dialer.campaign_spec import CampaignSpecError, parse_spec
    from dunline.store import campaigns

    try:
        raw = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return _invalid("the body is not JSON", [{"field": "(body)", "reason": str(exc)}])
    if not isinstance(raw, dict):
        return _invalid("a campaign is a JSON object", [{"field": "(body)", "reason": "not an object"}])
    try:
        spec = parse_spec(raw)
    except (ValueError, CampaignSpecError) as exc:
        return _invalid("bad campaign; nothing was stored", [{"field": "(spec)", "reason": str(exc)}])
    async with services(request).pool.acquire() as conn, conn.transaction():
        cid = await campaigns.create(conn, spec.model_dump(mode="json"), actor=f"api:{token(request).name}")
    return _json({"campaign": cid, "status": "created", "spec": spec.model_dump(mode="json")}, status=201)


async def campaign_status(request: web.Request) -> web.StreamResponse:
    from dunline.store import monitor

    svc = services(request)
    async with svc.pool.acquire() as conn:
        snap = await monitor.snapshot(conn, _campaign_id(request), svc.clock())
    if snap is None:
        raise web.HTTPNotFound(text=f"no campaign {request.match_info['id']}")
    return _json(snap)


async def campaign_command(request: web.Request) -> web.StreamResponse:
    from dunline.store import campaigns

    cid = _campaign_id(request)
    command = request.match_info["command"]
    if command not in ("start", "pause", "resume", "stop"):
        raise web.HTTPNotFound(text=f"no campaign command {command!r}; one of start, pause, resume, stop")
    async with services(request).pool.acquire() as conn:
        try:
            status = await campaigns.move(conn, cid, command, actor=f"api:{token(request).name}")
        except campaigns.CampaignError as exc:
            return _json({"error": str(exc), "errors": []}, status=409)
    return _json({"campaign": cid, "status": status})


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1, generated from the pydantic models the handlers validate with."""
    ref = "#/components/schemas/{model}"
    schemas: dict[str, Any] = {}
    for model in (AccountProfile, PaymentsIn, UpsertResult, ErrorOut, CampaignIn):
        s = model.model_json_schema(ref_template=ref)
        schemas.update(s.pop("$defs", {}))
        schemas[model.__name__] = s

    def body(schema: dict[str, Any]) -> dict[str, Any]:
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    def ok(name: str | None, description: str) -> dict[str, Any]:
        out: dict[str, Any] = {"description": description}
        out["content"] = {
            "application/json": {"schema": {"$ref": ref.format(model=name)} if name else {"type": "object"}}
        }
        return out

    errors = {
        "401": {"description": "no valid token"},
        "403": {"description": "the token lacks the scope"},
        "422": ok("ErrorOut", "bad input; nothing stored"),
    }
    idem = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": 200},
    }
    account_param = {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}
    campaign_param = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
    commands = {"enum": ["start", "pause", "resume", "stop"]}
    command_param = {"name": "command", "in": "path", "required": True, "schema": commands}

    def read(summary: str, scope: str) -> dict[str, Any]:
        return {
            "get": {
                "summary": summary,
                "parameters": [account_param],
                "security": [{"token": [scope]}],
                "responses": {"200": ok(None, "found"), "404": {"description": "no such account"}, **errors},
            }
        }

    return {
        "openapi": "3.1.0",
        "info": {"title": "Dunline API", "version": "1"},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"token": []}],
        "paths": {
            "/api/v1/accounts": {
                "post": {
                    "summary": "Create or update accounts (all or nothing per request)",
                    "parameters": [idem],
                    "security": [{"token": ["accounts:write"]}],
                    "requestBody": body(
                        {"type": "array", "items": {"$ref": ref.format(model="AccountProfile")}}
                    ),
                    "responses": {"200": ok("UpsertResult", "stored"), **errors},
                }
            },
            "/api/v1/payments": {
                "post": {
                    "summary": "Payments received (a reference already stored adds nothing)",
                    "parameters": [idem],
                    "security": [{"token": ["payments:write"]}],
                    "requestBody": body({"$ref": ref.format(model="PaymentsIn")}),
                    "responses": {"200": ok(None, "stored"), **errors},
                }
            },
            "/api/v1/accounts/{ref}": read(
                "An account: identity, phones, loan, scorecard, promises", "accounts:read"
            ),
            "/api/v1/accounts/{ref}/plan": read(
                "The account's plan as of now, each step with its reason", "accounts:read"
            ),
            "/api/v1/accounts/{ref}/timeline": read(
                "Every contact with the gate's verdict, newest first", "accounts:read"
            ),
            "/api/v1/accounts/{ref}/audit": read(
                "Every gate decision and ledger entry, oldest first", "audit:read"
            ),
            "/api/v1/campaigns": {
                "post": {
                    "summary": "Define a campaign (status created), as `dunline campaign create`",
                    "security": [{"token": ["campaigns:write"]}],
                    "requestBody": body({"$ref": ref.format(model="CampaignIn")}),
                    "responses": {"201": ok(None, "created"), **errors},
                }
            },
            "/api/v1/campaigns/{id}": {
                "get": {
                    "summary": "A campaign's live numbers (the monitor's snapshot)",
                    "parameters": [campaign_param],
                    "security": [{"token": ["campaigns:read"]}],
                    "responses": {
                        "200": ok(None, "found"),
                        "404": {"description": "no such campaign"},
                        **errors,
                    },
                }
            },
            "/api/v1/campaigns/{id}/{command}": {
                "post": {
                    "summary": "start, pause, resume or stop a campaign",
                    "parameters": [campaign_param, command_param],
                    "security": [{"token": ["campaigns:write"]}],
                    "responses": {
                        "200": ok(None, "moved"),
                        "409": ok("ErrorOut", "not allowed from its status"),
                        **errors,
                    },
                }
            },
        },
    }


async def openapi(request: web.Request) -> web.StreamResponse:
    return _json(openapi_document())


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/openapi.json", openapi, name="api.openapi")
    r.add_post("/api/v1/accounts", upsert_accounts, name="api.accounts.upsert")
    r.add_post("/api/v1/payments", add_payments, name="api.payments")
    r.add_get("/api/v1/accounts/{ref}", get_account, name="api.account")
    r.add_get("/api/v1/accounts/{ref}/plan", get_plan, name="api.account.plan")
    r.add_get("/api/v1/accounts/{ref}/timeline", get_timeline, name="api.account.timeline")
    r.add_get("/api/v1/accounts/{ref}/audit", get_audit, name="api.account.audit")
    r.add_post("/api/v1/campaigns", create_campaign, name="api.campaigns.create")
    r.add_get("/api/v1/campaigns/{id}", campaign_status, name="api.campaign")
    r.add_post("/api/v1/campaigns/{id}/{command}", campaign_command, name="api.campaign.command")

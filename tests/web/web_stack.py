"""The console and API against a real embedded PostgreSQL: one server per test module, a fresh
database per test, the sample portfolio imported, one user per role (password `PASSWORD`) and an API
token with every scope. `console` is the app served on a free loopback port (a real TCP server, so a
browser can reach it too) with a clock the test controls."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from dunline.config.schema import Settings
from dunline.portfolio.csv_schema import parse_portfolio
from dunline.store.accounts import import_portfolio
from dunline.store.db import connect_pool
from dunline.store.embedded import EmbeddedPostgres, start_embedded
from dunline.store.migrate import migrate
from dunline.store.users import add_token, add_user
from dunline.web.app import build_app
from dunline.web.passwords import hash_password, new_token
from dunline.web.roles import ROLES, SCOPES

PASSWORD = "correct horse battery staple"
SAMPLE = Path(str(files("dunline.portfolio").joinpath("sample_portfolio.csv")))
with SAMPLE.open(newline="") as _fh:
    SAMPLE_ROWS = parse_portfolio(_fh).rows
_HASH = hash_password(PASSWORD)  # once: argon2id costs tens of milliseconds


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 12, 8, 18, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class Console:
    client: TestClient
    pool: asyncpg.Pool
    clock: Clock
    token: str  # every scope
    settings: Settings

    @property
    def url(self) -> str:
        return str(self.client.make_url("/"))

    async def login(self, name: str, password: str = PASSWORD) -> str:
        """Log `name` in through the form; returns the session's CSRF token."""
        page = await self.client.get("/login")
        text = await page.text()
        csrf = text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        r = await self.client.post(
            "/login",
            data={"csrf": csrf, "name": name, "password": password, "next": "/accounts"},
            allow_redirects=False,
        )
        assert r.status == 303, await r.text()
        home = await (await self.client.get("/accounts")).text()
        return home.split('"X-CSRF-Token": "', 1)[1].split('"', 1)[0]


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    server = start_embedded(tmp_path_factory.mktemp("pg") / "data")
    yield server
    server.stop()


@pytest.fixture
async def pool(pg: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    name = f"w_{uuid.uuid4().hex}"
    admin = await asyncpg.connect(pg.dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    p = await connect_pool(pg.dsn_for(name), max_size=8)
    try:
        await migrate(p)
        await import_portfolio(p, SAMPLE_ROWS, actor="test")
        for role in ROLES:
            await add_user(p, role, role, _HASH, actor="test")  # one user per role, named after it
        yield p
    finally:
        await p.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def console(pool: asyncpg.Pool, tmp_path: Path) -> AsyncIterator[Console]:
    settings = Settings(var_dir=tmp_path)
    clock = Clock()
    token = new_token()
    await add_token(pool, "lender", token, SCOPES, actor="test")
    server = TestServer(build_app(settings, pool, clock=clock), host="127.0.0.1")
    client = TestClient(server)
    await client.start_server()
    try:
        yield Console(client, pool, clock, token, settings)
    finally:
        await client.close()

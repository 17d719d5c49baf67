"""The trunk pages on a console without a controller (real PostgreSQL): the settings seed the table
once, add and edit are validated by the settings' own model (the error names the field, nothing is
stored), a blank password keeps the stored one and no page shows it, the last enabled trunk cannot be
disabled, every change is audited with the user; a test call needs a controller and never goes to a
debtor's number. The change applied to a running PBX is tested in tests/integration/test_trunks_live.py."""

from __future__ import annotations

from typing import Any

from web_stack import Console

from dunline.store import trunks as store

NEW = {
    "name": "backup",
    "host": "sip.example.net",
    "port": "5080",
    "transport": "tcp",
    "username": "acme",
    "password": "backup-secret-1",
    "caller_id": "+14155550199",
    "max_channels": "12",
    "calls_per_second": "2.5",
    "qualify_s": "30",
    "codecs": ["alaw", "g722"],
    "caller_id_pool": "+12125550100\n+1 312 555 0100, +12125550100",
    "registration": "on",
    "enabled": "on",
}


def _form(doc: dict[str, Any], csrf: str) -> list[tuple[str, str]]:
    out = [("csrf", csrf)]
    for k, v in doc.items():
        out += [(k, x) for x in v] if isinstance(v, list) else [(k, v)]
    return out


async def test_settings_seed_the_table_once_and_the_page_lists_them(console: Console) -> None:
    await console.login("admin")
    text = await (await console.client.get("/trunks")).text()
    assert 'href="/trunks/carrier"' in text
    assert "live state is shown by `dunline serve`" in text
    stored = await store.load(console.pool)
    assert [s.trunk.name for s in stored] == ["carrier"]
    assert not await store.seed(console.pool, console.settings.trunks)  # already seeded: nothing


async def test_add_edit_disable_with_audit_and_no_secret_shown(console: Console) -> None:
    csrf = await console.login("admin")
    await console.client.get("/trunks")
    r = await console.client.post("/trunks", data=_form(NEW, csrf))
    text = await r.text()
    assert r.status == 200, text
    assert "Trunk backup saved" in text and "next `dunline serve` applies it" in text
    backup = next(s for s in await store.load(console.pool) if s.trunk.name == "backup")
    assert backup.trunk.transport == "tcp" and backup.trunk.codecs == ("alaw", "g722")
    assert backup.trunk.calls_per_second == 2.5 and backup.trunk.qualify_s == 30
    assert backup.trunk.caller_id_pool == ("+12125550100", "+13125550100")
    assert backup.trunk.password is not None
    assert backup.trunk.password.get_secret_value() == "backup-secret-1"

    edit = await (await console.client.get("/trunks/backup")).text()
    assert "backup-secret-1" not in edit and 'value="+14155550199"' in edit
    assert "+12125550100\n+13125550100</textarea>" in edit

    # edit without a password: the stored one stays; disable it
    changed = {**NEW, "password": "", "max_channels": "20"}
    del changed["enabled"]
    r = await console.client.post("/trunks/backup", data=_form(changed, csrf))
    assert r.status == 200, await r.text()
    backup = next(s for s in await store.load(console.pool) if s.trunk.name == "backup")
    assert backup.enabled is False and backup.trunk.max_channels == 20
    assert backup.trunk.password is not None
    assert backup.trunk.password.get_secret_value() == "backup-secret-1"
    assert (backup.updated_by) == "admin"

    rows = await console.pool.fetch(
        "SELECT actor, action, detail FROM audit_log WHERE subject = 'trunk:backup' ORDER BY id"
    )
    assert [(r["actor"], r["action"]) for r in rows] == [("admin", "trunk.add"), ("admin", "trunk.edit")]
    assert rows[1]["detail"]["changed"] == ["enabled", "max_channels"]
    everything = str([dict(r) for r in await console.pool.fetch("SELECT * FROM audit_log")])
    assert "backup-secret-1" not in everything


async def test_bad_input_names_the_field_and_stores_nothing(console: Console) -> None:
    csrf = await console.login("admin")
    await console.client.get("/trunks")
    before = await console.pool.fetchval("SELECT count(*) FROM trunks")
    for field, value, says in (
        ("caller_id", "12345", "caller_id"),
        ("host", "bad host;[x]", "host"),
        ("port", "70000", "port"),
        ("password", "with space 123", "password"),
        ("name", "1bad", "name"),
        ("codecs", [], "codecs"),
        ("transport", "tls", "transport"),
        ("caller_id_pool", "+12125550100 12345", "caller_id_pool"),
    ):
        r = await console.client.post("/trunks", data=_form({**NEW, field: value}, csrf))
        assert r.status == 400, (field, await r.text())
        assert says in await r.text()
    assert await console.pool.fetchval("SELECT count(*) FROM trunks") == before
    # a name taken, and the last enabled trunk disabled: refused with the reason, nothing changed
    r = await console.client.post("/trunks", data=_form({**NEW, "name": "carrier"}, csrf))
    assert r.status == 409 and "exists already" in await r.text()
    carrier = {**NEW, "host": "127.0.0.1", "transport": "udp", "password": ""}
    del carrier["enabled"]
    r = await console.client.post("/trunks/carrier", data=_form(carrier, csrf))
    assert r.status == 409 and "last one enabled" in await r.text()
    assert [s.enabled for s in await store.load(console.pool)] == [True]


async def test_test_call_needs_a_controller_and_never_a_debtor(console: Console) -> None:
    csrf = await console.login("admin")
    await console.client.get("/trunks")
    r = await console.client.post("/trunks/carrier/test", data={"csrf": csrf, "number": "12"})
    assert r.status == 400 and "number" in await r.text()
    r = await console.client.post("/trunks/carrier/test", data={"csrf": csrf, "number": "+14155550188"})
    assert r.status == 409 and "dunline serve" in await r.text()
    r = await console.client.post("/trunks/nosuch/test", data={"csrf": csrf, "number": "+14155550188"})
    assert r.status == 404

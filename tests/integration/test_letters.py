"""Letters and the evidence bundle on real PostgreSQL (and the PBX's recordings folder): the step
runner claims due letter steps, the gate clears them, the letters are PDF/A-3b with their fonts
embedded and the words meant (pikepdf, pdffonts, qpdf, pdftotext), a US account gets its validation
notice first, a step is carried out once whatever is re-run or left half done, a held account gets no
letter, the print-and-mail export writes a dated folder and records each dispatch, the mail house's
report is a contact, and the evidence bundle validates as a BagIt bag until one byte changes."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pikepdf
import pytest

from dunline.channels.evidence import build, gather, validate_zip
from dunline.channels.letters import LetterService
from dunline.channels.steps import StepRunner
from dunline.controller.app import open_database
from dunline.controller.planning import replan
from dunline.portfolio.json_form import parse_accounts_json
from dunline.store.accounts import import_portfolio
from dunline.store.profiles import store_plans

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration
TOOLS = all(shutil.which(t) for t in ("qpdf", "pdffonts", "pdftotext"))


async def _account(pool: Any, ref: str, country: str, **extra: Any) -> int:
    us = country == "US"
    contact = {
        "country": country,
        "region": "CA" if us else None,
        "city": "Oakland" if us else "上海",
        "timezone": "America/Los_Angeles" if us else "Asia/Shanghai",
        "phones": [{"number": "+14155553901" if us else "+8613800138901", "type": "mobile", "consent": True}],
        **extra.pop("contact", {}),
    }
    doc = {
        "id": ref,
        "contact": contact,
        "identity": {"name": "Jordan Avery" if us else "张伟"},
        "language": "en" if us else "zh",
        "loan": {"principal": "3000.00", "balance": "2400.00", "due_date": "2026-07-01",
                 "currency": "USD" if us else "CNY", "interest_rate": "18.5", "late_fee": "35.00",
                 "start": "2025-01-10"},
        "legal_step": {"action": "file a claim in small claims court" if us else "向人民法院提起诉讼",
                       "after_days": 14},
        **extra,
    }  # fmt: skip
    parsed = parse_accounts_json(json.dumps([doc]))
    assert parsed.ok, parsed.errors
    await import_portfolio(pool, parsed.rows, upsert=True)
    aid: int = await pool.fetchval("SELECT id FROM accounts WHERE account_ref = $1", ref)
    return aid


async def _due(pool: Any, aid: int, template: str, at: Any) -> None:
    step = {"at": at.isoformat(), "channel": "letter", "template": template, "reason": "test"}
    plan = {"score": 480, "tier": "t_letters", "variant": "champion", "stage": "late", "reasons": [],
            "steps": [step]}  # fmt: skip
    async with pool.acquire() as conn:
        await store_plans(conn, [(aid, plan)], at)


def _text(pdf: bytes, tmp: Path) -> str:
    path = tmp / "x.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True).stdout


def _check_pdf(pdf: bytes, tmp: Path) -> None:
    path = tmp / "check.pdf"
    path.write_bytes(pdf)
    with pikepdf.open(path) as doc:
        meta = doc.open_metadata()
        assert (meta.get("pdfaid:part"), meta.get("pdfaid:conformance")) == ("3", "B")
        assert "/OutputIntents" in doc.Root
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts  # every font embedded
    check = subprocess.run(["qpdf", "--check", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.skipif(not TOOLS, reason="qpdf / poppler-utils not installed (make setup installs them)")
async def test_letter_steps_export_report_and_evidence(stack: Stack, tmp_path: Path) -> None:
    pool, _ = await open_database(stack.settings)
    try:
        now = stack.clock()
        us = await _account(pool, "LTR-US", "US", contact={"address": "1200 Harbor Way, Apt 5"})
        cn = await _account(pool, "LTR-CN", "CN", contact={"address": "浦东新区世纪大道100号"})
        nowhere = await _account(pool, "LTR-NA", "CN")
        held = await _account(pool, "LTR-HOLD", "CN", contact={"address": "徐汇区漕溪北路1号",
                                                                 "flags": ["cease"]})  # fmt: skip
        due = now - timedelta(hours=1)
        await _due(pool, us, "plan_offer_letter", due)
        await _due(pool, cn, "legal_warning_letter", due)
        await _due(pool, nowhere, "plan_offer_letter", due)
        await _due(pool, held, "plan_offer_letter", due)
        service = LetterService(pool, stack.settings)

        async def again(accounts: list[int], at: Any) -> None:
            await replan(pool, accounts, at)

        runner = StepRunner(pool, service, lambda: now, node="test-node", replan=again)
        done = await runner.run_once()
        assert done["claimed"] == 4
        assert done["results"] == {"sent": 2, "no_address": 1, "blocked": 1}, done
        letters = {
            (r["account_id"], r["template"]): r
            for r in await pool.fetch(
                "SELECT * FROM letters WHERE account_id = ANY($1::bigint[])", [us, cn, nowhere, held]
            )
        }
        # the US account's validation notice came first, then its step's letter; the held one got none
        assert set(letters) == {
            (us, "validation_notice"),
            (us, "plan_offer_letter"),
            (cn, "legal_warning_letter"),
        }
        blocked = await pool.fetchrow(
            "SELECT allowed, rules FROM verdicts WHERE account_id = $1 AND channel = 'letter'", held
        )
        assert blocked is not None and not blocked["allowed"] and blocked["rules"]
        waiting = await pool.fetchrow(
            "SELECT state, result, next_try_at FROM plan_steps WHERE account_id = $1", nowhere
        )
        assert waiting["state"] == "waiting" and waiting["result"] == "no_address"
        assert waiting["next_try_at"] >= now + timedelta(hours=23)

        # the words meant, laid out as PDF/A with every font embedded
        offer = bytes(letters[(us, "plan_offer_letter")]["pdf"])
        for pdf in (offer, bytes(letters[(cn, "legal_warning_letter")]["pdf"])):
            _check_pdf(pdf, tmp_path)
        text = _text(offer, tmp_path)
        flat = " ".join(text.split())
        assert "Jordan Avery" in text and "1200 Harbor Way, Apt 5" in text and "$2,400.00" in text
        assert "18.5% a year" in flat, flat
        rows = [line for line in text.splitlines() if line.strip()[:2].strip().isdigit() and "$" in line]
        assert len(rows) >= 3  # the instalment table
        amounts = [line.split("$")[-1].replace(",", "") for line in rows]
        assert abs(sum(float(a) for a in amounts) - 2400.0) < 0.005  # instalments add up to the balance
        zh = _text(bytes(letters[(cn, "legal_warning_letter")]["pdf"]), tmp_path)
        assert "张伟" in zh and "浦东新区世纪大道100号" in zh and "向人民法院提起诉讼" in zh
        assert "2,400.00元" in zh
        notice = _text(bytes(letters[(us, "validation_notice")]["pdf"]), tmp_path)
        assert "is a debt collector" in notice and "www.cfpb.gov/debt-collection" in notice
        assert "Total amount of the debt now:" in notice and "$2,400.00" in notice

        # a step is carried out once: run again, and again with a step left half done by a dead node
        assert (await runner.run_once())["claimed"] == 0
        await pool.execute(
            "UPDATE plan_steps SET state = 'running', claimed_at = $2 WHERE account_id = $1",
            cn,
            now - timedelta(hours=1),
        )
        await _due(pool, cn, "legal_warning_letter", due)  # the plan still names that step
        again = await runner.run_once()
        assert again["results"] == {"sent": 1}
        assert await pool.fetchval("SELECT count(*) FROM letters WHERE account_id = $1", cn) == 1

        # the print-and-mail export: a dated folder, a manifest, each dispatch a contact
        out = tmp_path / "mail"
        first = await service.export(out, now)
        assert first["letters"] >= 3
        folder = Path(first["folder"])
        manifest = list(csv.DictReader((folder / "manifest.csv").read_text("utf-8").splitlines()))
        assert len(manifest) == first["letters"]
        for row in manifest:
            assert hashlib.sha256((folder / row["file"]).read_bytes()).hexdigest() == row["sha256"]
        assert (await service.export(out, now))["letters"] == 0  # nothing is mailed twice
        lid = letters[(cn, "legal_warning_letter")]["id"]
        assert await service.report(lid, "delivered", now + timedelta(days=3))
        assert not await service.report(lid, "delivered", now + timedelta(days=4))
        events = [
            r["event"]
            for r in await pool.fetch(
                "SELECT event FROM contact_ledger WHERE account_id = $1 AND channel = 'letter'"
                " ORDER BY at, id",
                cn,
            )
        ]
        assert events == ["contact", "letter.dispatched", "letter.delivered"]

        # the evidence bundle: a valid bag; one changed byte fails it
        async with pool.acquire() as conn:
            case = await gather(conn, "LTR-US", stack.pbx.recordings)
        paths = {i.path for i in case.items}
        assert {"account/facts.json", "account/contract.json", "contacts/contacts.csv",
                "contacts/verdicts.csv", "audit/ledger.csv", "audit/audit_log.csv"} <= paths  # fmt: skip
        assert sum(p.startswith("letters/") for p in paths) == 2
        zipped = tmp_path / "bundle.zip"
        summary = build(case, zipped, stack.settings)
        assert summary["index_pages"] >= 2 and validate_zip(zipped)
        with zipfile.ZipFile(zipped) as z:
            names = z.namelist()
            assert any(n.endswith("/bagit.txt") for n in names)
            assert any(n.endswith("/manifest-sha256.txt") for n in names)
            index = z.read(next(n for n in names if n.endswith("data/index.pdf")))
            contacts = z.read(next(n for n in names if n.endswith("data/contacts/contacts.csv"))).decode()
        assert "Certification of records" in _text(index, tmp_path)
        assert all(row.split(",")[-1] in ("True", "") for row in contacts.splitlines()[1:])
        tampered = tmp_path / "tampered.zip"
        with zipfile.ZipFile(zipped) as src, zipfile.ZipFile(tampered, "w") as dst:
            for n in src.namelist():
                data = src.read(n)
                if n.endswith("data/account/contract.json"):
                    data = data.replace(b"3000", b"3001", 1)
                dst.writestr(n, data)
        assert not validate_zip(tampered)
    finally:
        await pool.close()

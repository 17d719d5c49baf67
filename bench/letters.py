"""Letters and the evidence bundle: one PDF/A page with Chinese text, a batch of 1,000 letters, and
the bundle of an account with 50 contacts and 5 call recordings.

    python bench/letters.py [--letters 1000] [--out bench/results/letters.json]

A fresh embedded PostgreSQL in a temp dir, migrated, with `--letters` Chinese accounts (an address
each, a balance to spread over an instalment plan). Measured, in one run:
- `single_zh_letter_s`: one plan-offer letter in Chinese, two A4 pages with the instalment table
  (script filled, laid out, PDF/A-3b with AR PL UMing and DejaVu Serif subset and embedded), median
  of 15 after a warm-up, in this process;
- `batch`: `LetterService.make` for every account (the gate, the PDF, the row and ledger entry), 8 at a
  time, PDFs made by a process pool with one worker per core; then the print-and-mail export of them
  all (PDFs + manifest.csv); letters/s and the seconds of each part;
- `evidence`: an account with 50 contacts (35 calls with their verdicts, 5 of them answered with a 60 s
  recording and a transcript, 10 texts with receipts, 5 letters), gathered and built into the zipped
  BagIt bag with its index PDF/A; seconds, bytes, items, index pages, and a validation of the bag.
Targets: a Chinese page <= 1 s (the two-page letter is timed whole). Prints JSON and records it with
the machine in bench/results/letters.json. About two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import time
import uuid
import wave
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_var, machine, report

from dunline.channels import letter_layout
from dunline.channels.evidence import build, gather, validate_zip
from dunline.channels.letters import LetterService, script_letter
from dunline.channels.sms_text import encode
from dunline.channels.values import step_values
from dunline.config.schema import Settings
from dunline.portfolio.json_form import parse_accounts_json
from dunline.store import sms as sms_store
from dunline.store.accounts import import_portfolio, load_account
from dunline.store.db import connect_pool
from dunline.store.embedded import start_embedded
from dunline.store.migrate import migrate

NOW = datetime(2026, 12, 8, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Tuesday


def _docs(n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"LB-{i:06d}",
            "language": "zh",
            "contact": {
                "country": "CN",
                "city": "上海",
                "timezone": "Asia/Shanghai",
                "address": f"浦东新区世纪大道{i % 900 + 1}号{i % 30 + 1}室",
                "phones": [{"number": f"+86138{i:08d}", "type": "mobile", "consent": True}],
            },
            "identity": {"name": f"测试{i}"},
            "loan": {
                "principal": "12000.00",
                "balance": f"{8000 + i % 500}.00",
                "due_date": "2026-08-01",
                "currency": "CNY",
                "interest_rate": "18",
                "start": "2025-06-01",
            },
            "legal_step": {"action": "向人民法院提起诉讼", "after_days": 14},
        }
        for i in range(n)
    ]


def _wav(path: Path, seconds: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(os.urandom(2 * 8000 * seconds))  # noise: deflate saves no more on it than on speech


async def _contacts(pool: Any, aid: int, number: str, recordings: Path, service: LetterService) -> None:
    """35 calls (5 answered, recorded, transcribed), 10 texts with receipts, 5 letters."""
    for i in range(35):
        at = NOW - timedelta(days=60 - i, hours=1)
        attempt = uuid.uuid4()
        state = "completed" if i % 7 == 0 else "no_answer"
        await pool.execute(
            "INSERT INTO attempts (id, account_id, phone_id, number_e164, state, result, kind, created_at,"
            " ended_at, template) SELECT $1, $2, p.id, $3, $4, $4, 'prerecorded', $5, $6, 'reminder_call'"
            " FROM phones p WHERE p.number_e164 = $3",
            attempt, aid, number, state, at, at + timedelta(seconds=40),
        )  # fmt: skip
        await pool.execute(
            "INSERT INTO verdicts (account_id, attempt_id, at, channel, number_e164, kind, allowed, profiles)"
            " VALUES ($1, $2, $3, 'call', $4, 'prerecorded', true, '{china}')",
            aid, attempt, at, number,
        )  # fmt: skip
        if state == "completed":
            heard = [{"node": "rpc", "text": "是我", "intent": "affirm"},
                     {"node": "menu", "text": "我下周五还两千", "intent": "promise_to_pay"}]  # fmt: skip
            await pool.execute(
                "INSERT INTO contact_ledger (account_id, attempt_id, at, channel, direction, event, detail)"
                " VALUES ($1, $2, $3, 'call', 'outbound', 'ivr.session', $4::jsonb)",
                aid, attempt, at, {"heard": heard, "outcome": "promise_to_pay", "verified": True},
            )  # fmt: skip
            _wav(recordings / f"{attempt}.wav", 60)
    async with pool.acquire() as conn:
        for i in range(10):
            at = NOW - timedelta(days=30 - i)
            body = f"【测试】您尾号{i:04d}的账单已逾期，请尽快还款。回复TD退订"
            key = f"bench-sms-{aid}-{i}"
            mid, _ = await sms_store.add(
                conn, account_id=aid, number=number, body=body, encoded=encode(body), step_key=key, at=at
            )
            await conn.execute(
                "INSERT INTO verdicts (account_id, at, channel, number_e164, kind, allowed, profiles)"
                " VALUES ($1, $2, 'sms', $3, 'agent', true, '{china}')",
                aid, at, number,
            )  # fmt: skip
            await conn.execute(
                "UPDATE sms_messages SET smsc_id = $2, state = 'delivered' WHERE id = $1", mid, f"s{i}"
            )
            await conn.execute(
                "INSERT INTO sms_receipts (message_id, smsc_id, state, received_at)"
                " VALUES ($1, $2, 'DELIVRD', $3)",
                mid, f"s{i}", at + timedelta(seconds=4),
            )  # fmt: skip
    for i, template in enumerate(["plan_offer_letter", "legal_warning_letter"] * 2 + ["plan_offer_letter"]):
        made = await service.make(
            aid, template, step_key=f"bench-letter-{aid}-{i}", now=NOW - timedelta(days=i)
        )
        assert made.result == "sent", made


async def run(args: argparse.Namespace) -> dict[str, Any]:
    var = fresh_var("dunline-bench-letters-")
    pg = start_embedded(var / "pg")
    settings = Settings(var_dir=var)
    ctx = multiprocessing.get_context("forkserver")
    try:
        pool = await connect_pool(pg.dsn, max_size=20)
        await migrate(pool)
        parsed = parse_accounts_json(json.dumps(_docs(args.letters + 1)))
        assert parsed.ok, parsed.errors[:3]
        await import_portfolio(pool, parsed.rows, upsert=True)
        ids = [r["id"] for r in await pool.fetch("SELECT id FROM accounts ORDER BY id")]

        # one Chinese page, in this process
        acc = await load_account(pool, ids[0])
        assert acc is not None
        sv = await step_values(pool, acc, settings, NOW.date())
        letter = script_letter(
            acc, "plan_offer_letter", sv, settings, ("浦东新区世纪大道1号", "上海", "CN"), date(2026, 12, 8)
        )
        html = letter_layout.render_html(letter)
        letter_layout.write_pdf(html)  # warm-up: fonts found, WeasyPrint imported
        single = []
        for _ in range(15):
            t0 = time.perf_counter()
            pdf = letter_layout.write_pdf(letter_layout.render_html(letter))
            single.append(time.perf_counter() - t0)

        # a batch of letters through the service: gate, PDF (process pool), row + ledger
        with ProcessPoolExecutor(os.cpu_count() or 1, mp_context=ctx) as renderer:
            service = LetterService(pool, settings, renderer)
            await asyncio.gather(
                *(
                    asyncio.wrap_future(renderer.submit(letter_layout.write_pdf, html))
                    for _ in range(os.cpu_count() or 1)
                )
            )  # fmt: skip  (workers warm)
            lanes = asyncio.Semaphore(8)
            results: dict[str, int] = {}

            async def one(aid: int) -> None:
                async with lanes:
                    made = await service.make(aid, "plan_offer_letter", step_key=f"bench:{aid}", now=NOW)
                    results[made.result] = results.get(made.result, 0) + 1

            t0 = time.perf_counter()
            await asyncio.gather(*(one(aid) for aid in ids[1:]))
            batch_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            exported = await service.export(var / "mail", NOW)
            export_s = time.perf_counter() - t0
            pages = await pool.fetchval("SELECT sum(pages) FROM letters")
            size = await pool.fetchval("SELECT avg(length(pdf)) FROM letters")

            # the evidence bundle of one account with 50 contacts and 5 recordings
            recordings = var / "recordings"
            recordings.mkdir()
            number = await pool.fetchval("SELECT number_e164 FROM phones ORDER BY id LIMIT 1")
            await _contacts(pool, ids[0], number, recordings, service)
        ref = await pool.fetchval("SELECT account_ref FROM accounts WHERE id = $1", ids[0])
        t0 = time.perf_counter()
        async with pool.acquire() as conn:
            case = await gather(conn, ref, recordings)
        gather_s = time.perf_counter() - t0
        out = var / "bundle.zip"
        built = build(case, out, settings)
        valid = validate_zip(out)
        contacts = sum(1 for i in case.items if i.path.startswith("letters/"))
        await pool.close()
        return {
            "benchmark": "letters",
            "single_zh_letter_s": {"median": round(statistics.median(single), 3),
                                   "max": round(max(single), 3), "pages": pdf.pages, "bytes": len(pdf.data)},
            "batch": {"letters": args.letters, "results": results, "seconds": round(batch_s, 2),
                      "letters_per_s": round(args.letters / batch_s, 2), "renderers": os.cpu_count(),
                      "pages": pages, "avg_pdf_bytes": int(size or 0),
                      "export_s": round(export_s, 2), "exported": exported["letters"]},
            "evidence": {"contacts": 50, "recordings": 5, "letters_in_bundle": contacts,
                         "gather_s": round(gather_s, 3), "build_s": built["seconds"], "bytes": built["bytes"],
                         "items": built["items"], "index_pages": built["index_pages"], "bag_valid": valid},
            "target": "a PDF/A page with Chinese text <= 1 s",
            "machine": machine(),
        }  # fmt: skip
    finally:
        pg.stop()
        shutil.rmtree(var, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--letters", type=int, default=1000)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "letters.json"))
    args = p.parse_args()
    return report(asyncio.run(run(args)), args.out)


if __name__ == "__main__":
    raise SystemExit(main())

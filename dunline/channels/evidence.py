"""The evidence bundle of one account (`dunline evidence ACCOUNT --out FILE.zip`, the debtor page's
button): a BagIt bag (RFC 8493, SHA-256 manifests), zipped, holding the account facts and contract
terms, the repayments, every contact with its gate verdict, the calls (recordings and transcripts), the
text messages with their receipts and the replies, the letters, the contact ledger and the audit log
extract, and an index PDF/A: one row per item with its hash, date and source, a section bookmark
each, page numbers, and a records-custodian certification page naming the hash method.

The bag is built in a temporary folder next to the output and the zip is renamed into place when
complete: a half-written bundle never carries the final name.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import bagit

from dunline.channels import letter_layout as layout
from dunline.config.schema import Settings

SECTIONS = {
    "account": "Account facts and contract terms",
    "payments": "Repayment history",
    "contacts": "Contacts and the compliance gate's verdicts",
    "calls": "Calls: recordings and transcripts",
    "sms": "Text messages, receipts and replies",
    "letters": "Letters",
    "audit": "Contact ledger and audit log",
}


class EvidenceError(ValueError):
    """No bundle can be made (unknown account, an output that cannot be written)."""


@dataclass
class Item:
    path: str  # under data/
    data: bytes
    date: str
    source: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Case:
    account_id: int
    account_ref: str
    items: list[Item] = field(default_factory=list)

    def add(self, path: str, data: bytes | str, date: Any, source: str) -> None:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        when = date.isoformat() if hasattr(date, "isoformat") else str(date or "")
        self.items.append(Item(path, raw, when, source))


def _json(value: Any) -> str:
    def plain(v: Any) -> Any:
        if isinstance(v, Decimal):
            return str(v)
        if hasattr(v, "isoformat"):
            return v.isoformat()
        return str(v)

    return json.dumps(value, ensure_ascii=False, indent=2, default=plain, sort_keys=True) + "\n"


def _csv(rows: list[dict[str, Any]], fields: list[str]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, dict | list) else v)
                    for k, v in r.items()})  # fmt: skip
    return out.getvalue()


Q_PHONES = (
    "SELECT number_e164, kind, consent, role, refused, wrong_number FROM phones WHERE debtor_id = $1"
    " ORDER BY priority, id"
)
Q_PAYMENTS = (
    "SELECT paid_at, amount, reference, imported_at FROM payments WHERE account_id = $1 ORDER BY paid_at, id"
)
Q_VERDICTS = (
    "SELECT id, at, channel, number_e164, kind, allowed, rules, reasons, next_allowed_at, profiles,"
    " attempt_id FROM verdicts WHERE account_id = $1 ORDER BY at, id"
)
Q_ATTEMPTS = (
    "SELECT id, created_at, ended_at, number_e164, kind, state, result, hangup_cause, amd_status,"
    " template, campaign_id FROM attempts WHERE account_id = $1 ORDER BY created_at"
)
Q_SMS = (
    "SELECT id, created_at, number_e164, body, alphabet, parts, state, smsc_id, error, submitted_at,"
    " final_at FROM sms_messages WHERE account_id = $1 ORDER BY created_at"
)
Q_LETTERS = (
    "SELECT id, created_at, template, lang, pdf, sha256, pages, state, batch, exported_at, final_at"
    " FROM letters WHERE account_id = $1 ORDER BY created_at, id"
)
Q_SESSIONS = (
    "SELECT attempt_id, detail FROM contact_ledger WHERE account_id = $1"
    " AND event IN ('ivr.session', 'agent.call')"
)
Q_RECEIPTS = (
    "SELECT r.message_id, r.smsc_id, r.state, r.error, r.received_at FROM sms_receipts r"
    " JOIN sms_messages m ON m.id = r.message_id WHERE m.account_id = $1 ORDER BY r.received_at, r.id"
)
Q_REPLIES = (
    "SELECT received_at, number_e164, body, intent, opt_out, needs_person, detail, handled_by, handled_at"
    " FROM sms_inbound WHERE account_id = $1 ORDER BY received_at, id"
)
Q_LEDGER = (
    "SELECT id, at, channel, direction, event, attempt_id, detail FROM contact_ledger"
    " WHERE account_id = $1 ORDER BY at, id"
)
Q_AUDIT = (
    "SELECT id, at, actor, action, subject, detail FROM audit_log WHERE subject = $1 OR subject = $2"
    " OR detail->>'account' = $3 ORDER BY at, id"
)
F_CONTACTS = ["at", "channel", "id", "to", "result", "template", "verdict", "allowed"]
F_VERDICTS = ["id", "at", "channel", "number_e164", "kind", "allowed", "rules", "reasons", "next_allowed_at",
              "profiles", "attempt_id"]  # fmt: skip
F_SMS = ["id", "created_at", "number_e164", "body", "alphabet", "parts", "state", "smsc_id", "error",
         "submitted_at", "final_at"]  # fmt: skip
F_RECEIPTS = ["message_id", "smsc_id", "state", "error", "received_at"]
F_REPLIES = ["received_at", "number_e164", "body", "intent", "opt_out", "needs_person", "detail",
             "handled_by", "handled_at"]  # fmt: skip
F_LEDGER = ["id", "at", "channel", "direction", "event", "attempt_id", "detail"]
F_AUDIT = ["id", "at", "actor", "action", "subject", "detail"]
FACTS = ("account_ref", "external_id", "full_name", "national_id_masked", "language", "timezone",
         "address_line", "city", "region", "country", "currency", "balance", "flags",
         "created_at")  # fmt: skip


async def _rows(conn: asyncpg.Connection, query: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(query, *args)]


def _last(rows: list[dict[str, Any]], key: str, default: datetime) -> Any:
    return rows[-1][key] if rows else default


def _contact(
    at: Any, channel: str, id_: Any, to: Any, result: Any, template: Any, verdict: Any
) -> dict[str, Any]:
    return {
        "at": at,
        "channel": channel,
        "id": id_,
        "to": to,
        "result": result,
        "template": template,
        "verdict": verdict["id"] if verdict else None,
        "allowed": verdict["allowed"] if verdict else None,
    }


async def gather(conn: asyncpg.Connection, account_ref: str, recordings: Path | None) -> Case:
    acc = await conn.fetchrow(
        "SELECT a.*, d.external_id, d.full_name, d.national_id_masked, d.language, d.timezone,"
        " d.address_line, d.city, d.region, d.country FROM accounts a JOIN debtors d ON d.id = a.debtor_id"
        " WHERE a.account_ref = $1",
        account_ref,
    )
    if acc is None:
        raise EvidenceError(f"no account {account_ref!r}")
    aid, now = acc["id"], datetime.now(UTC)
    case = Case(aid, account_ref)
    facts = {k: acc[k] for k in FACTS}
    facts["phones"] = await _rows(conn, Q_PHONES, acc["debtor_id"])
    case.add("account/facts.json", _json(facts), acc["created_at"], "accounts, debtors, phones")
    profile = acc["profile"] or {}
    loan = profile.get("loan") or {}
    terms = {
        "principal": acc["principal"],
        "currency": acc["currency"],
        "opened_on": acc["opened_on"],
        "due_date": acc["due_date"],
        "interest_rate": loan.get("interest_rate"),
        "late_fee": loan.get("late_fee"),
        "legal_step": profile.get("legal_step"),
    }
    opened = acc["opened_on"] or acc["created_at"]
    case.add("account/contract.json", _json(terms), opened, "accounts (the lender's portfolio)")
    pays = await _rows(conn, Q_PAYMENTS, aid)
    paid_csv = _csv(pays, ["paid_at", "amount", "reference", "imported_at"])
    case.add("payments/repayments.csv", paid_csv, _last(pays, "paid_at", acc["created_at"]), "payments")

    verdicts = await _rows(conn, Q_VERDICTS, aid)
    attempts = await _rows(conn, Q_ATTEMPTS, aid)
    sms = await _rows(conn, Q_SMS, aid)
    letters = await _rows(conn, Q_LETTERS, aid)
    by_attempt = {v["attempt_id"]: v for v in verdicts if v["attempt_id"]}
    # a text's or a letter's verdict is written in the transaction that stores it, with the same time
    by_step = {(v["channel"], v["at"]): v for v in verdicts if v["attempt_id"] is None and v["allowed"]}
    contacts = [
        _contact(a["created_at"], "call", a["id"], a["number_e164"], a["state"], a["template"],
                 by_attempt.get(a["id"]))
        for a in attempts
    ] + [
        _contact(s["created_at"], "sms", s["id"], s["number_e164"], s["state"], None,
                 by_step.get(("sms", s["created_at"])))
        for s in sms
    ] + [
        _contact(r["created_at"], "letter", r["id"], "postal address", r["state"], r["template"],
                 by_step.get(("letter", r["created_at"])))
        for r in letters
    ]  # fmt: skip
    contacts.sort(key=lambda c: c["at"])
    source = "attempts, sms_messages, letters"
    case.add("contacts/contacts.csv", _csv(contacts, F_CONTACTS), _last(contacts, "at", now), source)
    case.add(
        "contacts/verdicts.csv", _csv(verdicts, F_VERDICTS), _last(verdicts, "at", now), "verdicts (the gate)"
    )

    sessions = {r["attempt_id"]: r["detail"] for r in await conn.fetch(Q_SESSIONS, aid)}
    for a in attempts:
        detail = sessions.get(a["id"])
        if detail is not None:
            transcript = {
                "attempt": a["id"],
                "heard": detail.get("heard", []),
                "outcome": detail.get("outcome"),
                "played": detail.get("played", []),
                "verified": detail.get("verified"),
            }
            where = f"calls/{a['id']}/transcript.json"
            case.add(where, _json(transcript), a["created_at"], "the call's session (speech recognised)")
        rec = recordings / f"{a['id']}.wav" if recordings else None
        if rec is not None and rec.is_file():
            where = f"calls/{a['id']}/recording.wav"
            case.add(where, rec.read_bytes(), a["created_at"], "call recording (Asterisk MixMonitor)")

    receipts = await _rows(conn, Q_RECEIPTS, aid)
    replies = await _rows(conn, Q_REPLIES, aid)
    if sms or replies:
        case.add("sms/messages.csv", _csv(sms, F_SMS), _last(sms, "created_at", now), "sms_messages")
        at = _last(receipts, "received_at", now)
        case.add("sms/receipts.csv", _csv(receipts, F_RECEIPTS), at, "sms_receipts (the SMSC)")
        at = _last(replies, "received_at", now)
        case.add("sms/replies.csv", _csv(replies, F_REPLIES), at, "sms_inbound")
    for r in letters:
        name = f"letters/{r['created_at']:%Y%m%d}-{r['template']}-{str(r['id'])[:8]}.pdf"
        batch = f", batch {r['batch']}" if r["batch"] else ""
        case.add(name, bytes(r["pdf"]), r["created_at"], f"letter ({r['state']}{batch})")
    ledger = await _rows(conn, Q_LEDGER, aid)
    case.add("audit/ledger.csv", _csv(ledger, F_LEDGER), _last(ledger, "at", now), "contact_ledger")
    audit = await _rows(conn, Q_AUDIT, f"account:{aid}", f"account:{account_ref}", account_ref)
    case.add("audit/audit_log.csv", _csv(audit, F_AUDIT), _last(audit, "at", now), "audit_log")
    return case


def index_html(case: Case, organisation: str, prepared: datetime) -> str:
    sections = []
    n = 0
    for key, title in SECTIONS.items():
        rows = []
        for it in case.items:
            if it.path.split("/", 1)[0] == key:
                n += 1
                rows.append({"n": n, "path": "data/" + it.path, "date": it.date[:19].replace("T", " "),
                             "source": it.source, "sha256": it.sha256})  # fmt: skip
        if rows:
            sections.append({"title": title, "items": rows})
    env = layout._env()
    return env.get_template("bundle_index.html").render(
        title=f"Evidence bundle: account {case.account_ref}",
        css=layout._css(),
        case_id=f"{case.account_ref}-{prepared:%Y%m%d%H%M%S}",
        account_ref=case.account_ref,
        organisation=organisation,
        prepared=prepared.strftime("%Y-%m-%d %H:%M:%S UTC"),
        sections=sections,
        items=case.items,
    )


def build(case: Case, out: Path, settings: Settings, prepared: datetime | None = None) -> dict[str, Any]:
    """Write the bundle to `out` (a .zip); what it holds."""
    t0 = time.perf_counter()
    prepared = prepared or datetime.now(UTC)
    organisation = settings.letters.sender_name or settings.ivr.company_name
    out.parent.mkdir(parents=True, exist_ok=True)
    manifest = _csv([{"path": "data/" + i.path, "sha256": i.sha256, "date": i.date, "source": i.source}
                     for i in case.items], ["path", "sha256", "date", "source"])  # fmt: skip
    index = layout.write_pdf(
        index_html(case, organisation, prepared),
        attachments=[layout.Attachment("items.csv", manifest.encode(), "the items and their SHA-256")],
    )
    with tempfile.TemporaryDirectory(prefix=".evidence-", dir=out.parent) as tmp:
        root = Path(tmp) / f"evidence-{case.account_ref}"
        for it in [*case.items, Item("index.pdf", index.data, prepared.isoformat(), "this index")]:
            target = root / it.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(it.data)
        bag = bagit.make_bag(
            str(root),
            {
                "Source-Organization": organisation,
                "External-Identifier": f"{case.account_ref}-{prepared:%Y%m%d%H%M%S}",
                "External-Description": f"Evidence bundle of account {case.account_ref}",
                "Bagging-Date": prepared.date().isoformat(),
            },
            checksums=["sha256"],
        )
        bag.validate()
        partial = out.with_name(out.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(root.rglob("*")):
                if f.is_file():
                    z.write(f, f"{root.name}/{f.relative_to(root)}")
        partial.replace(out)
    return {
        "account": case.account_ref,
        "out": str(out),
        "items": len(case.items) + 1,
        "index_pages": index.pages,
        "bytes": out.stat().st_size,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def validate_zip(path: Path) -> bool:
    """Unpack a bundle and validate its bag (every file against the SHA-256 manifests)."""
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(path) as z:
            z.extractall(tmp)
        roots = [p for p in Path(tmp).iterdir() if p.is_dir()]
        if len(roots) != 1:
            return False
        try:
            bagit.Bag(str(roots[0])).validate()
        except bagit.BagError:
            return False
        return True

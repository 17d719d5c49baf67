"""The debtor 360 as the page shows it (pure): masking, the scorecard's points, the plan with each
step's reason, promises judged against payments, one timeline of every contact with the gate's
verdict, and the repayment chart (server-side SVG, so a letter can carry the same picture).

`build(d, now, unmasked=...)` takes what `store.console.debtor_360` read and returns plain dicts for
the template; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from dunline.compliance.model import mask_number
from dunline.controller.planning import plan_one
from dunline.store.console import Debtor360
from dunline.store.profiles import StoredAccount
from dunline.strategies.history import HistoryError
from dunline.strategies.profile import ProfileError, parse_profile
from dunline.strategies.promises import Payment, Promise, evaluate
from dunline.strategies.scorecard import default_card, score


def mask_name(name: str) -> str:
    """'Maria Lopez' -> 'M**** L****': the initials, enough to tell two debtors apart on a list."""
    return " ".join(w[0] + "*" * max(len(w) - 1, 1) for w in name.split() if w) or "-"


def _zone(doc: Mapping[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(doc.get("contact", {}).get("timezone") or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def identity(d: Debtor360, *, unmasked: bool) -> dict[str, Any]:
    doc = d.document
    contact = doc.get("contact", {})
    return {
        "name": d.full_name if unmasked else mask_name(d.full_name),
        "national_id": doc.get("identity", {}).get("national_id") or "-",  # stored masked only
        "language": doc.get("language"),
        "place": ", ".join(
            p for p in (contact.get("city"), contact.get("region"), contact.get("country")) if p
        ),
        "timezone": contact.get("timezone") or "-",
        "unmasked": unmasked,
    }


def phones(d: Debtor360, *, unmasked: bool) -> list[dict[str, Any]]:
    out = []
    for p in d.document.get("contact", {}).get("phones", []):
        marks = [m for m, on in (("wrong number", p["wrong_number"]), ("refused", p["refused"])) if on]
        out.append(
            {
                "number": p["number"] if unmasked else mask_number(p["number"]),
                "type": p["type"],
                "role": p["role"],
                "consent": p["consent"],
                "marks": marks,
            }
        )
    return out


def scorecard(d: Debtor360, today: date) -> dict[str, Any] | None:
    try:
        profile = parse_profile(d.document)
    except ProfileError:
        return None
    s = score(default_card(), profile, today)
    points = [
        {"feature": k, "points": v[0], "reason": v[1]}
        for k, v in sorted(s.points.items(), key=lambda kv: kv[1][0])
    ]
    return {"score": s.score, "tier": s.tier, "reasons": list(s.reasons), "points": points}


def plan(d: Debtor360, now: datetime) -> dict[str, Any]:
    """The plan as of now (computed from the same data the planner reads), or why there is none."""
    try:
        p = plan_one(StoredAccount(d.account_id, d.document["id"], d.document, d.history), now)
    except (ProfileError, HistoryError) as exc:
        return {"error": str(exc), "steps": []}
    doc = p.as_json()
    return {**doc, "stored_at": d.plan["planned_at"] if d.plan else None}


def promises(d: Debtor360, now: datetime) -> list[dict[str, Any]]:
    made: list[Promise] = []
    for h in d.history:
        pr = h.get("promise")
        if not pr or not pr.get("date"):
            continue
        try:
            amount = Decimal(str(pr["amount"])) if pr.get("amount") not in (None, "") else None
            made.append(Promise(datetime.fromisoformat(h["at"]), date.fromisoformat(pr["date"]), amount))
        except (ValueError, ArithmeticError):
            continue  # a promise the recogniser stored without a usable date or amount: not judged
    paid = [Payment(p["paid_at"], Decimal(p["amount"])) for p in d.payments]
    results = evaluate(made, paid, now, tz=_zone(d.document))
    return [
        {
            "made_at": r.promise.made_at,
            "due": r.promise.due,
            "amount": r.promise.amount,
            "status": r.status,
            "paid": r.paid,
            "reason": r.reason,
        }
        for r in results
    ]


def timeline(d: Debtor360, *, unmasked: bool) -> list[dict[str, Any]]:
    """Every contact across channels, newest first: each call with its result, the outcomes heard,
    the prompts played, what the debtor said (the recogniser's words and the intent of each answer)
    and the gate's verdict; gate refusals that placed no call appear on their own."""
    outcomes: dict[Any, list[dict[str, Any]]] = {}
    for o in d.outcomes:
        outcomes.setdefault(o["attempt_id"], []).append(o)
    items: list[dict[str, Any]] = []
    for v in d.decisions:
        attempt = v.get("attempt_id")
        heard = outcomes.get(attempt, []) if attempt else []
        items.append(
            {
                "at": v["at"],
                "channel": v["channel"],
                "number": (v["number_e164"] if unmasked else mask_number(v["number_e164"]))
                if v["number_e164"]
                else "-",
                "allowed": v["allowed"],
                "rules": list(v["rules"] or []),
                "reasons": list(v["reasons"] or []),
                "next_allowed_at": v["next_allowed_at"],
                "result": v.get("result") or v.get("state") or ("blocked" if not v["allowed"] else "-"),
                "outcomes": [
                    {
                        "outcome": o["outcome"],
                        "by": (o["detail"] or {}).get("by"),
                        "slots": {k: s for k, s in ((o["detail"] or {}).get("slots") or {}).items() if s},
                    }
                    for o in heard
                ],
                "played": list(d.sessions.get(attempt, {}).get("played", [])) if attempt else [],
                "heard": [
                    {"text": str(h.get("text") or ""), "intent": h.get("intent")}
                    for h in d.sessions.get(attempt, {}).get("heard", [])
                ]
                if attempt
                else [],
            }
        )
    _texts_and_letters(d, items, unmasked=unmasked)
    items.sort(key=lambda i: i["at"], reverse=True)
    return items


def _texts_and_letters(d: Debtor360, items: list[dict[str, Any]], *, unmasked: bool) -> None:
    """A text's or a letter's verdict shows what was sent and where it stands (the verdict and the
    outbox row share their time: one transaction); every reply is an item of its own. A text's words
    name the debtor: shown only unmasked, else the number of parts."""
    texts = {t["created_at"]: t for t in d.texts}
    letters = {x["created_at"]: x for x in d.letters}
    for item in items:
        if not item["allowed"]:
            continue
        if item["channel"] == "sms" and item["at"] in texts:
            t = texts[item["at"]]
            item["result"] = t["state"]
            words = t["body"] if unmasked else f"a text in {t['parts']} part(s)"
            item["heard"] = [{"text": words, "intent": "sent"}]
        elif item["channel"] == "letter" and item["at"] in letters:
            x = letters[item["at"]]
            item["result"] = x["state"] + (f" (batch {x['batch']})" if x["batch"] else "")
            item["played"] = [f"{x['template']}, {x['pages']} page(s)"]
    for r in d.replies:
        detail = r.get("detail") or {}
        number = r["number_e164"]
        items.append(
            {
                "at": r["received_at"],
                "channel": "sms reply",
                "number": number if unmasked else mask_number(number),
                "inbound": True,
                "allowed": True,
                "rules": [],
                "reasons": [],
                "next_allowed_at": None,
                "result": "waiting for a person" if r["needs_person"] else (detail.get("outcome") or "read"),
                "outcomes": [],
                "played": [],
                "heard": [{"text": r["body"] if unmasked else "(a reply)", "intent": r["intent"]}],
            }
        )


def repayment_svg(payments: Sequence[Mapping[str, Any]], balance: Decimal, currency: str) -> str:
    """Cumulative payments over time as a small SVG step line with labelled axes; '' when none."""
    if not payments:
        return ""
    w, h, pad = 560, 160, 36
    t0 = payments[0]["paid_at"].timestamp()
    t1 = max(payments[-1]["paid_at"].timestamp(), t0 + 86400)
    total = Decimal(0)
    points = []
    for p in payments:
        total += Decimal(p["amount"])
        points.append((p["paid_at"].timestamp(), total))
    top = max(total + balance, Decimal(1))

    def xy(t: float, v: Decimal) -> tuple[float, float]:
        return pad + (t - t0) / (t1 - t0) * (w - 2 * pad), h - pad - float(v / top) * (h - 2 * pad)

    path = []
    prev = Decimal(0)
    for t, v in points:
        x, y_prev = xy(t, prev)
        _, y = xy(t, v)
        path.append(f"L{x:.1f},{y_prev:.1f} L{x:.1f},{y:.1f}")
        prev = v
    x0, y0 = xy(t0, Decimal(0))
    x_end, y_end = xy(t1, prev)
    d_attr = f"M{x0:.1f},{y0:.1f} " + " ".join(path) + f" L{x_end:.1f},{y_end:.1f}"
    first = payments[0]["paid_at"].date().isoformat()
    last = payments[-1]["paid_at"].date().isoformat()
    return (
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="repay-title">'
        f'<title id="repay-title">Payments received: {len(payments)} totalling {total} {currency},'
        f" {first} to {last}</title>"
        f'<line class="axis" x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}"/>'
        f'<line class="axis" x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}"/>'
        f'<path class="line" d="{d_attr}"/>'
        f'<text x="{pad}" y="{h - 8}">{first}</text>'
        f'<text x="{w - pad}" y="{h - 8}" text-anchor="end">{last}</text>'
        f'<text x="{pad + 4}" y="{pad - 8}">{total} of {total + balance} {currency} paid</text>'
        "</svg>"
    )


def build(d: Debtor360, now: datetime, *, unmasked: bool) -> dict[str, Any]:
    doc = d.document
    loan = doc.get("loan", {})
    balance = Decimal(loan.get("balance") or "0")
    today = now.astimezone(_zone(doc)).date()
    due = date.fromisoformat(loan["due_date"]) if loan.get("due_date") else None
    return {
        "ref": doc["id"],
        "identity": identity(d, unmasked=unmasked),
        "phones": phones(d, unmasked=unmasked),
        "flags": doc.get("contact", {}).get("flags", []),
        "loan": {**loan, "days_overdue": (today - due).days if due else None},
        "credit": doc.get("credit") or {},
        "behaviour": doc.get("behaviour") or {},
        "scorecard": scorecard(d, today),
        "plan": plan(d, now),
        "promises": promises(d, now),
        "payments": d.payments,
        "chart": repayment_svg(d.payments, balance, loan.get("currency") or ""),
        "timeline": timeline(d, unmasked=unmasked),
        "campaigns": d.campaigns,
    }

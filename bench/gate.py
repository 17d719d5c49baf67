"""Compliance gate decisions per second on one core, for accounts with a one-year contact ledger.

    python bench/gate.py [--n 20000] [--repeat 5] [--out bench/results/gate.json]

Cases (each an account with a year of history, checked at a fixed instant):
- allowed: a California debtor at 11:00, 2 calls per weekday and a weekly SMS (~600 entries);
- night: the same account at 06:30 (blocked by hours; next_allowed_at computed);
- capped: 7 calls in the last 7 days (blocked by freq-7in7; next_allowed_at from the counter);
- strict: a New York City debtor with phones in Massachusetts and Washington (us, us-ma, us-wa,
  us-nyc: 16 rules) and a dense ledger (5 contacts a day, ~1,800 entries);
- china: a Shanghai debtor with 6 unanswered attempts today (cn-attempts, calendar day).
Target: >= 10,000 decisions per second per core for every case. Prints JSON; records the median of
`--repeat` runs with the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time as clock
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, report

from dunline.compliance.gate import check
from dunline.compliance.model import Account, Attempt, Contact, Ledger, Phone

LA = ZoneInfo("America/Los_Angeles")
NY = ZoneInfo("America/New_York")
SH = ZoneInfo("Asia/Shanghai")


def year_of_calls(now: datetime, number: str, per_day: int, sms_weekly: bool = True) -> list[Contact]:
    out = []
    results = ("no_answer", "no_answer", "busy", "voicemail", "answered", "conversation")
    for d in range(365, 0, -1):
        day = now - timedelta(days=d)
        if day.weekday() >= 5 and per_day <= 2:
            continue
        for i in range(per_day):
            r = results[(d * 7 + i) % len(results)]
            out.append(Contact(day + timedelta(hours=i), "call", "outbound", r, number, "prerecorded"))
        if sms_weekly and day.weekday() == 2:
            out.append(Contact(day, "sms", "outbound", "delivered", number, None))
    return out


def cases() -> dict[str, tuple[Attempt, Ledger, frozenset[str], datetime]]:
    ca_phone = "+14155550123"
    ca = Account(
        "A-CA", "US", "CA", "San Francisco", "America/Los_Angeles", (Phone(ca_phone, "mobile", True),)
    )
    noon = datetime(2026, 12, 1, 11, 0, tzinfo=LA)
    year = year_of_calls(noon - timedelta(days=8), ca_phone, 2)  # nothing in the last 8 days
    call = Attempt(ca, "call", ca_phone, "prerecorded", "+14155550100")
    out = {
        "allowed": (call, Ledger.of(year), frozenset(), noon),
        "night": (call, Ledger.of(year), frozenset(), noon.replace(hour=6, minute=30)),
    }
    week = [
        Contact(noon - timedelta(days=6, hours=-i * 20), "call", "outbound", "no_answer", ca_phone)
        for i in range(7)
    ]
    out["capped"] = (call, Ledger.of(year + week), frozenset(), noon)

    nyc_phone, ma_phone, wa_phone = "+12125550123", "+16175550123", "+12065550123"
    phones = (
        Phone(nyc_phone, "mobile", True),
        Phone(ma_phone, "landline", True),
        Phone(wa_phone, "work", True),
    )
    nyc = Account("A-NYC", "US", "NY", "New York", None, phones)
    t = datetime(2026, 12, 1, 14, 0, tzinfo=NY)
    dense = year_of_calls(t - timedelta(days=8), nyc_phone, 5)
    out["strict"] = (
        Attempt(nyc, "call", nyc_phone, "agent", "+14155550100"),
        Ledger.of(dense),
        frozenset(),
        t,
    )

    cn_phone = "+8613800138001"
    cn = Account("A-CN", "CN", None, None, "Asia/Shanghai", (Phone(cn_phone, "mobile", True),))
    t_cn = datetime(2026, 12, 1, 15, 0, tzinfo=SH)
    today = [
        Contact(t_cn - timedelta(hours=6 - i), "call", "outbound", "no_answer", cn_phone) for i in range(6)
    ]
    hist = year_of_calls(t_cn - timedelta(days=1), cn_phone, 2) + today
    out["china"] = (
        Attempt(cn, "call", cn_phone, "agent", "+8613800138000"),
        Ledger.of(hist),
        frozenset(),
        t_cn,
    )
    return out


def run(n: int, repeat: int) -> dict[str, object]:
    results: dict[str, object] = {}
    for name, (attempt, ledger, flags, now) in cases().items():
        verdict = check(attempt, ledger, flags, now)  # warm caches (profiles, zones) once
        rates = []
        for _ in range(repeat):
            t0 = clock.perf_counter()
            for _ in range(n):
                check(attempt, ledger, flags, now)
            rates.append(n / (clock.perf_counter() - t0))
        results[name] = {
            "ledger_entries": len(ledger),
            "allowed": verdict.allowed,
            "rules": list(verdict.rules),
            "next_allowed_at": verdict.next_allowed_at.isoformat() if verdict.next_allowed_at else None,
            "decisions_per_s_median": round(statistics.median(rates)),
            "decisions_per_s_min": round(min(rates)),
            "us_per_decision_median": round(1e6 / statistics.median(rates), 1),
        }
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "gate.json"))
    args = ap.parse_args()
    res = run(args.n, args.repeat)
    worst = min(v["decisions_per_s_median"] for v in res.values())  # type: ignore[index]
    doc = {
        "benchmark": "gate",
        "target_decisions_per_s": 10000,
        "worst_case_median": worst,
        "target_met": worst >= 10000,
        "cases": res,
        "machine": machine(),
        "at": datetime.now(LA).isoformat(timespec="seconds"),
    }
    return report(doc, args.out)


if __name__ == "__main__":
    sys.exit(main())

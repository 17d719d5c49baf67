"""The pacing simulator's metrics (pure): what one simulated campaign day achieved.

Definitions (every algorithm measured the same way, by the legal rule):
- live answer: a call answered by a human (answering machines are not live answers).
- abandon: a live answer with no agent on the line within 2 s of the answer (FTC TSR, Ofcom). VICIdial
  itself waits drop_call_seconds (5 s) before dropping; a call it connects after 2 s is still an abandon
  here, and the agent still talks to it.
- agent_occupancy = talk seconds / logged-in seconds (agents x simulated seconds);
  talk_minutes_per_agent_hour = 60 x occupancy.
- abandon_rate = abandons / live answers over the whole run.
- max_abandon_rate_any_window: the largest abandons / live answers among (a) every rolling 1-hour window
  [s, s + 3600) for s = 0, 60, 120, ... that fits in the run (the whole run when it is shorter than an
  hour) and (b) every cumulative window [0, b) for b = each hour boundary and the end of the run; a call
  belongs to a window by its answer time; windows with no live answer are skipped (0 when none has one).
- first_hour_abandon_rate: the same ratio over [0, min(3600, run)).
- ofcom_abandon_rate: Ofcom's formula, drops' = drops * (1 - AM / (AH + AM)), rate = drops' / (AH + drops'),
  with drops = abandons, AH = live answers connected to an agent, AM = machine answers.
- idle_gap_s_p50: median time an agent waited, ready, from the end of its wrap-up (or the start) to its
  next connected call; waits still open at the end are left out.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Sequence
from typing import Any

HOUR = 3600.0
WINDOW_STEP_S = 60.0


def _rate(abandons: int, answers: int) -> float:
    return abandons / answers if answers else 0.0


def window_rates(answer_times: Sequence[float], abandoned: Sequence[bool], duration_s: float) -> list[float]:
    """Abandon rates of every window of the definition above that holds a live answer."""
    prefix = [0]
    for flag in abandoned:
        prefix.append(prefix[-1] + (1 if flag else 0))

    def count(lo: float, hi: float) -> tuple[int, int]:
        i = bisect.bisect_left(answer_times, lo)
        j = bisect.bisect_left(answer_times, hi)
        return prefix[j] - prefix[i], j - i

    rates: list[float] = []
    span = min(HOUR, duration_s)
    starts = int((duration_s - span) // WINDOW_STEP_S) + 1
    for s in range(starts):
        a, n = count(s * WINDOW_STEP_S, s * WINDOW_STEP_S + span)
        if n:
            rates.append(a / n)
    bounds = [h * HOUR for h in range(1, int(duration_s // HOUR) + 1)]
    if not bounds or bounds[-1] < duration_s:
        bounds.append(duration_s)
    for b in bounds:
        a, n = count(0.0, b)
        if n:
            rates.append(a / n)
    return rates


def summarize(
    algorithm: str,
    agents: int,
    duration_s: float,
    talk_s: float,
    answer_times: Sequence[float],
    abandoned: Sequence[bool],
    machine_answers: int,
    calls_placed: int,
    idle_gaps: Sequence[float],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The metrics document (keys in the order `dunline simulate pacing --json` prints them)."""
    live = len(answer_times)
    drops = sum(1 for f in abandoned if f)
    occupancy = talk_s / (agents * duration_s) if duration_s > 0 and agents else 0.0
    first = bisect.bisect_left(answer_times, min(HOUR, duration_s))
    first_drops = sum(1 for f in abandoned[:first] if f)
    rates = window_rates(answer_times, abandoned, duration_s)
    connected = live - drops
    am_share = machine_answers / (connected + machine_answers) if connected + machine_answers else 0.0
    drops_ofcom = drops * (1.0 - am_share)
    doc: dict[str, Any] = {
        "algorithm": algorithm,
        "agent_occupancy": round(occupancy, 4),
        "talk_minutes_per_agent_hour": round(60.0 * occupancy, 2),
        "abandon_rate": round(_rate(drops, live), 4),
        "max_abandon_rate_any_window": round(max(rates, default=0.0), 4),
        "first_hour_abandon_rate": round(_rate(first_drops, first), 4),
        "calls_placed": calls_placed,
        "answered": live + machine_answers,
        "idle_gap_s_p50": round(statistics.median(idle_gaps), 1) if idle_gaps else 0.0,
        "live_answers": live,
        "machine_answers": machine_answers,
        "abandons": drops,
        "ofcom_abandon_rate": round(drops_ofcom / (connected + drops_ofcom), 4)
        if connected + drops_ofcom
        else 0.0,
        "agents": agents,
        "hours": round(duration_s / HOUR, 3),
    }
    doc.update(extra or {})
    return doc

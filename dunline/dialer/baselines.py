"""The pacers Dunline is measured against, reimplemented from reference/dialer.md (pure, no I/O).

VICIdial adaptive dialing (AST_VDadapt / AST_VDauto_dial, v2.14), as the reference states it:

    Inputs sampled every 1 s, averaged over the last 15 samples: R = agents READY or DONE,
    W = answered calls waiting for an agent, N = logged-in agents; delta = R - W.
    Every 15 s (ADAPT_HARD_LIMIT / ADAPT_TAPERED / ADAPT_AVERAGE):
      D = delta + diff_target; m = D / N (0 if D == 0 or N == 0); k = intensity / 100;
      m' = m*(1-k) if m < 0 else m*(1+k); L = level * (1 + m'); L = clamp(L, 1.0, max_level);
      if calls_last_minute > 20 and drop%_last_minute > 50: L = L / 2
      if calls_today > 50 and drops_today / answers_today > drop_cap (3 %):
          HARD_LIMIT: L = 1.0; AVERAGE: L = L / 2;
          TAPERED: h = end_HHMM - now_HHMM; L = 1.0 if h < 0, L if h > 1000, else L * h / 1000
      L = max(L, 1.0)
    Calls each 2.5 s loop: round(L * agents) - calls already ringing/live/waiting, capped by the trunk;
    originations 1000/cps ms apart. Drop = answered human with no agent within drop_call_seconds (5 s).

`VicidialAdaptive` keeps the level and the samples; the caller feeds `sample` every second, `adapt`
every 15 s with `DropStats` refreshed every 60 s ("drop stats every 60 s", the reference's metrics
table) and counted per calendar day, and asks `calls_to_place` every 2.5 s with the agents
AST_VDauto_dial counts (status READY, QUEUE, INCALL or DONE: not PAUSED). "Live" lines are those connected
to an agent: VICIdial keeps a call's vicidial_auto_calls row until hangup, so the level is lines per
agent, talking lines included. An agent in wrap-up sits on VICIdial's disposition screen, PAUSED: not in
R, not in the dial loop's agents, still in N (logged in). The simulator can also read wrap-up as
READY/DONE (`wrap_reads="ready"`), the other possible reading of the reference's "READY or DONE".

Issabel/Elastix CallCenter predictor (reference, confirmed against Issabel's CampaignProcess and
Predictor classes): a busy agent with elapsed talk time t is about to be free when
p = 1 - exp(-(answer_delay + t) / mean_talk) >= 0.97; calls = free + about_to_be_free - queued callers
(at least 0), minus the originations still waiting for an answer (at least 0), then divided by the
answer rate of the last 30 min floored at 0.20 (only once that window holds >= 10 calls) and rounded.
The prediction (the about-to-be-free count) starts after 10 completed calls. An agent in wrap-up is
paused (Issabel ignores paused queue members); with a queue wrapuptime instead, Asterisk reports the
member NOT_INUSE and Issabel counts it free (the simulator's `wrap_reads="ready"`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

VicidialMethod = Literal["ADAPT_HARD_LIMIT", "ADAPT_TAPERED", "ADAPT_AVERAGE"]
VICIDIAL_METHODS: tuple[VicidialMethod, ...] = ("ADAPT_HARD_LIMIT", "ADAPT_TAPERED", "ADAPT_AVERAGE")

SAMPLE_S, LEVEL_S, DIAL_LOOP_S, STATS_S = 1.0, 15.0, 2.5, 60.0
DROP_CALL_SECONDS = 5.0
ISSABEL_QOS = 0.97
ISSABEL_MIN_SAMPLES = 10
ISSABEL_ASR_FLOOR = 0.20
ISSABEL_ASR_WINDOW_S = 30 * 60


@dataclass(frozen=True, slots=True)
class DropStats:
    """VICIdial's drop statistics, per calendar day and for the last minute."""

    calls_today: int = 0
    drops_today: int = 0
    answers_today: int = 0
    calls_last_minute: int = 0
    drops_last_minute: int = 0


def hhmm_difference(end_hhmm: int, now_hhmm: int) -> int:
    """VICIdial subtracts HHMM numbers as plain integers (2100 - 1530 = 570), and so does this."""
    return end_hhmm - now_hhmm


class VicidialAdaptive:
    """VICIdial's adaptive dial level (see the module docstring for the formula)."""

    def __init__(
        self,
        method: VicidialMethod = "ADAPT_TAPERED",
        level: float = 1.0,
        max_level: float = 3.0,
        intensity: float = 0.0,
        diff_target: float = 0.0,
        drop_cap: float = 0.03,
        end_hhmm: int = 2100,
    ) -> None:
        if method not in VICIDIAL_METHODS:
            raise ValueError(f"unknown VICIdial method {method!r}")
        if not -40.0 <= intensity <= 40.0:
            raise ValueError("intensity must be in -40..40 (percent)")
        self.method = method
        self.level = level
        self.max_level = max_level
        self.intensity = intensity
        self.diff_target = diff_target
        self.drop_cap = drop_cap
        self.end_hhmm = end_hhmm
        self.samples: deque[tuple[float, float, float]] = deque(maxlen=15)

    def sample(self, ready_or_done: int, waiting: int, logged_in: int) -> None:
        """One 1 s sample of R, W and N."""
        self.samples.append((float(ready_or_done), float(waiting), float(logged_in)))

    def averages(self) -> tuple[float, float, float]:
        """(R, W, N) averaged over the last 15 samples (zeros before the first one)."""
        if not self.samples:
            return 0.0, 0.0, 0.0
        n = len(self.samples)
        return (
            sum(s[0] for s in self.samples) / n,
            sum(s[1] for s in self.samples) / n,
            sum(s[2] for s in self.samples) / n,
        )

    def adapt(self, now_hhmm: int, stats: DropStats) -> float:
        """The 15 s level update; returns (and keeps) the new level."""
        r, w, n = self.averages()
        d = (r - w) + self.diff_target
        m = 0.0 if d == 0 or n == 0 else d / n
        k = self.intensity / 100.0
        m2 = m * (1 - k) if m < 0 else m * (1 + k)
        level = self.level * (1 + m2)
        level = min(max(level, 1.0), self.max_level)
        if stats.calls_last_minute > 20 and 100.0 * stats.drops_last_minute / stats.calls_last_minute > 50:
            level = level / 2
        if (
            stats.calls_today > 50
            and stats.answers_today > 0
            and stats.drops_today / stats.answers_today > self.drop_cap
        ):
            if self.method == "ADAPT_HARD_LIMIT":
                level = 1.0
            elif self.method == "ADAPT_AVERAGE":
                level = level / 2
            else:
                h = hhmm_difference(self.end_hhmm, now_hhmm)
                if h < 0:
                    level = 1.0
                elif h <= 1000:
                    level = level * h / 1000
        self.level = max(level, 1.0)
        return self.level

    def calls_to_place(self, agents: int, lines_in_use: int, channels_free: int) -> int:
        """The 2.5 s dial loop: round(L * agents) - lines already ringing/live/waiting, trunk-capped."""
        if agents <= 0:
            return 0
        want = _round_half_up(self.level * agents) - lines_in_use
        return max(0, min(want, channels_free))


def _round_half_up(x: float) -> int:
    """Perl's sprintf rounding as VICIdial uses it (0.5 rounds up for positive values)."""
    return math.floor(x + 0.5)


def issabel_about_to_free(
    talk_elapsed: Sequence[float], mean_talk: float, mean_answer_delay: float, qos: float = ISSABEL_QOS
) -> int:
    """Busy agents with 1 - exp(-(answer_delay + t) / mean_talk) >= qos (Erlang k=1, i.e. exponential)."""
    if mean_talk <= 0:
        return 0
    return sum(1 for t in talk_elapsed if 1.0 - math.exp(-(mean_answer_delay + t) / mean_talk) >= qos)


def issabel_calls(
    free: int,
    talk_elapsed: Sequence[float],
    queued: int,
    pending: int,
    completed_calls: int,
    mean_talk: float,
    mean_answer_delay: float,
    window_calls: int,
    window_answered: int,
) -> int:
    """How many calls Issabel places now (module docstring). `window_*`: calls placed / answered in the
    last 30 min (answered = not failed and not unanswered, machines included, as Issabel counts)."""
    about = 0
    if completed_calls >= ISSABEL_MIN_SAMPLES:
        about = issabel_about_to_free(talk_elapsed, mean_talk, mean_answer_delay)
    calls = max(0, free + about - queued)
    calls = calls - pending if calls > pending else 0
    if calls > 0 and window_calls >= 10 and window_answered > 0:
        asr = max(window_answered / window_calls, ISSABEL_ASR_FLOOR)
        calls = int(_round_half_up(calls / asr))
    return calls

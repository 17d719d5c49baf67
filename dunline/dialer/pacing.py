"""Dunline's predictive pacer: how many calls to place now (pure: no I/O, no asyncio, no database).

`decide(snapshot) -> Decision`. The caller (the campaign runner, or the simulator) builds a frozen
`Snapshot` every tick (1 s) and places `Decision.calls` calls, spaced 1/cps apart.

Method (reference/dialer.md, "Rules that bind any predictive dialer": the abandon cap holds in EVERY
window, including the first hour and small teams):

1. Nobody to talk to -> 0: no agents logged in, or all paused. Trunk channels and cps cap every answer.
2. Horizon model (`pacing_model`), on a 1 s grid from now to the ring timeout: the probability that each
   busy agent is free by each time (talk and wrap-up lognormals conditioned on the time already spent in
   the state; a talk is followed by a whole wrap-up), that each ringing call is answered by a human by
   each time (conditioned on how long it has rung), and the same for a new call. The answer rate is read
   at an upper quantile (`RISK_QUANTILE`) of its Beta posterior: more answers than expected is what
   causes abandons. The calls that cannot be served = max over t of (humans answered by t - agents free
   by t + patience), exact for nested deadlines (`pacing_model.Horizon`); E_A(n) is its expectation with
   n new calls and E_H(n) the expected live answers among all outstanding calls.
3. Windows (`plan_window`): each window the caller passes (rolling 30 days, today, the first hour of the
   campaign, the rolling hour ...) may hold cap_w = floor(target x its live answers when judged), that
   size projected at the window's pace and read low (`SIZE_Z`). Its room = cap_w - abandons so far; its
   rate r_w is a chance constraint: the abandons still to come, counted in bursts of `CLUSTER` (an
   unlucky second drops several calls at once) as a Poisson count, exceed the room with probability at
   most `WINDOW_RISK` (a mean of 3 % would break the cap in about half the windows). A full rolling
   window also keeps to the rate its whole cap allows over an hour.
4. Predictive: the largest n whose new calls add at most r = min_w r_w abandons per live answer they
   bring (E_A(n) - E_A(0) <= r x n x p_answer: the marginal risk, so the realised rate is r whatever the
   calls already out) and leave every window at least `RESERVE` abandon of room. Never fewer calls than
   progressive.
5. Progressive, when the budget is thin (some window's room minus the abandons already expected from the
   calls out is below `RESERVE`: one more unlucky abandon would break it) or the team is too small for
   one abandon in a window (cap_w < 1: 3 agents on 5-minute calls in their first hour): never more
   outstanding calls than ready agents + agents about to be free (P(free before the earliest likely
   answer) >= 0.97). But progressive takes far fewer live answers an hour when few calls are answered
   (one line per free agent, each failed attempt ringing out), and a rolling hour keeps its abandons
   while its answers shrink: 3 abandons in 130 answers are 2.3 %, in the 83 of a progressive hour
   3.6 %. So a thin window that could not hold its abandons (and one more) at the progressive pace is
   guarded instead: predictive at `GUARD_RATE` abandons per live answer, which keeps its pace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from dunline.dialer.pacing_model import Horizon, answer_probabilities, free_probabilities
from dunline.dialer.pacing_stats import Lognormal, beta_quantile, poisson_allowance

AgentState = Literal["ready", "on_call", "wrap_up", "paused"]
Mode = Literal["idle", "progressive", "predictive"]

TARGET = 0.03  # abandoned / live-answered calls (FTC TSR, Ofcom's historical cap)
RISK_QUANTILE = 0.9  # answer rate read at this quantile of its posterior
WINDOW_RISK = 0.02  # accepted chance that a window's abandons exceed its cap
RESERVE = 1.0  # abandons every window must still be able to absorb
PLAN_SHARE = 0.5  # share of the team's capacity a window's projection counts on, at least
MIN_PACE_S = 600.0  # a window's own pace of live answers is trusted after this long
LOOKAHEAD_S = 900.0  # a full rolling window plans this far ahead against its room
GUARD_RATE = 0.002  # abandons per live answer while a thin window must keep its pace
CLUSTER = 2.0  # abandons per burst the chance constraint counts as one event
SIZE_Z = 1.65  # windows' sizes are read at this many Poisson standard deviations below the estimate
ABOUT_TO_FREE = 0.97  # progressive counts an agent this likely to be free in time
STEP_S = 1.0  # horizon grid
DEADLINE_EARLY_S = 0.5  # an answer counted at t_k needs its agent this much before t_k + patience
SAMPLE_BUDGET = 12_000  # scenarios x sampled agents and calls per decision
MIN_SCENARIOS, MAX_SCENARIOS = 96, 512


@dataclass(frozen=True, slots=True)
class Agent:
    """One logged-in agent: its state and the seconds it has spent in it."""

    state: AgentState
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Window:
    """Abandons and live (human) answers counted in one compliance window so far. `span_s` is the
    window's length (30 days, the rest of the day, 3600 for the first or the rolling hour) and
    `elapsed_s` how much of it has run; together they project the live answers it will hold."""

    name: str
    abandons: float
    live_answers: float
    span_s: float = 3600.0
    elapsed_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Observed:
    """What the campaign has measured: duration distributions (running lognormal estimates) and the
    answer counts over resolved attempts (may be recency-weighted, hence floats)."""

    talk: Lognormal
    wrap: Lognormal | None  # None: agents take no wrap-up
    answer_delay: Lognormal  # originate -> answer, of answered calls
    attempts: float = 0.0
    live_answers: float = 0.0
    machine_answers: float = 0.0


@dataclass(frozen=True, slots=True)
class Limits:
    channels: int = 100  # trunk channels for this campaign (ringing + waiting + talking + machines)
    cps: float = 30.0  # originations per second
    max_ring_s: float = 25.0  # ring timeout (>= 15 s, TSR / Ofcom)
    tick_s: float = 1.0  # the caller decides this often


@dataclass(frozen=True, slots=True)
class Snapshot:
    now: float
    agents: tuple[Agent, ...]
    ringing: tuple[float, ...]  # seconds each outstanding, unanswered call has been ringing
    waiting: int  # answered humans waiting for an agent
    channels_in_use: int
    observed: Observed
    windows: tuple[Window, ...] = ()
    limits: Limits = field(default_factory=Limits)
    target: float = TARGET
    patience_s: float = 2.0  # an agent must be on the line this soon after a human answers
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    calls: int
    reason: str
    mode: Mode
    expected_abandons: float = 0.0  # over all outstanding calls, with the new ones
    expected_answers: float = 0.0  # human answers among them


def _idle(reason: str) -> Decision:
    return Decision(0, reason, "idle")


def _answer_rates(obs: Observed) -> tuple[float, float]:
    """(human, any) answer probability per attempt at the risk quantile of Beta(1 + x, 1 + n - x)."""
    n = max(obs.attempts, 0.0)
    human = min(max(obs.live_answers, 0.0), n)
    anyone = min(human + max(obs.machine_answers, 0.0), n)
    p_h = beta_quantile(1.0 + human, 1.0 + n - human, RISK_QUANTILE)
    p_a = max(p_h, beta_quantile(1.0 + anyone, 1.0 + n - anyone, RISK_QUANTILE))
    return p_h, min(p_a, 1.0)


def _capacity_per_s(active: int, obs: Observed) -> float:
    """Live answers per second the team can take at most: one per talk + wrap-up + answer delay."""
    cycle = obs.talk.mean + (obs.wrap.mean if obs.wrap else 0.0) + obs.answer_delay.mean
    return active / max(cycle, 1.0)


def _progressive_pace(active: int, obs: Observed, max_ring_s: float) -> float:
    """Live answers per second the team takes when dialing progressively: one line per free agent, each
    failed attempt ringing out, at the answer rate's posterior mean."""
    p = (1.0 + max(obs.live_answers, 0.0)) / (2.0 + max(obs.attempts, 0.0))
    hunt = (1.0 / p - 1.0) * max_ring_s + obs.answer_delay.mean
    cycle = obs.talk.mean + (obs.wrap.mean if obs.wrap else 0.0) + hunt
    return active / max(cycle, 1.0)


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """One window's budget: `cap` abandons allowed when it is judged, `room` = cap - abandons so far,
    `future` live answers expected before then, `rate` = the abandon rate that keeps
    P(abandons > cap) <= WINDOW_RISK (Poisson count of the abandons still to come)."""

    name: str
    cap: int
    room: float
    future: float
    rate: float
    absorbs: bool = True  # its abandons and one more stay within the cap at the progressive pace


def _allowance(room: float) -> float:
    """Expected abandons a window with this room may still take: abandons come in clusters (a burst of
    answers with every agent busy drops several at once), so count clusters of `CLUSTER` as Poisson."""
    if room < 0:
        return 0.0
    return CLUSTER * poisson_allowance(math.floor(room / CLUSTER), WINDOW_RISK)


def plan_window(w: Window, capacity: float, target: float, fallback: float = math.inf) -> WindowPlan:
    """A window still filling (first hour, today, 30 days, a rolling hour younger than an hour) is judged
    at its end, at most an hour ahead: it will hold its live answers plus those expected meanwhile, at its
    own pace once it has run `MIN_PACE_S` (before that at PLAN_SHARE of the team's capacity). A full
    rolling window keeps about its size; the abandons it holds leave it within the hour, so it plans the
    next `LOOKAHEAD_S` against the room it has and its long-run rate against its whole cap. Its abandons
    stay in it for up to an hour, and if the budget runs thin the pacer turns progressive, which takes
    fewer live answers an hour (`fallback`, per second): a window holding one hour of that pace must
    still hold them, so a full window is sized at most at the fallback pace. Sizes are read low (a
    Poisson lower bound, `SIZE_Z`): one abandon too many in a window that ends up smaller than planned
    would break it."""
    live = max(w.live_answers, 0.0)
    remaining = max(0.0, w.span_s - w.elapsed_s)
    if remaining > 0:
        pace = live / w.elapsed_s if w.elapsed_s >= MIN_PACE_S else PLAN_SHARE * capacity
        future = min(pace, capacity) * min(remaining, 3600.0)
        low = live + max(0.0, future - SIZE_Z * math.sqrt(future))
        cap = math.floor(target * low + 1e-9)
        room = cap - w.abandons
        rate = _allowance(room) / max(future, 1.0)
        slow = live + fallback * min(remaining, 3600.0)
        absorbs = w.abandons + 1 <= target * max(0.0, slow - SIZE_Z * math.sqrt(slow))
        return WindowPlan(w.name, cap, room, future, rate, absorbs)
    cap = math.floor(target * max(0.0, live - SIZE_Z * math.sqrt(live)) + 1e-9)
    room = cap - w.abandons
    ahead = live * LOOKAHEAD_S / max(w.span_s, 1.0)
    size = min(live, fallback * w.span_s)
    absorbs = w.abandons + 1 <= target * max(0.0, size - SIZE_Z * math.sqrt(size))
    steady = _allowance(cap) / max(live, 1.0)
    burst = _allowance(room) / max(ahead, 1.0)
    return WindowPlan(w.name, cap, room, ahead, min(steady, burst), absorbs)


def decide(snap: Snapshot) -> Decision:
    """How many calls to place now, and why."""
    if not snap.agents:
        return _idle("no agents logged in")
    active = [a for a in snap.agents if a.state != "paused"]
    if not active:
        return _idle("all agents paused")
    lim = snap.limits
    cap = min(lim.channels - snap.channels_in_use, math.floor(lim.cps * lim.tick_s + 1e-9))
    if cap <= 0:
        why = "no trunk channel free" if lim.channels <= snap.channels_in_use else "cps limit"
        return _idle(why)

    obs = snap.observed
    p_h, p_a = _answer_rates(obs)
    times = np.arange(0.0, lim.max_ring_s + STEP_S / 2, STEP_S)
    # answers in (t_{k-1}, t_k] need an agent by t_{k-1} + patience .. t_k + patience: take the middle
    deadlines = times + max(snap.patience_s - DEADLINE_EARLY_S, 0.0)
    states, seconds = [a.state for a in active], [a.seconds for a in active]
    free = free_probabilities(states, seconds, obs.talk, obs.wrap, deadlines)
    ages, rows = np.unique(np.floor(np.asarray(snap.ringing, dtype=np.float64)), return_inverse=True)
    ring = answer_probabilities(list(ages), p_h, p_a, obs.answer_delay, lim.max_ring_s, times)
    g = answer_probabilities([0.0], 1.0, 0.0, obs.answer_delay, lim.max_ring_s, times)[0]
    new = p_h * g

    ready = sum(1 for a in active if a.state == "ready")
    early = min(int(np.searchsorted(g, 0.05)), times.size - 1)  # the earliest likely answer
    about = int(np.sum(free[:, early] >= ABOUT_TO_FREE)) - ready
    outstanding = snap.waiting + len(snap.ringing)
    progressive = max(0, min(cap, ready + about - outstanding))

    capacity = _capacity_per_s(len(active), obs)
    fallback = _progressive_pace(len(active), obs, lim.max_ring_s)
    plans = [plan_window(w, capacity, snap.target, fallback) for w in snap.windows]
    per_call = float(new[-1])
    per_age = np.bincount(rows, minlength=ages.size) if ages.size else np.zeros(0)
    answers_now = snap.waiting + float(per_age @ ring[:, -1]) if ages.size else float(snap.waiting)

    def answers(n: int) -> float:
        return answers_now + per_call * n

    tiny = [p.name for p in plans if p.cap < 1]
    if tiny:
        why = f"window {tiny[0]!r} is too small for one abandon"
        return Decision(progressive, f"progressive: {why}", "progressive", 0.0, answers(progressive))

    # beyond the agents that can be free within the horizon, more calls only add abandons
    reachable = float(free[:, -1].sum())
    useful = math.ceil((reachable + 2.0) / max(per_call, 1e-3)) - len(snap.ringing)
    n_max = max(progressive, min(cap, max(useful, 0)))
    if n_max <= progressive:
        why = "progressive: no call beyond the ready and about-to-free agents could be answered in time"
        return Decision(progressive, why, "progressive", 0.0, answers(progressive))
    entities = free.shape[0] + len(snap.ringing) + 4
    scenarios = int(min(MAX_SCENARIOS, max(MIN_SCENARIOS, SAMPLE_BUDGET // entities)))
    rng = np.random.default_rng([snap.seed, int(snap.now * 1000) & 0x7FFFFFFF])
    horizon = Horizon(free, ring, np.asarray(rows, dtype=np.int64), snap.waiting, new, n_max, rng, scenarios)

    base = horizon.abandons(0)
    thin = [p for p in plans if p.room - base < RESERVE]
    names = ", ".join(repr(p.name) for p in thin)
    if thin and all(p.absorbs for p in thin):
        n = progressive
        return Decision(n, f"progressive: abandon budget thin in {names}", "progressive", base, answers(n))

    binding = min(plans, key=lambda p: p.rate, default=None)
    rate = min(binding.rate, snap.target) if binding else snap.target
    room = min((p.room for p in plans), default=math.inf)
    if thin:  # progressive would shrink the window under its abandons: keep its pace, at minimal risk
        rate, room = min(rate, GUARD_RATE), math.inf

    def allowed(n: int) -> bool:
        """The n new calls add at most `rate` abandons per live answer they bring, and leave room."""
        e_a = horizon.abandons(n)
        return e_a - base <= rate * per_call * n + 1e-12 and room - e_a >= RESERVE

    calls = progressive
    while calls < n_max and allowed(calls + 1):
        calls += 1
    e_a = horizon.abandons(calls)
    where = f" (window {binding.name!r})" if binding else ""
    if thin:
        where = f" (budget thin in {names}, guarding its pace)"
    reason = (
        f"predictive: {calls} call(s) add {e_a - base:.3f} expected abandons to {base:.3f}, within "
        f"{rate:.2%} of their {per_call * calls:.2f} expected answers{where}"
    )
    return Decision(calls, reason, "predictive", e_a, answers(calls))

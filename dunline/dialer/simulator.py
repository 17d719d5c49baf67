"""Discrete-event simulation of one outbound campaign day, to compare pacers on the same traffic (pure:
no I/O, no wall clock; seeded `random.Random` streams and a heap of events).

Traffic (`Traffic`):
- `agents` agents logged in for the whole run, never paused; the campaign starts at 09:00.
- A call is answered with probability answer_rate x a mild daily curve, 1 + 0.12 cos(2 pi (h - 18) / 12)
  at clock hour h (1.0 at 09:00 and 15:00, 0.88 at noon, 1.12 at 18:00), capped at 1. An answered call's
  delay from originate is lognormal (median 8 s, log-sd 0.4) below the ring timeout; an unanswered call
  rings until the timeout (25 s: at least the 15 s the TSR and Ofcom require before giving up).
- `machine_rate` of the answers are answering machines. Answering-machine detection runs on every call
  for every algorithm: a machine never needs an agent, holds its line 3 s and ends; it is neither a live
  answer nor an abandon (Ofcom's formula, which discounts machines, is reported too).
- A human is connected to the longest-idle ready agent, or waits in FIFO order. Talk time is lognormal
  with mean `talk_mean` (log-sd 0.7), then a lognormal wrap-up with mean `wrap_mean` (log-sd 0.5; 0 = none).
- Abandons are MEASURED for every algorithm with the legal rule: a live answer with no agent within 2 s.
  Dunline and Issabel drop the call at 2 s. VICIdial decides with its own drop timer, drop_call_seconds =
  5 s: it drops at 5 s (and counts that as its own drop), and a call it connects between 2 and 5 s is an
  abandon in the metrics although the agent talks to it. That keeps the algorithms comparable.
- Randomness comes from separate streams (call fates, talk times, wrap-ups) so the k-th call placed has
  the same fate under every algorithm.

Algorithms and their loops: "dunline" (`pacing.decide`, every 1 s), "issabel" (`baselines.issabel_calls`,
every 1 s), "vicidial" (`baselines.VicidialAdaptive`: samples every 1 s, level every 15 s, drop stats
every 60 s, dial loop every 2.5 s). Originations are spaced 1/cps apart and capped by the trunk channels.
The baselines see an agent in wrap-up as paused (`wrap_reads="paused"`, VICIdial's disposition screen)
or as ready (`"ready"`: VICIdial DONE, Issabel's queue member in wrapuptime); baselines.py says why.
Dunline is told each agent's state and the time in it, and estimates durations and the answer rate from
what it has seen: lognormal fits with a vague prior (talk 120 s, wrap-up 20 s, answer delay 10 s) that
take the calls still running as lower bounds, refitted every 10 s, and answer counts weighted over
about 30 min.
Metrics: `sim_metrics` (its docstring defines each one).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from dunline.dialer import baselines, pacing
from dunline.dialer.pacing_stats import Lognormal, LogStats
from dunline.dialer.sim_metrics import summarize

Algorithm = Literal["dunline", "vicidial", "issabel"]
WrapReading = Literal["paused", "ready"]
ALGORITHMS: tuple[Algorithm, ...] = ("dunline", "vicidial", "issabel")

READY, TALK, WRAP = 0, 1, 2
_STATE_NAMES: tuple[pacing.AgentState, ...] = ("ready", "on_call", "wrap_up")
(ANSWER, NO_ANSWER, LINE_END, DEADLINE, TALK_END, WRAP_END, TICK, SAMPLE, ADAPT, STATS, DIAL) = range(11)
LEGAL_WAIT_S = 2.0
EWMA_TAU_S = 1800.0  # Dunline's answer counts: recency weight, about 30 min


@dataclass(frozen=True)
class Traffic:
    """One simulated campaign day (the module docstring describes the model). Durations in seconds;
    `answer_rate` counts humans and machines; `machine_rate` is the machines' share of the answers."""

    agents: int
    hours: float
    answer_rate: float
    talk_mean: float
    wrap_mean: float = 15.0
    machine_rate: float = 0.2
    seed: int = 1
    talk_sigma: float = 0.7
    wrap_sigma: float = 0.5
    delay_median: float = 8.0
    delay_sigma: float = 0.4
    ring_timeout: float = 25.0
    machine_hold_s: float = 3.0
    daily_amplitude: float = 0.12
    start_hour: float = 9.0
    channels: int = 0  # 0: 10 per agent + 10
    cps: float = 30.0

    @property
    def trunk(self) -> int:
        return self.channels or 10 * self.agents + 10


def answer_probability(t: Traffic, seconds: float) -> float:
    """The answer rate at this time of the run (the daily curve)."""
    hour = t.start_hour + seconds / 3600.0
    return min(1.0, t.answer_rate * (1.0 + t.daily_amplitude * math.cos(2 * math.pi * (hour - 18.0) / 12.0)))


class Simulation:
    """One run. `run()` returns the `sim_metrics.summarize` document."""

    def __init__(
        self,
        traffic: Traffic,
        algorithm: Algorithm,
        vicidial_method: str = "ADAPT_TAPERED",
        wrap_reads: WrapReading = "paused",
        target: float = pacing.TARGET,
    ) -> None:
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {algorithm!r}")
        if vicidial_method not in baselines.VICIDIAL_METHODS:
            raise ValueError(f"unknown VICIdial method {vicidial_method!r}")
        if wrap_reads not in ("paused", "ready"):
            raise ValueError(f"wrap_reads must be 'paused' or 'ready', not {wrap_reads!r}")
        if not 0.0 < target < 1.0:
            raise ValueError(f"the abandon target must be between 0 and 1, not {target!r}")
        self.wrap_reads_ready = wrap_reads == "ready"
        self.target = target  # Dunline's abandon cap (3 %; other values for what-if studies only)
        self.t = traffic
        self.algorithm = algorithm
        self.end = traffic.hours * 3600.0
        self.patience = baselines.DROP_CALL_SECONDS if algorithm == "vicidial" else LEGAL_WAIT_S
        self.rng_call = random.Random(f"{traffic.seed}-calls")
        self.rng_talk = random.Random(f"{traffic.seed}-talk")
        self.rng_wrap = random.Random(f"{traffic.seed}-wrap")
        self.talk_mu = math.log(traffic.talk_mean) - traffic.talk_sigma**2 / 2
        self.wrap_mu = (
            math.log(traffic.wrap_mean) - traffic.wrap_sigma**2 / 2 if traffic.wrap_mean > 0 else 0.0
        )
        self.delay_mu = math.log(traffic.delay_median)
        self.events: list[tuple[float, int, int, int, int]] = []
        self.seq = 0
        n = traffic.agents
        self.state = [READY] * n
        self.since = [0.0] * n
        self.ready: deque[int] = deque(range(n))
        self.ringing: dict[int, float] = {}  # call id -> originate time
        self.waiting: dict[int, float] = {}  # live-answer index -> answer time (FIFO: dicts keep order)
        self.lines = 0
        self.next_call = 0
        self.calls_placed = 0
        self.talk_s = 0.0
        self.answer_times: list[float] = []
        self.abandoned: list[bool] = []
        self.machine_answers = 0
        self.idle_gaps: list[float] = []
        # what the pacers observe
        self.talk_stats = LogStats(Lognormal.from_mean(120.0, 0.9))
        self.wrap_stats = LogStats(Lognormal.from_mean(20.0, 0.7))
        self.delay_stats = LogStats(Lognormal.from_mean(10.0, 0.5))
        self.ew = [0.0, 0.0, 0.0, 0.0]  # attempts, live, machines, last update time
        self.hour_answers: deque[float] = deque()
        self.hour_abandons: deque[float] = deque()
        self.abandons_total = 0
        self.completed_talks = 0
        self.talk_sum = 0.0
        self.delay_sum = 0.0
        self.delay_n = 0
        self.resolved: deque[tuple[float, bool]] = deque()  # (originate time, answered) for Issabel's ASR
        self.placed_times: deque[float] = deque()  # VICIdial: calls of the last minute
        self.drop_times: deque[float] = deque()
        self.vici_drops = 0
        self.vici = baselines.VicidialAdaptive(method=vicidial_method)
        self.vici_stats = baselines.DropStats()
        self.talk_estimate = self.talk_stats.estimate()
        self.wrap_estimate = self.wrap_stats.estimate()
        self.delay_estimate = self.delay_stats.estimate()

    # ---- event plumbing --------------------------------------------------------------------------
    def push(self, at: float, kind: int, a: int = 0, b: int = 0) -> None:
        self.seq += 1
        heapq.heappush(self.events, (at, self.seq, kind, a, b))

    def run(self) -> dict[str, Any]:
        if self.algorithm == "vicidial":
            for kind in (SAMPLE, STATS, ADAPT, DIAL):
                self.push(0.0, kind)
        else:
            self.push(0.0, TICK)
        handlers = {
            ANSWER: self.on_answer,
            NO_ANSWER: self.on_no_answer,
            LINE_END: self.on_line_end,
            DEADLINE: self.on_deadline,
            TALK_END: self.on_talk_end,
            WRAP_END: self.on_wrap_end,
            TICK: self.on_tick,
            SAMPLE: self.on_sample,
            ADAPT: self.on_adapt,
            STATS: self.on_stats,
            DIAL: self.on_dial,
        }
        while self.events and self.events[0][0] < self.end:
            at, _, kind, a, b = heapq.heappop(self.events)
            handlers[kind](at, a, b)
        extra: dict[str, Any] = {}
        if self.algorithm == "vicidial":
            extra = {"vicidial_method": self.vici.method, "vicidial_drops": self.vici_drops}
        if self.algorithm != "dunline":
            extra["wrap_reads"] = "ready" if self.wrap_reads_ready else "paused"
        return summarize(
            self.algorithm,
            self.t.agents,
            self.end,
            self.talk_s,
            self.answer_times,
            self.abandoned,
            self.machine_answers,
            self.calls_placed,
            self.idle_gaps,
            extra,
        )

    # ---- calls -----------------------------------------------------------------------------------
    def place(self, now: float, n: int) -> None:
        n = min(n, self.t.trunk - self.lines)
        for i in range(max(n, 0)):
            start = now + i / self.t.cps
            cid = self.next_call
            self.next_call += 1
            self.calls_placed += 1
            self.lines += 1
            self.ringing[cid] = start
            self.placed_times.append(start)
            u, human_u = self.rng_call.random(), self.rng_call.random()
            delay = self.t.ring_timeout
            for _ in range(20):
                delay = math.exp(self.rng_call.gauss(self.delay_mu, self.t.delay_sigma))
                if delay < self.t.ring_timeout:
                    break
            if u < answer_probability(self.t, start) and delay < self.t.ring_timeout:
                self.push(start + delay, ANSWER, cid, int(human_u >= self.t.machine_rate))
            else:
                self.push(start + self.t.ring_timeout, NO_ANSWER, cid)

    def _resolve(self, now: float, start: float, live: bool, machine: bool) -> None:
        decay = math.exp(-(now - self.ew[3]) / EWMA_TAU_S)
        self.ew = [self.ew[0] * decay + 1, self.ew[1] * decay + live, self.ew[2] * decay + machine, now]
        self.resolved.append((start, live or machine))

    def on_answer(self, now: float, cid: int, human: int) -> None:
        start = self.ringing.pop(cid)
        self.delay_stats.add(now - start)
        self.delay_sum += now - start
        self.delay_n += 1
        self._resolve(now, start, bool(human), not human)
        if not human:
            self.machine_answers += 1
            self.push(now + self.t.machine_hold_s, LINE_END)
            return
        idx = len(self.answer_times)
        self.answer_times.append(now)
        self.abandoned.append(False)
        self.hour_answers.append(now)
        if self.ready:
            self.connect(self.ready.popleft(), now, idx)
        else:
            self.waiting[idx] = now
            self.push(now + self.patience, DEADLINE, idx)

    def on_no_answer(self, now: float, cid: int, _: int) -> None:
        start = self.ringing.pop(cid)
        self.lines -= 1
        self._resolve(now, start, False, False)

    def on_line_end(self, now: float, _a: int, _b: int) -> None:
        self.lines -= 1

    def _abandon(self, idx: int) -> None:
        self.abandoned[idx] = True
        self.abandons_total += 1
        self.hour_abandons.append(self.answer_times[idx])

    def on_deadline(self, now: float, idx: int, _: int) -> None:
        if self.waiting.pop(idx, None) is None:
            return
        self.lines -= 1
        self._abandon(idx)
        if self.algorithm == "vicidial":
            self.vici_drops += 1
            self.drop_times.append(now)

    # ---- agents ----------------------------------------------------------------------------------
    def connect(self, agent: int, now: float, idx: int) -> None:
        if now - self.answer_times[idx] > LEGAL_WAIT_S:
            self._abandon(idx)  # only VICIdial waits longer than the legal 2 s
        self.idle_gaps.append(now - self.since[agent])
        self.state[agent] = TALK
        self.since[agent] = now
        talk = math.exp(self.rng_talk.gauss(self.talk_mu, self.t.talk_sigma))
        self.talk_s += min(talk, self.end - now)
        self.push(now + talk, TALK_END, agent)

    def on_talk_end(self, now: float, agent: int, _: int) -> None:
        self.lines -= 1
        talk = now - self.since[agent]
        self.talk_stats.add(talk)
        self.completed_talks += 1
        self.talk_sum += talk
        if self.t.wrap_mean > 0:
            self.state[agent] = WRAP
            self.since[agent] = now
            self.push(now + math.exp(self.rng_wrap.gauss(self.wrap_mu, self.t.wrap_sigma)), WRAP_END, agent)
        else:
            self.become_ready(agent, now)

    def on_wrap_end(self, now: float, agent: int, _: int) -> None:
        self.wrap_stats.add(now - self.since[agent])
        self.become_ready(agent, now)

    def become_ready(self, agent: int, now: float) -> None:
        self.state[agent] = READY
        self.since[agent] = now
        if self.waiting:
            idx = next(iter(self.waiting))
            del self.waiting[idx]
            self.connect(agent, now, idx)
        else:
            self.ready.append(agent)

    # ---- pacers ----------------------------------------------------------------------------------
    def on_tick(self, now: float, _a: int, _b: int) -> None:
        n = self.dunline_calls(now) if self.algorithm == "dunline" else self.issabel_calls(now)
        self.place(now, min(n, math.floor(self.t.cps)))
        self.push(now + 1.0, TICK)

    def _windows(self, now: float) -> tuple[pacing.Window, ...]:
        for q in (self.hour_answers, self.hour_abandons):
            while q and q[0] < now - 3600.0:
                q.popleft()
        live = float(len(self.answer_times))
        today = self.abandons_total
        windows = [
            pacing.Window("rolling_30_days", today, live, 30 * 86400.0, now),
            pacing.Window("today", today, live, (24.0 - self.t.start_hour) * 3600.0, now),
            pacing.Window(
                "rolling_hour", len(self.hour_abandons), len(self.hour_answers), 3600.0, min(now, 3600.0)
            ),
        ]
        if now < 3600.0:
            windows.append(pacing.Window("first_hour", today, live, 3600.0, now))
        return tuple(windows)

    def dunline_calls(self, now: float) -> int:
        if int(now) % 10 == 0:  # refit with the calls still running as lower bounds
            self.talk_estimate = self.talk_stats.estimate(
                [now - self.since[i] for i, s in enumerate(self.state) if s == TALK]
            )
            self.wrap_estimate = self.wrap_stats.estimate(
                [now - self.since[i] for i, s in enumerate(self.state) if s == WRAP]
            )
            self.delay_estimate = self.delay_stats.estimate()
        decay = math.exp(-(now - self.ew[3]) / EWMA_TAU_S)
        snap = pacing.Snapshot(
            now=now,
            agents=tuple(
                pacing.Agent(_STATE_NAMES[s], now - self.since[i]) for i, s in enumerate(self.state)
            ),
            ringing=tuple(max(0.0, now - s) for s in self.ringing.values()),
            waiting=len(self.waiting),
            channels_in_use=self.lines,
            observed=pacing.Observed(
                talk=self.talk_estimate,
                wrap=self.wrap_estimate if self.t.wrap_mean > 0 else None,
                answer_delay=self.delay_estimate,
                attempts=self.ew[0] * decay,
                live_answers=self.ew[1] * decay,
                machine_answers=self.ew[2] * decay,
            ),
            windows=self._windows(now),
            limits=pacing.Limits(channels=self.t.trunk, cps=self.t.cps, max_ring_s=self.t.ring_timeout),
            target=self.target,
            seed=self.t.seed,
        )
        return pacing.decide(snap).calls

    def issabel_calls(self, now: float) -> int:
        while self.resolved and self.resolved[0][0] < now - baselines.ISSABEL_ASR_WINDOW_S:
            self.resolved.popleft()
        free = sum(1 for s in self.state if s == READY or (s == WRAP and self.wrap_reads_ready))
        talking = [now - self.since[i] for i, s in enumerate(self.state) if s == TALK]
        done = self.completed_talks
        return baselines.issabel_calls(
            free=free,
            talk_elapsed=talking,
            queued=len(self.waiting),
            pending=len(self.ringing),
            completed_calls=done,
            mean_talk=self.talk_sum / done if done else 0.0,
            mean_answer_delay=self.delay_sum / self.delay_n if self.delay_n else 0.0,
            window_calls=len(self.resolved),
            window_answered=sum(1 for _, answered in self.resolved if answered),
        )

    def on_sample(self, now: float, _a: int, _b: int) -> None:
        ready_or_done = sum(1 for s in self.state if s == READY or (s == WRAP and self.wrap_reads_ready))
        self.vici.sample(ready_or_done, len(self.waiting), self.t.agents)
        self.push(now + baselines.SAMPLE_S, SAMPLE)

    def on_stats(self, now: float, _a: int, _b: int) -> None:
        for q in (self.placed_times, self.drop_times):
            while q and q[0] < now - 60.0:
                q.popleft()
        self.vici_stats = baselines.DropStats(
            calls_today=self.calls_placed,
            drops_today=self.vici_drops,
            answers_today=len(self.answer_times),
            calls_last_minute=len(self.placed_times),
            drops_last_minute=len(self.drop_times),
        )
        self.push(now + baselines.STATS_S, STATS)

    def on_adapt(self, now: float, _a: int, _b: int) -> None:
        clock = self.t.start_hour * 60.0 + now / 60.0
        hhmm = int(clock // 60) * 100 + int(clock % 60)
        self.vici.adapt(hhmm, self.vici_stats)
        self.push(now + baselines.LEVEL_S, ADAPT)

    def on_dial(self, now: float, _a: int, _b: int) -> None:
        # AST_VDauto_dial counts agents READY, QUEUE, INCALL or DONE: not those paused in disposition
        active = sum(1 for s in self.state if s != WRAP or self.wrap_reads_ready)
        n = self.vici.calls_to_place(active, self.lines, self.t.trunk - self.lines)
        self.place(now, min(n, math.floor(self.t.cps * baselines.DIAL_LOOP_S)))
        self.push(now + baselines.DIAL_LOOP_S, DIAL)


def simulate(
    traffic: Traffic,
    algorithm: Algorithm,
    vicidial_method: str = "ADAPT_TAPERED",
    wrap_reads: WrapReading = "paused",
    target: float = pacing.TARGET,
) -> dict[str, Any]:
    """Run one simulated campaign and return its metrics (`target`: Dunline's abandon cap)."""
    return Simulation(traffic, algorithm, vicidial_method, wrap_reads, target).run()

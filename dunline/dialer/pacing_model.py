"""The Dunline pacer's horizon model (pure: numpy, no I/O, no clock).

Time runs on a grid t_k = k * step from now to the ring timeout. An answered human needs an agent within
the patience (2 s). Each agent that will be free within the horizon and each outstanding call that will
be answered by a human jumps once, so with D(t) = humans answered by t and S(t) = agents free by t, the
calls that cannot be served are exactly max_t (D(t) - S(t + patience))^+ (Hall's theorem for nested
deadlines: an agent freed after a call's deadline cannot serve it, and an agent stays with the call it
takes for longer than the horizon). `free_probabilities` and `answer_probabilities` give the jump-time
distributions; `Horizon.abandons(n)` estimates the expectation with n new calls by sampling the jump
times (seeded, common random numbers for every n).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

# Lognormal and LogStats lived here first; other modules import them from here
from dunline.dialer.pacing_stats import Lognormal as Lognormal
from dunline.dialer.pacing_stats import LogStats as LogStats

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NEGLIGIBLE = 1e-3  # an agent less likely than this to be free within the horizon is left out (no supply)
EXACT_CALLS = 40  # above this many ringing calls their answers are drawn as a Poisson count per second


def free_probabilities(
    states: Sequence[str],
    seconds: Sequence[float],
    talk: Lognormal,
    wrap: Lognormal | None,
    times: FloatArray,
) -> FloatArray:
    """P(agent i is free by times[k]) for every agent (ready: 1; wrap_up: its wrap-up ends, conditioned
    on the time already spent; on_call: the rest of its talk plus a whole wrap-up). Rows are made
    non-decreasing. Paused agents are not passed in."""
    n = len(states)
    out = np.zeros((n, times.size))
    if n == 0:
        return out
    st = np.asarray(states)
    el = np.asarray(seconds, dtype=np.float64)
    out[st == "ready"] = 1.0
    wrap_rows = np.flatnonzero(st == "wrap_up")
    if wrap_rows.size:
        if wrap is None:
            out[wrap_rows] = 1.0
        else:
            e = el[wrap_rows][:, None]
            s0 = np.maximum(wrap.survival(e), 1e-300)
            out[wrap_rows] = 1.0 - wrap.survival(e + times[None, :]) / s0
    talk_rows = np.flatnonzero(st == "on_call")
    if talk_rows.size:
        e = el[talk_rows][:, None]
        s0 = np.maximum(talk.survival(e), 1e-300)
        # remaining talk: CDF on a 1 s grid up to the last time, as a probability per 1 s bin
        step = 1.0
        u = np.arange(0.0, float(times[-1]) + step, step)
        rem_cdf = 1.0 - talk.survival(e + u[None, :]) / s0
        pmf = np.diff(np.concatenate([np.zeros((talk_rows.size, 1)), rem_cdf], axis=1), axis=1)
        # a talk ending in bin j (at u_j at the latest) then needs its wrap-up: P(wrap <= t - u_j)
        out[talk_rows] = pmf @ _wrap_done(wrap, times.tobytes(), u.size).T
    np.clip(out, 0.0, 1.0, out=out)
    return np.asarray(np.maximum.accumulate(out, axis=1), dtype=np.float64)


@lru_cache(maxsize=64)
def _wrap_done(wrap: Lognormal | None, times_key: bytes, bins: int) -> FloatArray:
    """P(wrap-up <= t_k - u_j): a talk that ends in 1 s bin j is followed by a whole wrap-up."""
    times = np.frombuffer(times_key, dtype=np.float64)
    lag = times[:, None] - np.arange(float(bins))[None, :]
    if wrap is None:
        return np.asarray((lag >= 0).astype(np.float64))
    return np.asarray(np.where(lag > 0, wrap.cdf(lag), 0.0), dtype=np.float64)


def answer_cdf(delay: Lognormal, max_ring_s: float, times: FloatArray) -> FloatArray:
    """P(answer delay <= t | the call is answered at all), the delay truncated at the ring timeout."""
    top = max(float(delay.cdf(np.array([max_ring_s]))[0]), 1e-12)
    return np.asarray(np.minimum(delay.cdf(times) / top, 1.0), dtype=np.float64)


def answer_probabilities(
    elapsed: Sequence[float],
    p_human: float,
    p_answer: float,
    delay: Lognormal,
    max_ring_s: float,
    times: FloatArray,
) -> FloatArray:
    """P(a call ringing for e seconds is answered by a human within times[k] from now), given it has not
    been answered yet: p_h * (G(e + t) - G(e)) / (1 - p_a * G(e)); an unanswered call rings on until the
    timeout, so a call past the timeout will not be answered."""
    if not elapsed:
        return np.zeros((0, times.size))
    e = np.asarray(elapsed, dtype=np.float64)[:, None]
    k = times.size
    if np.array_equal(times, np.arange(k)) and np.all(e == np.floor(e)):  # whole seconds: one table
        table = _answer_table(delay, max_ring_s, math.ceil(max_ring_s) + k + 1)
        idx = np.minimum(e.astype(np.int64), math.ceil(max_ring_s))
        g_e = table[idx]
        g_et = table[idx + np.arange(k)[None, :]]
    else:
        g_e = answer_cdf(delay, max_ring_s, e.ravel())[:, None]
        g_et = answer_cdf(delay, max_ring_s, (e + times[None, :]).ravel()).reshape(e.shape[0], k)
    still = np.maximum(1.0 - p_answer * g_e, 1e-12)
    probs = p_human * (g_et - g_e) / still
    probs = np.where(e < max_ring_s, probs, 0.0)
    return np.asarray(np.clip(np.maximum.accumulate(probs, axis=1), 0.0, 1.0), dtype=np.float64)


@lru_cache(maxsize=64)
def _answer_table(delay: Lognormal, max_ring_s: float, size: int) -> FloatArray:
    """answer_cdf at 0, 1, 2, ... size - 1 seconds (read only)."""
    table = answer_cdf(delay, max_ring_s, np.arange(float(size)))
    table.setflags(write=False)
    return table


def _first_slots(probs: FloatArray, u: FloatArray) -> IntArray:
    """For rows of non-decreasing CDFs probs (m x K) and uniforms u in (0, 1] (s x m): the first k with
    u <= probs[i, k], or K when there is none (the event does not happen within the horizon)."""
    m, k = probs.shape
    offsets = 2.0 * np.arange(m, dtype=np.float64)
    flat = (probs + offsets[:, None]).ravel()
    idx = np.searchsorted(flat, (u + offsets[None, :]).ravel(), side="left").reshape(u.shape)
    return np.asarray(idx - (np.arange(m) * k)[None, :], dtype=np.int64)


def _cumulative_counts(slots: IntArray, k: int) -> IntArray:
    """slots (s x m) -> counts[s, j] = number of entries of row s with slot <= j, for j < k."""
    s = slots.shape[0]
    if slots.shape[1] == 0:
        return np.zeros((s, k), dtype=np.int64)
    keys = (np.arange(s)[:, None] * (k + 1) + slots).ravel()
    hist = np.bincount(keys, minlength=s * (k + 1)).reshape(s, k + 1)[:, :k]
    return np.asarray(np.cumsum(hist, axis=1), dtype=np.int64)


class Horizon:
    """Sampled scenarios of the next K grid times. S_k counts agents free by the k-th deadline
    (agent_free: agents x K, already shifted by the patience); D_k counts humans answered by t_k among
    the calls waiting now, the ringing ones (call_answer: one row per distinct ringing age, `call_rows`
    gives each call's row) and the new ones (new_answer: K, the same for each). `abandons(n)` is
    E[max_k (D_k - S_k)^+] with n new calls.

    The n-th new call's share is computed exactly over its own answer time, given the scenarios and the
    n - 1 calls before it (sampled, common random numbers): adding one answer at slot j raises the max by
    one exactly when the largest excess from j on is >= 0 and >= the largest excess before j. Sampling
    that call too would make every small marginal risk read 0 or 1/scenarios (a pacer allowed 0.1 % per
    call would then keep adding calls until some scenario showed an abandon); this way abandons(n)
    resolves marginal risks far below 1/scenarios and is non-decreasing in n."""

    def __init__(
        self,
        agent_free: FloatArray,
        call_answer: FloatArray,
        call_rows: IntArray,
        waiting: int,
        new_answer: FloatArray,
        n_max: int,
        rng: np.random.Generator,
        scenarios: int,
    ) -> None:
        k = new_answer.size
        sure = agent_free[:, 0] >= 1.0  # ready agents: free at once in every scenario
        maybe = agent_free[~sure & (agent_free[:, -1] >= NEGLIGIBLE)]
        u_agents = 1.0 - rng.random((scenarios, maybe.shape[0]))
        supply = _cumulative_counts(_first_slots(maybe, u_agents), k) + int(sure.sum())
        per_call = call_answer[call_rows]
        if per_call.shape[0] <= EXACT_CALLS:
            u_calls = 1.0 - rng.random((scenarios, per_call.shape[0]))
            demand = _cumulative_counts(_first_slots(per_call, u_calls), k)
        else:  # many calls, each unlikely in any one second: answers per second are nearly Poisson
            per_second = np.diff(per_call.sum(axis=0), prepend=0.0)
            demand = np.cumsum(rng.poisson(np.maximum(per_second, 0.0), (scenarios, k)), axis=1)
        base = np.asarray(demand + waiting - supply, dtype=np.int64)  # scenarios x K
        self.n_max = max(n_max, 0)
        self.rng = rng
        self.new_answer = new_answer
        self.new_pmf = np.diff(new_answer, prepend=0.0)
        self.grid = np.arange(k)
        self._counts = base
        self._values = [float(np.maximum(base.max(axis=1), 0).mean())]

    def _marginal(self) -> float:
        """Expected abandons one more new call adds to the current counts."""
        c = self._counts
        from_j = np.maximum.accumulate(c[:, ::-1], axis=1)[:, ::-1]
        before_j = np.empty_like(c)
        before_j[:, 0] = np.iinfo(np.int64).min
        before_j[:, 1:] = np.maximum.accumulate(c, axis=1)[:, :-1]
        raises = (from_j >= 0) & (from_j >= before_j)
        return float((raises @ self.new_pmf).mean())

    def abandons(self, n: int) -> float:
        """Expected abandons over the horizon with n new calls (0 <= n <= n_max)."""
        if n > self.n_max:
            raise ValueError(f"{n} new calls: this horizon was drawn for at most {self.n_max}")
        while len(self._values) <= n:
            self._values.append(self._values[-1] + self._marginal())
            u = 1.0 - self.rng.random(self._counts.shape[0])
            slot = np.asarray(np.searchsorted(self.new_answer, u, side="left"), dtype=np.int64)
            self._counts = self._counts + (slot[:, None] <= self.grid[None, :])
        return self._values[n]

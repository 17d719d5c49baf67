"""Distributions and estimates behind the Dunline pacer (pure: math and numpy, no I/O, no clock).

- `Lognormal`: talk, wrap-up and answer-delay times; `LogStats` keeps a running estimate of one from
  observed durations (sums of the logarithms, with a few pseudo-observations of a prior so the first
  calls of a campaign do not swing it, and the durations still running taken as lower bounds).
- `beta_quantile`: the answer rate is uncertain; the pacer reads a conservative quantile of its Beta
  posterior (exact by bisection on the regularised incomplete beta for small counts, the normal
  approximation of the Beta for large ones).
- `poisson_allowance`: the largest expected number of abandons whose Poisson count stays at or below a
  window's allowance with probability 1 - eps (a chance constraint instead of a mean).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

_SQRT2 = math.sqrt(2.0)


def _erfc(x: FloatArray) -> FloatArray:
    """Complementary error function with relative error < 1.2e-7 everywhere (Numerical Recipes' erfcc),
    so tail survivals divided by tail survivals stay accurate."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -1.26551223 + t * (
        1.00002368
        + t
        * (
            0.37409196
            + t
            * (
                0.09678418
                + t
                * (
                    -0.18628806
                    + t
                    * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))
                )
            )
        )
    )
    ans: FloatArray = t * np.exp(-z * z + poly)
    return np.where(x >= 0, ans, 2.0 - ans)


@dataclass(frozen=True, slots=True)
class Lognormal:
    """A positive duration whose logarithm is normal(mu, sigma), in seconds."""

    mu: float
    sigma: float

    @staticmethod
    def from_mean(mean: float, sigma: float) -> Lognormal:
        """The lognormal with this mean and log-sd (mean = exp(mu + sigma^2 / 2))."""
        return Lognormal(math.log(mean) - sigma * sigma / 2.0, sigma)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma * self.sigma / 2.0)

    def survival(self, x: FloatArray) -> FloatArray:
        """P(X > x); 1 for x <= 0."""
        safe = np.maximum(x, 1e-9)
        s = 0.5 * _erfc((np.log(safe) - self.mu) / (self.sigma * _SQRT2))
        return np.where(x > 0, s, 1.0)

    def cdf(self, x: FloatArray) -> FloatArray:
        return 1.0 - self.survival(x)

    def quantile(self, q: float) -> float:
        from statistics import NormalDist

        return math.exp(self.mu + self.sigma * NormalDist().inv_cdf(q))


class LogStats:
    """Running lognormal estimate of durations from the sums of log(x) and log(x)^2 over the completed
    observations plus `weight` pseudo-observations of the prior. `estimate(censored)` also takes the
    durations still running (lower bounds: an agent 200 s into a call will talk at least 200 s), fitted
    by EM for right-censored normal logs; without them the first minutes of a campaign see only the short
    calls and underestimate every talk. Sigma is floored (0.15) so that identical values cannot make the
    pacer certain."""

    def __init__(self, prior: Lognormal, weight: float = 3.0) -> None:
        self.n = weight
        self.s1 = prior.mu * weight
        self.s2 = (prior.sigma * prior.sigma + prior.mu * prior.mu) * weight

    def add(self, x: float) -> None:
        v = math.log(max(x, 0.05))
        self.n += 1.0
        self.s1 += v
        self.s2 += v * v

    def estimate(self, censored: Sequence[float] = (), rounds: int = 6) -> Lognormal:
        mu = self.s1 / self.n
        var = max(self.s2 / self.n - mu * mu, 0.0225)
        logs = [math.log(max(c, 0.05)) for c in censored]
        total = self.n + len(logs)
        for _ in range(rounds if logs else 0):
            sd = math.sqrt(var)
            e1, e2 = 0.0, 0.0
            for c in logs:
                a = (c - mu) / sd
                tail = 0.5 * math.erfc(a / _SQRT2)
                lam = (
                    a + 1.0 / a
                    if tail < 1e-300 or a > 35.0
                    else math.exp(-a * a / 2) / math.sqrt(2 * math.pi) / tail
                )
                m1 = mu + sd * lam
                e1 += m1
                e2 += var * max(1.0 + a * lam - lam * lam, 0.0) + m1 * m1
            mu = (self.s1 + e1) / total
            var = max((self.s2 + e2) / total - mu * mu, 0.0225)
        return Lognormal(mu, math.sqrt(var))


# ---- answer-rate uncertainty -------------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta (modified Lentz), Numerical Recipes 6.4."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-12:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularised incomplete beta I_x(a, b) = P(Beta(a, b) <= x)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


@lru_cache(maxsize=4096)
def _beta_quantile_cached(a: float, b: float, q: float) -> float:
    if a + b > 60.0:
        from statistics import NormalDist

        mean = a / (a + b)
        sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0)))
        return min(1.0, max(0.0, mean + NormalDist().inv_cdf(q) * sd))
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2.0
        if beta_cdf(mid, a, b) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def beta_quantile(a: float, b: float, q: float) -> float:
    """The q-quantile of Beta(a, b) (a, b > 0). For the cache, counts are moved to a multiple of 0.5
    in the direction that raises an upper quantile (a up, b down), and to 0.01 above 60 in all."""
    if a + b > 60.0:
        return _beta_quantile_cached(round(a, 2), round(b, 2), q)
    up, down = (math.ceil, math.floor) if q >= 0.5 else (math.floor, math.ceil)
    return _beta_quantile_cached(max(up(a * 2) / 2, 0.5), max(down(b * 2) / 2, 0.5), q)


# ---- chance constraint on a window ------------------------------------------------------------
def _poisson_cdf(k: int, lam: float) -> float:
    if lam <= 0.0:
        return 1.0
    term = math.exp(-lam)
    total = term
    for i in range(1, k + 1):
        term *= lam / i
        total += term
    return min(1.0, total)


@lru_cache(maxsize=4096)
def poisson_allowance(allowed: int, eps: float) -> float:
    """The largest lam with P(Poisson(lam) <= allowed) >= 1 - eps: how many abandons a window may
    expect when it may hold `allowed` of them. 0 when allowed < 0."""
    if allowed < 0:
        return 0.0
    if allowed > 300:
        from statistics import NormalDist

        z = NormalDist().inv_cdf(1.0 - eps)
        root = (-z + math.sqrt(z * z + 4.0 * (allowed + 0.5))) / 2.0
        return root * root
    lo, hi = 0.0, allowed + 10.0 * math.sqrt(allowed + 1.0) + 10.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        if _poisson_cdf(allowed, mid) >= 1.0 - eps:
            lo = mid
        else:
            hi = mid
    return lo

"""VICIdial's adaptive level and Issabel's predictor (dunline/dialer/baselines.py), pinned on examples
worked by hand from reference/dialer.md."""

from __future__ import annotations

import pytest

from dunline.dialer.baselines import (
    DropStats,
    VicidialAdaptive,
    issabel_about_to_free,
    issabel_calls,
)

QUIET = DropStats()


def vici(level: float, samples: list[tuple[int, int, int]], **kw: object) -> VicidialAdaptive:
    v = VicidialAdaptive(level=level, **kw)  # type: ignore[arg-type]
    for r, w, n in samples:
        v.sample(r, w, n)
    return v


# ---- VICIdial ----------------------------------------------------------------------------------
def test_all_agents_ready_doubles_the_level() -> None:
    # R=10 W=0 N=10: D=10, m=1, L = 1.0 * (1 + 1) = 2.0
    assert vici(1.0, [(10, 0, 10)] * 15).adapt(930, QUIET) == pytest.approx(2.0)


def test_calls_waiting_lower_the_level() -> None:
    # R=2 W=6 N=10: m = -0.4, L = 2.0 * 0.6 = 1.2
    assert vici(2.0, [(2, 6, 10)] * 15).adapt(930, QUIET) == pytest.approx(1.2)


def test_level_is_clamped_between_one_and_max_level() -> None:
    assert vici(2.5, [(10, 0, 10)] * 15).adapt(930, QUIET) == pytest.approx(3.0)
    assert vici(1.1, [(0, 10, 10)] * 15).adapt(930, QUIET) == pytest.approx(1.0)  # L = 0 -> 1.0
    assert vici(2.5, [(10, 0, 10)] * 15, max_level=4.0).adapt(930, QUIET) == pytest.approx(4.0)


def test_intensity_scales_the_change() -> None:
    # m = 0.5, k = 0.2: m' = 0.6, L = 1.5 * 1.6 = 2.4; m = -0.5: m' = -0.4, L = 2.0 * 0.6 = 1.2
    assert vici(1.5, [(5, 0, 10)] * 15, intensity=20).adapt(930, QUIET) == pytest.approx(2.4)
    assert vici(2.0, [(0, 5, 10)] * 15, intensity=20).adapt(930, QUIET) == pytest.approx(1.2)


def test_diff_target_shifts_the_balance() -> None:
    # R=1 W=1: D = 0 + 2 = 2, m = 0.2, L = 1.5 * 1.2 = 1.8
    assert vici(1.5, [(1, 1, 10)] * 15, diff_target=2).adapt(930, QUIET) == pytest.approx(1.8)


def test_samples_are_averaged_over_the_last_fifteen() -> None:
    v = vici(1.0, [(0, 9, 10)] * 10 + [(10, 0, 10)] * 15)  # the first ten fall out
    assert v.averages() == (10.0, 0.0, 10.0)
    v = vici(1.0, [(10, 0, 10)] * 5 + [(0, 0, 10)] * 10)  # R = 50 / 15
    assert v.adapt(930, QUIET) == pytest.approx(1.0 + 50 / 15 / 10)


def test_last_minute_drops_halve_the_level() -> None:
    hot = DropStats(calls_last_minute=30, drops_last_minute=16)  # 53 % > 50 %
    assert vici(2.0, [(5, 5, 10)] * 15).adapt(930, hot) == pytest.approx(1.0)
    assert vici(3.0, [(5, 5, 10)] * 15).adapt(930, hot) == pytest.approx(1.5)
    few = DropStats(calls_last_minute=20, drops_last_minute=16)  # needs more than 20 calls
    assert vici(3.0, [(5, 5, 10)] * 15).adapt(930, few) == pytest.approx(3.0)


OVER_CAP = DropStats(calls_today=51, drops_today=4, answers_today=100)  # 4 % > 3 %


@pytest.mark.parametrize(
    ("method", "now", "expected"),
    [
        ("ADAPT_HARD_LIMIT", 930, 1.0),
        ("ADAPT_AVERAGE", 930, 1.25),
        ("ADAPT_TAPERED", 930, 2.5),  # h = 2100 - 930 = 1170 > 1000: unchanged
        ("ADAPT_TAPERED", 1100, 2.5),  # h = 1000: L * 1000 / 1000
        ("ADAPT_TAPERED", 1530, 2.5 * 570 / 1000),  # HHMM arithmetic: 2100 - 1530 = 570
        ("ADAPT_TAPERED", 2030, 1.0),  # h = 70: 0.175 -> floored at 1.0
        ("ADAPT_TAPERED", 2130, 1.0),  # past the end
    ],
)
def test_drop_cap_methods(method: str, now: int, expected: float) -> None:
    assert vici(2.5, [(5, 5, 10)] * 15, method=method).adapt(now, OVER_CAP) == pytest.approx(expected)


def test_drop_cap_waits_for_fifty_calls() -> None:
    early = DropStats(calls_today=50, drops_today=10, answers_today=20)
    assert vici(2.5, [(5, 5, 10)] * 15, method="ADAPT_HARD_LIMIT").adapt(930, early) == pytest.approx(2.5)
    under = DropStats(calls_today=500, drops_today=3, answers_today=100)  # exactly 3 %: not over
    assert vici(2.5, [(5, 5, 10)] * 15, method="ADAPT_HARD_LIMIT").adapt(930, under) == pytest.approx(2.5)


def test_level_compounds_across_updates() -> None:
    v = vici(1.0, [(10, 0, 10)] * 15)
    assert [round(v.adapt(930, QUIET), 3) for _ in range(3)] == [2.0, 3.0, 3.0]


def test_dial_loop_places_the_shortfall() -> None:
    v = VicidialAdaptive(level=2.4)
    assert v.calls_to_place(agents=10, lines_in_use=20, channels_free=100) == 4  # round(24) - 20
    assert v.calls_to_place(agents=10, lines_in_use=20, channels_free=3) == 3
    assert v.calls_to_place(agents=10, lines_in_use=30, channels_free=100) == 0
    assert v.calls_to_place(agents=0, lines_in_use=0, channels_free=100) == 0
    assert VicidialAdaptive(level=1.25).calls_to_place(agents=2, lines_in_use=0, channels_free=9) == 3


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ValueError, match="ADAPT_FAST"):
        VicidialAdaptive(method="ADAPT_FAST")  # type: ignore[arg-type]


# ---- Issabel -----------------------------------------------------------------------------------
def test_issabel_about_to_free_threshold() -> None:
    # 1 - exp(-(8 + t) / 60) >= 0.97  <=>  t >= 60 * ln(1 / 0.03) - 8 = 202.4 s
    assert issabel_about_to_free([202.0], 60.0, 8.0) == 0
    assert issabel_about_to_free([203.0], 60.0, 8.0) == 1
    assert issabel_about_to_free([203.0, 300.0, 10.0], 60.0, 8.0) == 2


def issabel(**kw: object) -> int:
    """issabel_calls with a quiet campaign as the default: nothing queued or pending, no history."""
    args: dict[str, object] = dict(
        free=0,
        talk_elapsed=[],
        queued=0,
        pending=0,
        completed_calls=0,
        mean_talk=60.0,
        mean_answer_delay=8.0,
        window_calls=0,
        window_answered=0,
    )
    args.update(kw)
    return issabel_calls(**args)  # type: ignore[arg-type]


def test_issabel_calls_divide_by_the_answer_rate() -> None:
    # free 3 + about 1 (250 s) - queued 1 = 3; ASR 10/40 = 0.25: 3 / 0.25 = 12
    busy = dict(free=3, talk_elapsed=[250.0, 10.0], queued=1, window_calls=40, window_answered=10)
    assert issabel(completed_calls=20, **busy) == 12
    # fewer than 10 completed calls: no prediction, (3 - 1) / 0.25 = 8
    assert issabel(completed_calls=9, **busy) == 8


def test_issabel_subtracts_pending_originates_first() -> None:
    assert issabel(free=5, pending=2, window_calls=40, window_answered=20) == 6  # (5 - 2) / 0.5
    assert issabel(free=5, pending=5, window_calls=40, window_answered=20) == 0


def test_issabel_answer_rate_floor_and_window() -> None:
    assert issabel(free=2, window_calls=100, window_answered=5) == 10  # ASR 0.05 -> floor 0.20
    assert issabel(free=2, window_calls=9, window_answered=1) == 2  # under 10 calls: no division
    assert issabel(free=2, window_calls=40, window_answered=0) == 2

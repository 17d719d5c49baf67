"""Fitting the scorecard's points from outcomes (dunline/strategies/fit.py) and `dunline strategy fit`.

The fixture tests/fixtures/strategies/history_sample.csv is `make_history()` below, committed; regenerate it
with `python tests/unit/strategies/test_fit.py`. Its true model: log-odds of paying = 1.0 - 0.03 * days
overdue + a credit_trend effect + an income_stability effect; the other columns are noise.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dunline.controller.cli_fit import add_fit_arguments, cmd_fit
from dunline.strategies.fit import (
    FitError,
    FitResult,
    History,
    HistoryCsvError,
    auc,
    bin_index,
    card_document,
    fit,
    is_test,
    read_history,
)
from dunline.strategies.scorecard import _points, default_card, parse_card

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "fixtures" / "strategies" / "history_sample.csv"
HEADER = (
    "account_id,outcome,days_overdue,prior_overdues,on_time_ratio,credit_score,"
    "credit_trend,income_stability,spending,balance"
)
TREND = {"falling": -0.8, "flat": 0.0, "rising": 0.5}
INCOME = {"stable": 0.6, "variable": 0.0, "unstable": -0.7}


def _pick(u: float, choices: list[tuple[str, float]]) -> str:
    acc = 0.0
    for name, share in choices:
        acc += share
        if u < acc:
            return name
    return choices[-1][0]


def make_history(n: int = 2000, seed: int = 20260501) -> str:
    """Deterministic synthetic history (only `random.Random.random()`, whose stream Python keeps stable)."""
    u = random.Random(seed).random
    lines = [HEADER]
    for i in range(n):
        dpd = int(150 * u() ** 2)
        trend = _pick(u(), [("falling", 0.3), ("flat", 0.4), ("rising", 0.3)])
        income = _pick(u(), [("stable", 0.5), ("variable", 0.3), ("unstable", 0.2)])
        prior = int(5 * u() ** 2)
        ratio = f"{u():.2f}"
        credit = str(500 + int(350 * u()))
        credit = "" if u() < 0.1 else credit
        spending = _pick(u(), [("regular", 0.5), ("irregular", 0.25), ("large_irregular", 0.1), ("", 0.15)])
        balance = f"{50 + 6000 * u() ** 2:.2f}"
        logit = 1.0 - 0.03 * dpd + TREND[trend] + INCOME[income]
        outcome = 1 if u() < 1.0 / (1.0 + math.exp(-logit)) else 0
        account = f"H{i % 1800:04d}"  # the last 200 rows are second windows of earlier accounts
        cells = [account, str(outcome), str(dpd), str(prior), ratio, credit, trend, income, spending, balance]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def history() -> History:
    return read_history(FIXTURE.read_text("utf-8"), default_card(), "history_sample.csv")


@pytest.fixture(scope="module")
def result(history: History) -> FitResult:
    return fit(default_card(), history)


def _points_of(res: FitResult, feature: str) -> dict[str, int]:
    return {c.label: c.new for c in res.changes if c.feature == feature}


def test_fixture_is_the_deterministic_generator_output() -> None:
    assert FIXTURE.read_text("utf-8") == make_history()
    assert make_history(50) == make_history(50)


def test_fit_recovers_the_direction_of_the_true_effects(result: FitResult) -> None:
    dpd = [c.new for c in result.changes if c.feature == "days_overdue"]
    assert len(dpd) == 5
    assert all(a > b for a, b in itertools.pairwise(dpd)), dpd  # more days overdue -> fewer points
    trend = _points_of(result, "credit_trend")
    assert trend["falling"] < trend["flat"] < trend["rising"]
    income = _points_of(result, "income_stability")
    assert income["unstable"] < income["variable"] < income["stable"]
    # the true effect, scaled: falling vs rising is 1.3 log-odds = 1.3 * 20 / ln 2 ~ 37.5 points
    assert 20 <= trend["rising"] - trend["falling"] <= 55
    # noise features end up small next to days overdue
    span = max(dpd) - min(dpd)
    for noise in ("prior_overdues", "on_time_ratio", "credit_score", "spending", "balance"):
        pts = _points_of(result, noise).values()
        assert max(pts) - min(pts) < span / 3, (noise, pts)


def test_held_out_auc_beats_the_bar_and_the_current_card(result: FitResult) -> None:
    assert result.auc_test > 0.65
    assert result.auc_test >= result.auc_current_test - 0.01
    assert result.auc_train > 0.65
    assert result.n_train + result.n_test == 2000
    assert 0.2 < result.n_test / 2000 < 0.4
    assert 0.2 < result.positive_share < 0.8
    assert result.converged


def test_fitted_card_keeps_the_structure(result: FitResult) -> None:
    old, new = default_card(), result.card
    assert new.id == "default-2026-fit"
    assert new.tiers == old.tiers
    assert list(new.features) == list(old.features)
    for name, f in old.features.items():
        g = new.features[name]
        if f.bins is not None:
            assert g.bins is not None
            assert [(b.to, b.reason) for b in g.bins] == [(b.to, b.reason) for b in f.bins]
        else:
            assert f.values is not None and g.values is not None
            assert {k: v.reason for k, v in g.values.items()} == {k: v.reason for k, v in f.values.items()}
    assert new.features["age"] == old.features["age"]  # disabled: untouched
    assert result.card.base == round(600 + result.intercept * 20 / math.log(2))
    # YAML round trip gives the same card
    assert parse_card(yaml.safe_load(yaml.safe_dump(card_document(new), sort_keys=False))) == new


def test_split_is_deterministic_and_by_account(history: History) -> None:
    a = fit(default_card(), history)
    shuffled = list(history.records)
    random.Random(7).shuffle(shuffled)
    b = fit(default_card(), History(tuple(shuffled), history.columns, history.warnings))
    assert (a.n_train, a.n_test, a.card) == (b.n_train, b.n_test, b.card)
    assert a.auc_test == pytest.approx(b.auc_test)
    assert is_test("H0001", 0.3) == is_test("H0001", 0.3)
    side = {r.account_id: is_test(r.account_id, 0.3) for r in history.records}
    assert sum(side.values()) / len(side) == pytest.approx(0.3, abs=0.05)


def test_pdo_scales_the_points(history: History) -> None:
    r20 = fit(default_card(), history, pdo=20)
    r40 = fit(default_card(), history, pdo=40)
    for c20, c40 in zip(r20.changes, r40.changes, strict=True):
        assert abs(c40.new - 2 * c20.new) <= 1
    assert abs((r40.card.base - 600) - 2 * (r20.card.base - 600)) <= 1


def test_sparse_bin_keeps_its_old_points(history: History) -> None:
    kept = tuple(r for r in history.records if float(r.values["days_overdue"] or 0) < 91 or r.row % 40 == 0)
    res = fit(default_card(), History(kept, history.columns, history.warnings))
    last = [c for c in res.changes if c.feature == "days_overdue"][-1]
    assert (last.reason, last.fitted, last.new, last.old) == ("DPD_OVER_90", False, -90, -90)
    assert any("DPD_OVER_90" in w and "keeps its old points -90" in w for w in res.warnings)


def test_bin_index_bins_exactly_like_the_scorecard() -> None:
    card = default_card()
    probes: list[float | str | None] = [None, -1, 0, 14.999, 15, 30, 31, 60.5, 61, 90, 91, 1e9, 0.5, 0.8]
    probes += [579.9, 580, 670, 499.99, 500, 3000, "falling", "flat", "rising", "stable", "sideways"]
    for name, f in card.features.items():
        for v in probes:
            if f.bins is not None and isinstance(v, str):
                continue
            i = bin_index(f, v)
            hit = _points(f, v)
            if i is None:
                assert hit is None
                continue
            level = f.bins[i] if f.bins is not None else list(f.values.values())[i]  # type: ignore[union-attr]
            assert hit == (level.points, level.reason), (name, v)


def test_auc_counts_ties_half() -> None:
    def brute(s: list[float], y: list[int]) -> float:
        pairs = [(a, b) for a, ya in zip(s, y, strict=True) for b, yb in zip(s, y, strict=True) if ya > yb]
        return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs) / len(pairs)

    rng = random.Random(3)
    for _ in range(20):
        s = [float(int(rng.random() * 5)) for _ in range(30)]
        y = [int(rng.random() < 0.5) for _ in range(30)]
        if 0 < sum(y) < 30:
            assert auc(s, y) == pytest.approx(brute(s, y))
    assert auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert auc([5, 5, 5], [0, 1, 1]) == 0.5
    with pytest.raises(FitError):
        auc([1, 2], [1, 1])


BAD_CASES = [
    ("H1,1,10,,,,flat,stable,,\nH2,1,5,,,,flat,stable,,\nH3,2,5,,,,flat,stable,,\n", "row 3, column outcome"),
    ("H1,1,10,,,,flat,stable,,\nH2,0,abc,,,,flat,stable,,\n", "row 2, column days_overdue"),
    ("H1,1,10,,,,sideways,stable,,\n", "row 1, column credit_trend: unknown category 'sideways'"),
    ("H1,1,nan,,,,flat,stable,,\n", "row 1, column days_overdue"),
    (",1,10,,,,flat,stable,,\n", "row 1, column account_id"),
    ("H1,1,10\n", "row 1: has 3 cells"),
]


@pytest.mark.parametrize(("body", "expected"), BAD_CASES)
def test_bad_rows_name_row_and_column(body: str, expected: str) -> None:
    with pytest.raises(HistoryCsvError) as err:
        read_history(HEADER + "\n" + body, default_card(), "h.csv")
    assert expected in str(err.value)
    assert str(err.value).startswith("h.csv: ")


def test_header_problems_and_ignored_columns() -> None:
    with pytest.raises(HistoryCsvError, match=r"row 0, column outcome: missing"):
        read_history("account_id,days_overdue\nH1,3\n", default_card())
    h = read_history("\ufeffAccount_ID,Outcome,age,note\nH1,1,30,x\n\nH2,0,,y\n", default_card())
    assert [r.row for r in h.records] == [1, 3]
    assert h.columns == ()
    assert any("column age" in w and "disabled" in w for w in h.warnings)
    assert any("column note" in w for w in h.warnings)
    with pytest.raises(FitError, match="both 0 and 1"):
        fit(default_card(), read_history("account_id,outcome\nH1,1\nH2,1\n", default_card()))


def _ns(history: Path, **over: object) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_fit_arguments(p)
    args = p.parse_args([str(history)])
    for k, v in over.items():
        setattr(args, k, v)
    return args


def test_cli_json_and_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fitted.yaml"
    assert cmd_fit(_ns(FIXTURE, json=True, out=str(out))) == 0
    doc = json.loads(capsys.readouterr().out)
    for key in ("auc_train", "auc_test", "auc_current_test", "n_train", "n_test", "card", "warnings"):
        assert key in doc
    assert doc["auc_test"] > 0.65
    written = parse_card(yaml.safe_load(out.read_text("utf-8")))
    assert card_document(written) == doc["card"]


def test_cli_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_fit(_ns(FIXTURE)) == 0
    text = capsys.readouterr().out
    assert "AUC: fitted" in text and "current card" in text
    assert "DPD_OVER_90" in text and "->" in text


def test_cli_bad_csv_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "\nH1,yes,10,,,,flat,stable,,\n", "utf-8")
    assert cmd_fit(_ns(bad)) == 2
    err = capsys.readouterr().err
    assert "row 1, column outcome" in err and "nothing fitted" in err
    assert cmd_fit(_ns(tmp_path / "missing.csv")) == 2
    assert cmd_fit(_ns(FIXTURE, test_share=1.5)) == 2


def test_cli_custom_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = card_document(default_card())
    doc["features"] = {k: v for k, v in doc["features"].items() if k in ("days_overdue", "credit_trend")}
    card = tmp_path / "card.yaml"
    card.write_text(yaml.safe_dump(doc), "utf-8")
    assert cmd_fit(_ns(FIXTURE, card=str(card), json=True)) == 0
    assert set(json.loads(capsys.readouterr().out)["card"]["features"]) == {"days_overdue", "credit_trend"}
    card.write_text("id: x\nbase: [", "utf-8")
    assert cmd_fit(_ns(FIXTURE, card=str(card))) == 2


def test_cli_subprocess() -> None:
    code = (
        "import argparse, sys\n"
        "from dunline.controller.cli_fit import add_fit_arguments, cmd_fit\n"
        "p = argparse.ArgumentParser(); add_fit_arguments(p)\n"
        "sys.exit(cmd_fit(p.parse_args(sys.argv[1:])))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(FIXTURE), "--json", "--test-share", "0.3"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["n_train"] + doc["n_test"] == 2000


if __name__ == "__main__":
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(make_history(), "utf-8")
    print(f"wrote {FIXTURE}")

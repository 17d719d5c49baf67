"""Fit a scorecard's points from past outcomes (pure; numpy only): `dunline strategy fit HISTORY.csv`.

HISTORY.csv: UTF-8 (a BOM is allowed), comma-separated, one header row (names case-insensitive, any order):
  account_id  required, non-empty; every row of one account lands on the same side of the split
  outcome     required; 1 = paid / cured within the observation window (a "good"), 0 = not
  features    any of the scorecard's feature names (days_overdue, prior_overdues, on_time_ratio,
              credit_score, credit_trend, income_stability, spending, balance, age): a plain number for
              a feature with `bins`, one of the card's `values` (exact spelling) for a categorical one;
              an empty cell = unknown
Columns of features the card disables or lacks, and any other columns, are ignored (with a warning).
Row numbers: row 0 is the header; data rows are numbered 1, 2, ... in the order the CSV reader yields
records (a blank line counts and is skipped), so row N is line N+1 of a file without multi-line cells.
A bad cell (outcome not 0/1, a non-numeric or non-finite number, a category the card does not list, an
empty account_id) fails the whole file: `HistoryCsvError` lists every one as `row N, column C: ...` and
nothing is fitted.

Method (`fit`):
1. Encoding: each row becomes one-hot indicators, one per bin / value of each enabled feature, the bin
   chosen exactly as `scorecard.score` chooses it (numeric: the first bin whose `to` exceeds the value,
   the open last bin otherwise; categorical: exact match). Unknown -> no indicator (the reference).
2. Split: an account is held out when sha256(account_id), its first 8 bytes read as a fraction of 2**64,
   falls below `test_share` (default 0.3): stable across runs, machines and row order.
3. Model: L2-regularised logistic regression of outcome = 1 on the indicators (the intercept is not
   penalised), Newton / IRLS for at most `max_iter` steps, stopping once no coefficient moves by more than
   `tol`. A bin seen in fewer than `min_bin_rows` (20) training rows is left out of the model and keeps
   its old points (with a warning).
4. Scaling (the standard "points to double the odds"): score = even_odds_score + PDO / ln 2 * ln(odds of
   a good). Hence each bin's points = round(coefficient * PDO / ln 2) and the new base =
   round(even_odds_score + intercept * PDO / ln 2); defaults PDO 20 and even_odds_score 600: a score of
   600 means even odds of paying, 620 twice those odds, 580 half. A fitted feature's `unknown` becomes 0
   (the model's reference). Bins, reasons, tiers and disabled features are kept as they are; the id gets
   a `-fit` suffix. The tiers are not refitted: check the score distribution before using the card.
5. Discrimination: AUC (Mann-Whitney U, ties counted half) of the fitted card's integer scores on the
   training and held-out rows, and of the current card's scores on the same held-out rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from dunline.strategies.scorecard import FEATURES, Card, Feature, parse_card

Value = float | str | None
FloatArray = npt.NDArray[np.float64]

ID, OUTCOME = "account_id", "outcome"
MAX_SHOWN = 20  # problems spelled out in a HistoryCsvError message


class HistoryCsvError(ValueError):
    """A history file that cannot be used; `problems` holds every `row N, column C: ...` found."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        shown = "; ".join(self.problems[:MAX_SHOWN])
        more = len(self.problems) - MAX_SHOWN
        super().__init__(f"{source}: {shown}" + (f"; ... and {more} more" if more > 0 else ""))


class FitError(ValueError):
    """The history cannot support a fit (one outcome only on a side of the split, bad settings, ...)."""


@dataclass(frozen=True)
class Record:
    row: int  # data-row number in the file (see the module docstring)
    account_id: str
    outcome: int  # 1 = paid / cured
    values: Mapping[str, Value]  # enabled feature -> value, None where unknown


@dataclass(frozen=True)
class History:
    records: tuple[Record, ...]
    columns: tuple[str, ...]  # the card's enabled features that the file has a column for
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class BinChange:
    feature: str
    label: str  # "< 15", "[15, 31)", ">= 91", or the category
    reason: str
    old: int
    new: int
    rows: int  # training rows in the bin
    fitted: bool  # False: kept its old points (too few rows, or no column)

    def as_json(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "bin": self.label,
            "reason": self.reason,
            "old": self.old,
            "new": self.new,
            "rows": self.rows,
            "fitted": self.fitted,
        }


@dataclass(frozen=True)
class FitResult:
    card: Card  # the fitted card: the input's structure with new points and base
    old_base: int
    auc_train: float  # fitted card, training rows
    auc_test: float  # fitted card, held-out rows
    auc_current_test: float  # the input card, the same held-out rows
    n_train: int
    n_test: int
    positive_share: float  # share of outcome = 1 over all rows
    intercept: float  # the model's log-odds intercept (before scaling)
    iterations: int
    converged: bool
    changes: tuple[BinChange, ...]
    warnings: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "auc_train": round(self.auc_train, 4),
            "auc_test": round(self.auc_test, 4),
            "auc_current_test": round(self.auc_current_test, 4),
            "n_train": self.n_train,
            "n_test": self.n_test,
            "positive_share": round(self.positive_share, 4),
            "base": {"old": self.old_base, "new": self.card.base},
            "changes": [c.as_json() for c in self.changes],
            "card": card_document(self.card),
            "warnings": list(self.warnings),
        }


def card_document(card: Card) -> dict[str, Any]:
    """The card as plain data (YAML/JSON-ready) that `parse_card` reads back to an equal card."""
    return card.model_dump(mode="json")


# --- reading -------------------------------------------------------------------------------------


def _number(raw: str) -> float:
    v = float(raw)  # ValueError on non-numbers
    if not math.isfinite(v):
        raise ValueError("not finite")
    return v


def read_history(text: str, card: Card, source: str = "history") -> History:
    """Parse and check HISTORY.csv text against `card`; raises HistoryCsvError listing every bad cell."""
    if "\x00" in text:
        raise HistoryCsvError(source, ["row 0: is a binary file, not CSV text"])
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    problems: list[str] = []
    warnings: list[str] = []
    records: list[Record] = []
    try:
        header = next(reader, None)
        if header is None:
            raise HistoryCsvError(source, ["row 0: the file is empty; expected a header row"])
        names = [h.strip().lower() for h in header]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"row 0, column {name or '(empty)'}: appears more than once in the header")
        for name in (ID, OUTCOME):
            if name not in names:
                problems.append(f"row 0, column {name}: missing from the header")
        if problems:
            raise HistoryCsvError(source, problems)
        used: dict[str, int] = {}
        for j, name in enumerate(names):
            if name in (ID, OUTCOME):
                continue
            f = card.features.get(name)
            if f is not None and f.enabled:
                used[name] = j
            elif f is not None:
                warnings.append(f"column {name}: the feature is disabled in card {card.id!r}; ignored")
            elif name in FEATURES:
                warnings.append(f"column {name}: card {card.id!r} has no such feature; ignored")
            else:
                warnings.append(f"column {name or '(empty)'}: not a scorecard feature; ignored")
        i_id, i_out = names.index(ID), names.index(OUTCOME)
        for number, cells in enumerate(reader, start=1):
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(names):
                problems.append(f"row {number}: has {len(cells)} cells, the header has {len(names)}")
                continue
            bad = len(problems)
            account = cells[i_id].strip()
            if not account:
                problems.append(f"row {number}, column {ID}: is empty")
            raw_out = cells[i_out].strip()
            if raw_out not in ("0", "1"):
                problems.append(f"row {number}, column {OUTCOME}: {raw_out!r} is not 0 or 1")
            values: dict[str, Value] = {}
            for name, j in used.items():
                raw = cells[j].strip()
                f = card.features[name]
                if not raw:
                    values[name] = None
                elif f.values is not None:
                    if raw in f.values:
                        values[name] = raw
                    else:
                        known = ", ".join(f.values)
                        problems.append(
                            f"row {number}, column {name}: unknown category {raw!r} (expected one of {known})"
                        )
                else:
                    try:
                        values[name] = _number(raw)
                    except ValueError:
                        problems.append(f"row {number}, column {name}: {raw!r} is not a finite number")
            if len(problems) == bad:
                records.append(Record(number, account, int(raw_out), values))
    except csv.Error as exc:
        problems.append(f"row {reader.line_num}: not valid CSV: {exc}")
    if problems:
        raise HistoryCsvError(source, problems)
    return History(tuple(records), tuple(used), tuple(warnings))


# --- encoding, split, model, AUC -------------------------------------------------------------------


def bin_index(f: Feature, value: Value) -> int | None:
    """The index of the bin / value `value` falls in (as `scorecard.score` bins it); None if unknown."""
    if value is None:
        return None
    if f.values is not None:
        key = str(value)
        return list(f.values).index(key) if key in f.values else None
    assert f.bins is not None
    v = float(value)
    for i, b in enumerate(f.bins):
        if b.to is None or v < b.to:
            return i
    return None


def _levels(f: Feature) -> list[tuple[str, int, str]]:
    """(label, points, reason) per bin / value, in the card's order."""
    if f.values is not None:
        return [(k, lv.points, lv.reason) for k, lv in f.values.items()]
    assert f.bins is not None
    out: list[tuple[str, int, str]] = []
    lo: float | None = None
    for b in f.bins:
        if lo is None and b.to is not None:
            label = f"< {b.to:g}"
        elif b.to is None:
            label = f">= {lo:g}" if lo is not None else "any"
        else:
            label = f"[{lo:g}, {b.to:g})"
        out.append((label, b.points, b.reason))
        lo = b.to
    return out


def card_scores(card: Card, records: Sequence[Record]) -> FloatArray:
    """Each record's score under `card` (base + each enabled feature's bin points, `unknown` if unknown)."""
    out = np.full(len(records), float(card.base))
    for name, f in card.features.items():
        if not f.enabled:
            continue
        points = [p for _, p, _ in _levels(f)]
        for r, rec in enumerate(records):
            i = bin_index(f, rec.values.get(name))
            out[r] += f.unknown if i is None else points[i]
    return out


def is_test(account_id: str, test_share: float) -> bool:
    """Whether the account is held out: a stable hash of its id, independent of the file's row order."""
    h = int.from_bytes(hashlib.sha256(account_id.encode("utf-8")).digest()[:8], "big")
    return h / 2**64 < test_share


def auc(scores: Sequence[float] | FloatArray, outcomes: Sequence[int] | npt.NDArray[Any]) -> float:
    """P(score of a random 1 > score of a random 0), ties counted half (Mann-Whitney U / n1 n0)."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(outcomes).astype(bool)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise FitError("AUC needs both outcomes (0 and 1)")
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    average_rank = ends - (counts - 1) / 2.0  # 1-based ranks, ties get their mean rank
    ranks = average_rank[inverse.reshape(-1)]
    u = float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def _logistic(
    x: FloatArray, y: FloatArray, l2: float, max_iter: int, tol: float
) -> tuple[FloatArray, int, bool]:
    """Newton / IRLS for ridge logistic regression; column 0 is the (unpenalised) intercept."""
    k = x.shape[1]
    penalty = np.full(k, l2)
    penalty[0] = 0.0
    beta = np.zeros(k)
    share = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    beta[0] = math.log(share / (1 - share))
    for it in range(1, max_iter + 1):
        p = 0.5 * (1.0 + np.tanh(0.5 * (x @ beta)))  # the logistic function, overflow-free
        w = np.clip(p * (1.0 - p), 1e-12, None)
        grad = x.T @ (y - p) - penalty * beta
        hess = (x.T * w) @ x + np.diag(penalty)
        step = np.asarray(np.linalg.solve(hess, grad), dtype=np.float64)
        beta = beta + step
        if float(np.max(np.abs(step))) < tol:
            return beta, it, True
    return beta, max_iter, False


def fit(
    card: Card,
    history: History,
    *,
    test_share: float = 0.3,
    pdo: float = 20.0,
    even_odds_score: int = 600,
    l2: float = 1.0,
    min_bin_rows: int = 20,
    max_iter: int = 50,
    tol: float = 1e-8,
) -> FitResult:
    """Refit `card`'s points on `history` (see the module docstring); raises FitError if it cannot."""
    if not 0.0 < test_share < 1.0:
        raise FitError(f"test share {test_share} must be between 0 and 1 (exclusive)")
    if not pdo > 0:
        raise FitError(f"points to double the odds {pdo} must be positive")
    if not l2 > 0:
        raise FitError(f"the L2 penalty {l2} must be positive")
    records = history.records
    test_mask = np.array([is_test(r.account_id, test_share) for r in records], dtype=bool)
    y_all = np.array([r.outcome for r in records], dtype=np.float64)
    for side, mask in (("training", ~test_mask), ("held-out", test_mask)):
        got = sorted({int(v) for v in y_all[mask]})
        if got != [0, 1]:
            have = f"only outcome {got[0]}" if got else "no rows"
            raise FitError(f"the {side} rows have {have} ({int(mask.sum())} rows); a fit needs both 0 and 1")

    # one-hot slots: (feature, level index) for every level of every enabled feature with a column
    slots = [
        (name, i)
        for name, f in card.features.items()
        if f.enabled and name in history.columns
        for i in range(len(_levels(f)))
    ]
    slot_of = {s: c for c, s in enumerate(slots)}
    z = np.zeros((len(records), len(slots)))
    for name in history.columns:
        f = card.features[name]
        for r, rec in enumerate(records):
            i = bin_index(f, rec.values.get(name))
            if i is not None:
                z[r, slot_of[name, i]] = 1.0
    train_rows = z[~test_mask].sum(axis=0).astype(int)
    active = train_rows >= min_bin_rows
    x = np.hstack([np.ones((len(records), 1)), z[:, active]])
    beta, iterations, converged = _logistic(x[~test_mask], y_all[~test_mask], l2, max_iter, tol)
    coef = np.zeros(len(slots))
    coef[active] = beta[1:]
    scale = pdo / math.log(2.0)

    warnings = list(history.warnings)
    if not converged:
        warnings.append(f"the fit did not converge in {max_iter} iterations; points are approximate")
    doc = card_document(card)
    doc["id"] = card.id if card.id.endswith("-fit") else f"{card.id}-fit"
    doc["base"] = round(even_odds_score + float(beta[0]) * scale)
    changes: list[BinChange] = []
    for name, f in card.features.items():
        if not f.enabled:
            continue
        levels = _levels(f)
        if name not in history.columns:
            warnings.append(f"feature {name}: no column in the history; its points are kept")
            changes.extend(BinChange(name, lb, rs, p, p, 0, False) for lb, p, rs in levels)
            continue
        fdoc = doc["features"][name]
        entries = fdoc["bins"] if f.bins is not None else [fdoc["values"][k] for k in fdoc["values"]]
        fitted_any = False
        for i, (label, old, reason) in enumerate(levels):
            c = slot_of[name, i]
            rows = int(train_rows[c])
            if active[c]:
                new, fitted_any = round(float(coef[c]) * scale), True
            else:
                new = old
                warnings.append(
                    f"feature {name} {label} ({reason}): {rows} training rows (< {min_bin_rows}); "
                    f"keeps its old points {old}"
                )
            entries[i]["points"] = new
            changes.append(BinChange(name, label, reason, old, new, rows, bool(active[c])))
        if fitted_any:
            if f.unknown != 0:
                warnings.append(
                    f"feature {name}: unknown now scores 0 (was {f.unknown}), the fit's reference"
                )
            fdoc["unknown"] = 0
    fitted = parse_card(doc, "fitted card")

    train = [r for r, t in zip(records, test_mask, strict=True) if not t]
    test = [r for r, t in zip(records, test_mask, strict=True) if t]
    y_train, y_test = y_all[~test_mask], y_all[test_mask]
    return FitResult(
        card=fitted,
        old_base=card.base,
        auc_train=auc(card_scores(fitted, train), y_train),
        auc_test=auc(card_scores(fitted, test), y_test),
        auc_current_test=auc(card_scores(card, test), y_test),
        n_train=len(train),
        n_test=len(test),
        positive_share=float(y_all.mean()),
        intercept=float(beta[0]),
        iterations=iterations,
        converged=converged,
        changes=tuple(changes),
        warnings=tuple(warnings),
    )

"""`dunline strategy fit HISTORY.csv [--card CARD.yaml] [--out FITTED.yaml] [--test-share 0.3] [--pdo 20]
[--json]`: refit the scorecard's points from past outcomes by logistic regression and report their
discrimination (AUC) on held-out accounts next to the current card's (dunline/strategies/fit.py: the CSV
format, the split, the scaling rule).

Text: the AUCs, then each bin's points old -> new, then warnings. `--json`: one document
`{"auc_train","auc_test","auc_current_test","n_train","n_test","positive_share","base","changes","card",
"warnings"}`. `--out` writes the fitted card as YAML (the scorecard.yaml shape). Exit 0 after a fit, 2 on a
bad CSV, card or argument (the error names the row and column), or when the card cannot be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dunline.strategies.fit import FitResult
    from dunline.strategies.scorecard import Card

EXIT_OK, EXIT_INPUT = 0, 2


def add_fit_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("history", help="HISTORY.csv: account_id, outcome (1 = paid/cured, 0 = not), features")
    p.add_argument("--card", help="the card to refit, YAML (default: the built-in scorecard)")
    p.add_argument("--out", help="write the fitted card here as YAML")
    p.add_argument(
        "--test-share",
        type=float,
        default=0.3,
        help="share of accounts held out to measure AUC (default 0.3)",
    )
    p.add_argument("--pdo", type=float, default=20.0, help="points to double the odds of paying (default 20)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(fn=cmd_fit)


def _load_card(path: str | None) -> Card:
    import yaml

    from dunline.strategies.scorecard import default_card, parse_card

    if not path:
        return default_card()
    try:
        raw = yaml.safe_load(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not YAML: {exc}") from None
    return parse_card(raw, path)


def _report(result: FitResult, out: str | None) -> None:
    print(
        f"history: {result.n_train + result.n_test} rows, {result.n_train} training / "
        f"{result.n_test} held out (by account); {result.positive_share:.1%} paid or cured"
    )
    print(
        f"AUC: fitted {result.auc_train:.3f} training, {result.auc_test:.3f} held out; "
        f"current card {result.auc_current_test:.3f} held out"
    )
    print(f"card {result.card.id}: base {result.old_base} -> {result.card.base}")
    feature = ""
    for c in result.changes:
        if c.feature != feature:
            feature = c.feature
            print(f"  {feature}")
        note = "" if c.fitted else "  (kept)"
        print(f"    {c.label:<16} {c.reason:<26} {c.old:>5} -> {c.new:>5}  {c.rows:>6} rows{note}")
    if result.warnings:
        print("warnings:")
        for w in result.warnings:
            print(f"  - {w}")
    if not result.converged:
        print("the fit did not converge; see warnings")
    if out:
        print(f"wrote the fitted card to {out}")


def cmd_fit(args: argparse.Namespace) -> int:
    import yaml

    from dunline.strategies.fit import FitError, HistoryCsvError, card_document, fit, read_history
    from dunline.strategies.scorecard import ScorecardError

    test_share = float(getattr(args, "test_share", 0.3))
    pdo = float(getattr(args, "pdo", 20.0))
    out: str | None = getattr(args, "out", None)
    try:
        if not 0.0 < test_share < 1.0:
            raise ValueError(f"--test-share {test_share} must be between 0 and 1 (exclusive)")
        if not pdo > 0:
            raise ValueError(f"--pdo {pdo} must be positive")
        card = _load_card(getattr(args, "card", None))
        try:
            text = Path(args.history).read_bytes().decode("utf-8")
        except OSError as exc:
            raise ValueError(f"{args.history}: {exc.strerror or exc}") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"{args.history}: not UTF-8 text (bad byte at offset {exc.start})") from None
        history = read_history(text, card, args.history)
        result = fit(card, history, test_share=test_share, pdo=pdo)
    except HistoryCsvError as exc:
        print(f"error: {exc.source}: {len(exc.problems)} problem(s); nothing fitted", file=sys.stderr)
        for problem in exc.problems[:50]:
            print(f"  {problem}", file=sys.stderr)
        if len(exc.problems) > 50:
            print(f"  ... and {len(exc.problems) - 50} more", file=sys.stderr)
        return EXIT_INPUT
    except (ValueError, ScorecardError, FitError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    if out:
        try:
            text = yaml.safe_dump(card_document(result.card), sort_keys=False, allow_unicode=True)
            Path(out).write_text(text, "utf-8")
        except OSError as exc:
            print(f"error: {out}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_INPUT
    if getattr(args, "json", False):
        print(json.dumps(result.as_json(), ensure_ascii=False))
    else:
        _report(result, out)
    return EXIT_OK

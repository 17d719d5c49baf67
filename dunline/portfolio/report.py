"""Command-line pieces for portfolio import: the error report and `import_file`.

`import_file` validates the whole file first and raises `PortfolioInvalid` without touching the
database when any row is bad; only a clean file reaches `dunline.store.accounts.import_portfolio`
(one transaction). A rich progress bar (on stderr) is shown for files over 1000 rows when asked.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dunline.portfolio.csv_schema import FILE, RowError, parse_portfolio
from dunline.portfolio.json_form import parse_accounts_json
from dunline.store.accounts import ImportSummary, import_portfolio

PROGRESS_MIN_ROWS = 1000


class PortfolioInvalid(Exception):
    """The file has errors; nothing was imported. `errors` lists them all; `json` says which form."""

    def __init__(self, errors: Sequence[RowError], *, json: bool = False) -> None:
        self.errors = list(errors)
        self.json = json
        rows = {e.row for e in self.errors}
        unit = "documents" if json else "rows"
        count = f"{len(self.errors)} errors in {len(rows)} {unit}"
        super().__init__(f"portfolio has {count}; nothing was imported")


def format_errors(errors: Sequence[RowError], *, json: bool = False) -> str:
    """One line per error, e.g. `row 7, column phone: '***0123' is not a valid number for region US`
    (CSV) or `document 2, field loan.due_date: is required to store an account` (JSON).

    Row 0 is the header/the whole file; data rows and documents count from 1 (see csv_schema).
    """
    unit, col = ("document", "field") if json else ("row", "column")
    lines = []
    for e in errors:
        value = f"{e.value_masked!r} " if e.value_masked else ""
        lines.append(f"{unit} {e.row}, {col} {e.column}: {value}{e.reason}")
    return "\n".join(lines)


@contextmanager
def _progress(enabled: bool, rows: int) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """(on_validated_row, on_stored_row) callbacks; no-ops unless a bar is shown."""
    if not enabled or rows <= PROGRESS_MIN_ROWS:
        yield (lambda _n: None), (lambda _n: None)
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        check = bar.add_task("validating", total=rows)
        store = bar.add_task("importing", total=rows)

        def on_check(n: int) -> None:
            if n % 100 == 0 or n == rows:
                bar.update(check, completed=n)

        def on_store(n: int) -> None:
            if n % 100 == 0 or n == rows:
                bar.update(store, completed=n)

        yield on_check, on_store


async def import_file(
    pool: Any,
    path: Path | str,
    *,
    default_region: str = "US",
    progress: bool = False,
    upsert: bool = False,
    actor: str = "cli",
) -> ImportSummary:
    """Validate `path` (CSV, or the JSON form when it ends in .json) and import it in one transaction.

    Raises PortfolioInvalid (database untouched) when the file cannot be read or any row is bad, and
    dunline.store.db.StoreError when the database refuses the data (nothing stored then either).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PortfolioInvalid([RowError(0, FILE, "", f"cannot be read: {exc.strerror or exc}")]) from exc
    if path.suffix.lower() == ".json":
        try:
            parsed = parse_accounts_json(data.decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise PortfolioInvalid([RowError(0, FILE, "", f"is not UTF-8 text: {exc}")], json=True) from exc
        if parsed.errors or not parsed.rows:
            raise PortfolioInvalid(parsed.errors or [RowError(0, FILE, "", "has no documents")], json=True)
        return await import_portfolio(pool, parsed.rows, upsert=upsert, actor=actor, source=path.name)
    approx_rows = max(data.count(b"\n") - 1, 0)
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    with _progress(progress, approx_rows) as (on_check, on_store):
        parsed = parse_portfolio(stream, default_region=default_region, on_row=on_check)
        if parsed.errors:
            raise PortfolioInvalid(parsed.errors)
        if not parsed.rows:
            raise PortfolioInvalid([RowError(0, FILE, "", "has no data rows")])
        return await import_portfolio(
            pool, parsed.rows, upsert=upsert, actor=actor, source=path.name, on_progress=on_store
        )

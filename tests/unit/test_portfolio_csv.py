"""Portfolio CSV validation: each check both ways, masking, duplicates, CSV round trip."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunline.portfolio.csv_schema import ALL_COLUMNS, AccountRow, PhoneEntry, RowError, parse_portfolio
from dunline.portfolio.report import format_errors

GOOD = {
    "external_id": "D-1",
    "account_ref": "A-1",
    "full_name": "Maria Gonzalez",
    "phone": "+14155550101",
    "principal": "100.00",
    "balance": "120.50",
    "due_date": "2026-10-01",
}
BAD_FILE = Path(__file__).parents[1] / "fixtures" / "portfolio_bad.csv"


def to_csv(rows: list[dict[str, str]], columns: list[str] | None = None) -> io.StringIO:
    out = io.StringIO()
    cols = columns or sorted({k for r in rows for k in r} | set(GOOD), key=list(ALL_COLUMNS).index)
    w = csv.DictWriter(out, fieldnames=cols, restval="", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    out.seek(0)
    return out


def parse_one(**overrides: str) -> tuple[AccountRow | None, list[RowError]]:
    result = parse_portfolio(to_csv([{**GOOD, **overrides}]))
    return (result.rows[0] if result.rows else None), result.errors


def reasons(errors: list[RowError], column: str) -> list[str]:
    return [e.reason for e in errors if e.column == column]


def test_good_row_with_defaults() -> None:
    row, errors = parse_one()
    assert errors == []
    assert row == AccountRow(
        external_id="D-1",
        account_ref="A-1",
        full_name="Maria Gonzalez",
        phones=(PhoneEntry("+14155550101", "mobile", False),),
        principal=Decimal("100.00"),
        balance=Decimal("120.50"),  # balance above principal is fine (interest)
        due_date=date(2026, 10, 1),
        row=1,
    )
    assert row.currency == "USD" and row.language == "en" and row.country == "US"


def test_sample_portfolio_is_valid() -> None:
    text = files("dunline.portfolio").joinpath("sample_portfolio.csv").read_text()
    result = parse_portfolio(io.StringIO(text))
    assert result.errors == []
    assert len(result.rows) == 9
    assert [r.phones[0].number_e164 for r in result.rows[:6]] == [f"+1415555010{i}" for i in range(1, 7)]
    assert [r.language for r in result.rows[6:]] == ["en", "zh", "zh"]


@pytest.mark.parametrize(
    ("column", "good", "bad", "reason"),
    [
        ("phone", "(415) 555-0101", "+1415555012", "is not a valid number for region US"),
        ("phone_type", "landline", "pager", "is not a phone type"),
        ("phone_consent", "Yes", "maybe", "is not a yes/no value"),
        ("currency", "eur", "XYZ", "ISO 4217"),
        ("principal", "0", "-5.00", "is negative"),
        ("balance", "1200.5", "1,200.50", "thousands separator"),
        ("balance", "7", "100.125", "more than 2 decimal places"),
        ("balance", "7.10", "$7.10", "is not an amount"),
        ("balance", "7.10", "1e3", "is not an amount"),
        ("due_date", "2027-12-31", "10/01/2026", "YYYY-MM-DD"),
        ("due_date", "2024-02-29", "2026-02-30", "not a real calendar date"),
        ("opened_on", "2020-01-01", "2020-13-01", "not a real calendar date"),
        ("language", "ZH", "fr", "is not a supported language"),
        ("timezone", "Asia/Shanghai", "Mars/Olympus", "IANA time zone"),
        ("country", "ca", "ZZ", "ISO 3166"),
        ("full_name", "李伟", "", "must not be empty"),
        ("external_id", "X-9", "", "must not be empty"),
        ("national_id", "123-45-6789", "12", "too short"),
    ],
)
def test_field_checks(column: str, good: str, bad: str, reason: str) -> None:
    row, errors = parse_one(**{column: good})
    assert errors == [], errors
    assert row is not None
    row, errors = parse_one(**{column: bad})
    assert row is None
    assert len(errors) == 1 and errors[0].column == column and errors[0].row == 1
    assert reason in errors[0].reason


def test_normalisation() -> None:
    row, errors = parse_one(phone="(415) 555-0101", principal="250", currency="eur", country="ca", phone2="")
    assert errors == [] and row is not None
    assert row.phones[0].number_e164 == "+14155550101"
    assert row.principal == Decimal("250.00") and str(row.principal) == "250.00"
    assert (row.currency, row.country) == ("EUR", "CA")


def test_national_number_read_in_row_country() -> None:
    row, errors = parse_one(phone="138 0013 8001", country="CN", language="zh")
    assert errors == [] and row is not None and row.phones[0].number_e164 == "+8613800138001"
    _, errors = parse_one(phone="138 0013 8001")  # read in US: invalid
    assert reasons(errors, "phone") == ["is not a valid number for region US"]


def test_default_region_applies() -> None:
    result = parse_portfolio(to_csv([{**GOOD, "phone": "13800138001"}]), default_region="CN")
    assert result.errors == [] and result.rows[0].country == "CN"
    with pytest.raises(ValueError):
        parse_portfolio(to_csv([GOOD]), default_region="XX")


def test_second_phone() -> None:
    row, errors = parse_one(phone2="+14155550112", phone2_type="work", phone2_consent="1")
    assert errors == [] and row is not None
    assert row.phones[1] == PhoneEntry("+14155550112", "work", True)
    _, errors = parse_one(phone2="415-555-0101")
    assert reasons(errors, "phone2") == ["is the same as phone"]
    _, errors = parse_one(phone2_type="work")
    assert reasons(errors, "phone2_type") == ["is given without phone2"]


def test_national_id_masked_and_never_printed() -> None:
    row, _ = parse_one(national_id="123-45-6789")
    assert row is not None and row.national_id_masked == "***6789"
    assert "123-45" not in repr(row)
    _, errors = parse_one(national_id="12", phone="+1415555012")
    text = format_errors(errors) + repr(errors)
    assert "12'" not in text.replace("***5012", "") and "'***'" in text
    assert "1415555" not in text and "'***5012'" in text


def test_every_error_of_every_row_is_collected() -> None:
    rows = [
        {**GOOD, "phone": "123", "balance": "-1", "due_date": "x"},
        {**GOOD, "external_id": "D-2", "account_ref": "A-2"},
        {**GOOD, "external_id": "D-3", "account_ref": "A-3", "full_name": " "},
    ]
    errors = parse_portfolio(to_csv(rows)).errors
    assert [(e.row, e.column) for e in errors] == [
        (1, "phone"),
        (1, "balance"),
        (1, "due_date"),
        (3, "full_name"),
    ]


def test_duplicates_inside_file() -> None:
    rows = [
        GOOD,
        {**GOOD, "account_ref": "A-2"},
        {**GOOD, "external_id": "D-3"},
        {**GOOD, "external_id": "D-4", "account_ref": "A-4"},
    ]
    result = parse_portfolio(to_csv(rows))
    assert [(e.row, e.column, e.reason) for e in result.errors] == [
        (2, "external_id", "is a duplicate of row 1 (must be unique in the file)"),
        (3, "account_ref", "is a duplicate of row 1 (must be unique in the file)"),
    ]
    assert [r.external_id for r in result.rows] == ["D-1", "D-4"]


def test_header_checks() -> None:
    missing = parse_portfolio(
        io.StringIO("external_id,account_ref,full_name,phone,principal,balance\nD,A,N,+14155550101,1,1\n")
    )
    assert [(e.row, e.column) for e in missing.errors] == [(0, "due_date")] and missing.rows == []
    unknown = to_csv([{**GOOD, "shoe_size": "9"}], columns=[*GOOD, "shoe_size"])
    result = parse_portfolio(unknown)
    assert [(e.row, e.column, e.reason) for e in result.errors] == [(0, "shoe_size", "is not a known column")]
    upper = parse_portfolio(io.StringIO(to_csv([GOOD]).getvalue().upper().replace("D-1", "D-1")))
    assert not [e for e in upper.errors if e.row == 0]


def test_short_row_and_blank_lines() -> None:
    text = to_csv([GOOD]).getvalue() + "\nD-2,A-2\n"
    result = parse_portfolio(io.StringIO(text))
    assert len(result.rows) == 1
    assert [(e.row, e.column) for e in result.errors] == [(3, "(row)")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"external_id,account_ref\n\xff\xfe\x00bad", "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        (b"", "is empty"),
        (b"hello world\nthis is prose\n", "not a portfolio CSV header"),
        (b"external_id,account_ref\x00\n", "binary file"),
        (b'external_id,account_ref,full_name,phone,principal,balance,due_date\n"D-1,"x', "not valid CSV"),
    ],
)
def test_not_a_csv_is_one_error(data: bytes, reason: str) -> None:
    stream = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", newline="")
    result = parse_portfolio(stream)
    assert result.rows == []
    assert len(result.errors) == 1 and reason in result.errors[0].reason


def test_bad_fixture_report() -> None:
    result = parse_portfolio(BAD_FILE.open(newline="", encoding="utf-8"))
    report = format_errors(result.errors)
    assert [r.external_id for r in result.rows] == ["B-1"]
    assert {e.row for e in result.errors} == set(range(2, 13))
    assert "row 2, column phone: '***5012' is not a valid number for region US" in report.splitlines()
    assert "row 4, column principal: '1,200.50' contains a thousands separator" in report
    assert "row 3, column full_name: must not be empty" in report


# --- round trip -------------------------------------------------------------------------------------

_text = (
    st.text(
        st.characters(min_codepoint=32, max_codepoint=0x2FFF),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)
_amount = st.decimals(min_value=0, max_value=Decimal("999999999.99"), places=2)
_date = st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31))
_us_phone = st.integers(0, 99).map(lambda n: f"+141555501{n:02d}")


@st.composite
def account_rows(draw: st.DrawFn) -> list[AccountRow]:
    n = draw(st.integers(1, 5))
    rows = []
    for i in range(n):
        phone = draw(_us_phone)
        phones = [
            PhoneEntry(phone, draw(st.sampled_from(["mobile", "landline", "work"])), draw(st.booleans()))
        ]
        if draw(st.booleans()):
            phones.append(PhoneEntry(f"+1212555{i:04d}", "work", draw(st.booleans())))
        rows.append(
            AccountRow(
                external_id=f"E-{i}-{draw(st.integers(0, 999))}",
                account_ref=f"R-{i}",
                full_name=draw(_text),
                phones=tuple(phones),
                principal=draw(_amount),
                balance=draw(_amount),
                due_date=draw(_date),
                currency=draw(st.sampled_from(["USD", "CNY", "EUR"])),
                opened_on=draw(st.none() | _date),
                language=draw(st.sampled_from(["en", "zh"])),
                timezone=draw(st.none() | st.sampled_from(["America/Los_Angeles", "Asia/Shanghai", "UTC"])),
                address_line=draw(st.none() | _text),
                city=draw(st.none() | _text),
                region=draw(st.none() | st.sampled_from(["CA", "NY"])),
                country=draw(st.sampled_from(["US", "CA"])),
                national_id_masked=draw(st.none() | st.from_regex(r"\*\*\*[0-9]{4}", fullmatch=True)),
                row=i + 1,
            )
        )
    return rows


def _cells(r: AccountRow) -> dict[str, str]:
    cells = {
        "external_id": r.external_id,
        "account_ref": r.account_ref,
        "full_name": r.full_name,
        "phone": r.phones[0].number_e164,
        "phone_type": r.phones[0].kind,
        "phone_consent": "yes" if r.phones[0].consent else "no",
        "currency": r.currency,
        "principal": str(r.principal),
        "balance": str(r.balance),
        "due_date": r.due_date.isoformat(),
        "opened_on": r.opened_on.isoformat() if r.opened_on else "",
        "language": r.language,
        "timezone": r.timezone or "",
        "address_line": r.address_line or "",
        "city": r.city or "",
        "region": r.region or "",
        "country": r.country,
        "national_id": r.national_id_masked or "",
    }
    if len(r.phones) > 1:
        cells |= {
            "phone2": r.phones[1].number_e164,
            "phone2_type": "work",
            "phone2_consent": str(r.phones[1].consent),
        }
    return cells


@settings(max_examples=150, deadline=None)
@given(account_rows())
def test_round_trip(rows: list[AccountRow]) -> None:
    result = parse_portfolio(to_csv([_cells(r) for r in rows], columns=list(ALL_COLUMNS)))
    assert result.errors == []
    assert result.rows == rows


def test_large_file_row_numbers() -> None:
    rows = [{**GOOD, "external_id": f"D-{i}", "account_ref": f"A-{i}"} for i in range(3000)]
    rows[2499]["balance"] = "abc"
    result = parse_portfolio(to_csv(rows))
    assert len(result.rows) == 2999
    assert [(e.row, e.column) for e in result.errors] == [(2500, "balance")]

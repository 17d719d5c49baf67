"""The portfolio's strategy columns and its JSON form: the same facts, the same refusals."""

from __future__ import annotations

import io
import json

from dunline.portfolio.csv_schema import parse_portfolio
from dunline.portfolio.json_form import parse_accounts_json
from dunline.portfolio.profile_columns import COLUMNS, facts_from_cells
from dunline.strategies.profile import Facts, parse_facts

HEAD = "external_id,account_ref,full_name,phone,principal,balance,due_date"
ROW = "D1,A1,Ann Lee,+14155550123,5000,4900,2026-10-01"


def csv_rows(extra_head: str, extra: str) -> tuple[list, list]:  # type: ignore[type-arg]
    parsed = parse_portfolio(io.StringIO(f"{HEAD},{extra_head}\n{ROW},{extra}\n"))
    return parsed.rows, parsed.errors


def test_every_column_maps_to_a_facts_field() -> None:
    for column, path in COLUMNS.items():
        model: type = Facts
        for key in path[:-1]:
            model = model.model_fields[key].annotation  # type: ignore[assignment]
            model = next(a for a in getattr(model, "__args__", (model,)) if a is not type(None))
        assert path[-1] in model.model_fields, column


def test_strategy_columns_become_stored_facts() -> None:
    rows, errors = csv_rows(
        "paid,interest_rate,credit_score,credit_trend,income_stability,legal_action,legal_after_days,variant",
        "100.5,18,640,falling,unstable,file a claim in small claims court,14,challenger",
    )
    assert not errors
    facts = parse_facts(rows[0].facts)
    assert facts.loan.paid == 100.5 and facts.credit.score == 640 and facts.credit.trend == "falling"
    assert facts.legal_step is not None and facts.legal_step.after_days == 14
    assert facts.variant == "challenger" and facts.personal.income_stability == "unstable"


def test_empty_strategy_cells_store_nothing() -> None:
    rows, errors = csv_rows("credit_score,credit_trend", ",")
    assert not errors and rows[0].facts == {}


def test_each_bad_strategy_cell_is_named_once() -> None:
    rows, errors = csv_rows(
        "paid,credit_score,credit_trend,age,legal_after_days,on_time_ratio,occupation",
        "1e3,2000,down,200,12,1.5,pilot",
    )
    assert not rows
    by_column = {e.column: e for e in errors}
    assert set(by_column) == {"paid", "credit_score", "credit_trend", "age", "legal_action", "on_time_ratio"}
    assert by_column["legal_action"].reason == "is required when legal_after_days is given"
    assert by_column["age"].value_masked == "***"  # personal data masked
    assert "1000" in by_column["credit_score"].reason


def test_facts_from_cells_ignores_unrelated_columns() -> None:
    assert facts_from_cells({"full_name": "x", "credit_score": "500"}) == ({"credit": {"score": 500}}, [])


def document(ref: str, **extra: object) -> dict[str, object]:
    return {
        "id": ref,
        "contact": {"country": "US", "phones": [{"number": "+14155550123", "consent": True}]},
        "identity": {"name": "Ann Lee", "national_id": "123-45-6789"},
        "loan": {"principal": "5000", "due_date": "2026-10-01", "paid": "100"},
        **extra,
    }


def test_json_documents_become_rows_with_what_only_json_can_say() -> None:
    d = document("A1", credit={"score": 600})
    d["contact"]["flags"] = ["dispute"]  # type: ignore[index]
    d["contact"]["phones"].append(  # type: ignore[index]
        {"number": "+14155550124", "type": "landline", "role": "contact", "refused": True}
    )
    parsed = parse_accounts_json(json.dumps([d]))
    assert parsed.ok
    row = parsed.rows[0]
    assert (row.external_id, row.account_ref, row.balance) == ("A1", "A1", 4900)  # balance = principal - paid
    assert row.national_id_masked == "***6789" and row.flags == ("dispute",)
    assert row.phones[1].role == "contact" and row.phones[1].refused and not row.phones[1].consent
    assert row.facts == {"loan": {"paid": "100"}, "credit": {"score": 600}}


def test_json_errors_name_the_document_and_field_and_mask_personal_values() -> None:
    docs = [
        document("A1"),
        document("A1"),  # duplicate id
        {"id": "A3", "contact": {"country": "US", "phones": []}},
        {**document("A4"), "identity": {"name": "Bo", "age": 300}},
        {**document("A5"), "contact": {"country": "US", "phones": [{"number": "12"}], "flags": ["Cease!"]}},
        "not an object",
    ]
    parsed = parse_accounts_json(json.dumps(docs))
    got = {(e.row, e.column): e for e in parsed.errors}
    assert [r.account_ref for r in parsed.rows] == ["A1"]
    assert (2, "id") in got
    assert {(3, "identity.name"), (3, "loan.principal"), (3, "loan.due_date"), (3, "contact.phones")} <= set(
        got
    )
    assert got[4, "identity.age"].value_masked == "***"
    assert got[5, "contact.phones.0.number"].value_masked == "***"
    assert (6, "(document)") in got


def test_json_file_level_errors() -> None:
    assert parse_accounts_json("{").errors[0].reason.startswith("is not JSON")
    assert "list" in parse_accounts_json('{"id": "x"}').errors[0].reason

"""Delivery receipts (dunline/channels/receipts.py): TLV first, text fallback, final states."""

from __future__ import annotations

import pytest

from dunline.channels.receipts import MESSAGE_STATE, RECEIPTED_MESSAGE_ID, ReceiptError, parse

TEXT = (
    "id:7f3a9c sub:001 dlvrd:001 submit date:2612071405 done date:2612071406 stat:DELIVRD err:000"
    " text:Your pay"
)


def test_text_receipt() -> None:
    r = parse(TEXT)
    assert (r.message_id, r.state, r.error, r.final, r.delivered) == ("7f3a9c", "DELIVRD", "000", True, True)


def test_tlvs_win_over_the_text() -> None:
    r = parse(TEXT, {RECEIPTED_MESSAGE_ID: b"upstream-42\0", MESSAGE_STATE: 5})
    assert (r.message_id, r.state, r.final, r.delivered) == ("upstream-42", "UNDELIV", True, False)


STATES = [("ACCEPTD", False), ("ENROUTE", False), ("UNKNOWN", False), ("EXPIRED", True), ("REJECTD", True),
          ("DELETED", True)]  # fmt: skip


@pytest.mark.parametrize(("stat", "final"), STATES)
def test_final_states(stat: str, final: bool) -> None:
    assert parse(TEXT.replace("DELIVRD", stat)).final is final


def test_a_text_field_cannot_fake_the_state() -> None:
    r = parse("id:1 sub:001 dlvrd:000 stat:UNDELIV err:001 text:stat:DELIVRD id:2")
    assert (r.message_id, r.state) == ("1", "UNDELIV")


def test_bad_receipts_are_refused() -> None:
    with pytest.raises(ReceiptError, match="no message id"):
        parse("sub:001 stat:DELIVRD")
    with pytest.raises(ReceiptError, match="unknown state"):
        parse("id:9 stat:FINE")

"""SMPP delivery receipts (pure): which message, which state, final or not.

A receipt is a deliver_sm with esm_class bit 2 set. The message id comes from the
`receipted_message_id` TLV (0x001E) when present, else from the `id:` field of the text
(`id:IIII sub:001 dlvrd:001 submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DELIVRD err:000 text:...`);
the state from the `message_state` TLV (0x0427) when present, else from `stat:`. ACCEPTD, ENROUTE and
UNKNOWN are not final; DELIVRD, UNDELIV, EXPIRED, REJECTD and DELETED are.

Errors: `ReceiptError` (the message says which field is missing or wrong).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

RECEIPTED_MESSAGE_ID = 0x001E
MESSAGE_STATE = 0x0427
# SMPP 3.4 5.2.28 message_state -> the receipt text's stat word
STATES = {
    1: "ENROUTE",
    2: "DELIVRD",
    3: "EXPIRED",
    4: "DELETED",
    5: "UNDELIV",
    6: "ACCEPTD",
    7: "UNKNOWN",
    8: "REJECTD",
}
FINAL = frozenset({"DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "DELETED"})
_FIELD = re.compile(r"(id|sub|dlvrd|submit date|done date|stat|err):(\S*)", re.IGNORECASE)


class ReceiptError(ValueError):
    """A receipt without a message id or a state."""


@dataclass(frozen=True)
class Receipt:
    message_id: str
    state: str  # one of STATES' words
    error: str | None  # the `err:` code, when given

    @property
    def final(self) -> bool:
        return self.state in FINAL

    @property
    def delivered(self) -> bool:
        return self.state == "DELIVRD"


def parse(text: str, tlvs: Mapping[int, object] | None = None) -> Receipt:
    fields = {k.lower(): v for k, v in _FIELD.findall(text.split(" text:", 1)[0])}
    tlvs = tlvs or {}
    mid = tlvs.get(RECEIPTED_MESSAGE_ID)
    message_id = (
        (mid.decode() if isinstance(mid, bytes) else str(mid)).rstrip("\0") if mid else fields.get("id")
    )
    if not message_id:
        raise ReceiptError("receipt: no message id (neither TLV 0x001E nor id: in the text)")
    raw_state = tlvs.get(MESSAGE_STATE)
    if isinstance(raw_state, int) and raw_state in STATES:
        state = STATES[raw_state]
    else:
        state = (fields.get("stat") or "").upper()
    if state not in STATES.values():
        raise ReceiptError(f"receipt for {message_id}: unknown state {state or '(none)'!r}")
    return Receipt(message_id, state, fields.get("err") or None)

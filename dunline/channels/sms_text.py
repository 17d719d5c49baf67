"""How a text goes on the air (pure): its alphabet, its parts, its length budget.

GSM 03.38 (7-bit) when every character is in the GSM alphabet (the basic table, or the extension table,
whose characters take two septets), else UCS-2 (UTF-16: a character outside the basic plane takes two
units). One part holds 160 septets or 70 UCS-2 units; a concatenated message loses room to its header:
153 and 67 per part. The alphabet tables are aiosmpplib's (the SMPP client's own codec), so what is
counted here is what the client sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiosmpplib.codec import GSM_BASIC_ENCODE_MAP, GSM_EXTENDED_ENCODE_MAP

Alphabet = Literal["gsm7", "ucs2"]
SINGLE = {"gsm7": 160, "ucs2": 70}
PART = {"gsm7": 153, "ucs2": 67}
MAX_PARTS = 10  # a longer text is a letter, not an SMS


class SmsTextError(ValueError):
    """A text that cannot be sent as an SMS (empty, or longer than MAX_PARTS parts)."""


@dataclass(frozen=True)
class Encoded:
    alphabet: Alphabet
    units: int  # septets (gsm7) or UTF-16 code units (ucs2)
    parts: int

    @property
    def data_coding(self) -> int:
        """SMPP data_coding: 0 the SMSC default alphabet (GSM), 8 UCS-2."""
        return 0 if self.alphabet == "gsm7" else 8


def alphabet(text: str) -> Alphabet:
    return "gsm7" if all(c in GSM_BASIC_ENCODE_MAP or c in GSM_EXTENDED_ENCODE_MAP for c in text) else "ucs2"


def units(text: str, alpha: Alphabet) -> int:
    if alpha == "gsm7":
        return sum(1 if c in GSM_BASIC_ENCODE_MAP else 2 for c in text)
    return len(text.encode("utf-16-be")) // 2


def encode(text: str) -> Encoded:
    """The alphabet and the number of parts `text` takes; SmsTextError when it cannot be sent."""
    if not text.strip():
        raise SmsTextError("the text is empty")
    alpha = alphabet(text)
    n = units(text, alpha)
    parts = 1 if n <= SINGLE[alpha] else -(-n // PART[alpha])
    if parts > MAX_PARTS:
        raise SmsTextError(
            f"the text takes {parts} SMS parts ({n} {'septets' if alpha == 'gsm7' else 'UCS-2 units'}); "
            f"at most {MAX_PARTS}"
        )
    return Encoded(alpha, n, parts)


def with_opt_out(body: str, notice: str) -> str:
    """The body with the opt-out notice the profile requires at its end (not added twice)."""
    body, notice = body.rstrip(), notice.strip()
    if not notice or body.endswith(notice):
        return body
    return f"{body} {notice}"

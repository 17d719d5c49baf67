"""Is an answer finished at its first short pause? (pure; the early commit of a speculative decode)

The endpointer ends an answer after `end_silence_ms` (500 ms) of silence, and a decode started at the
first short pause (`speculative_silence_ms`) is usually ready before that. `why_wait` says whether that
early transcript may be taken as the whole answer now, or the IVR must wait for the silence to end it
(the debtor may be mid-sentence: "I can pay... um... two hundred on Friday"). It returns None to
commit early, or the reason to wait (checked in this order; HOLD_REASONS make the IVR wait
`hold_silence_ms` instead of `end_silence_ms`):

- `trailing`: the transcript ends on a comma, an ellipsis or a dash, on a filler ("um", "呃") or on a
  word a sentence does not end on (the lexicon's `continuations`: "and", "because", "然后", ...): the
  debtor is mid-sentence, whatever the words so far mean (the IVR then waits longer for them);

- `unclear`: no intent yet ("I thank you", "Who did you"): often a sentence cut at a pause;
- `not_asked`: the intent is not one of the question's own answers (`expected`), or is not a short
  kind that a pause cannot change: a yes or a no, or a promise with both its amount and its date.
  Legal flags and everything else wait for the silence (a doubt check may follow them anyway);
- `unsure`: confidence under EARLY_CONFIDENCE, or the answer is doubtful (fuzzy match, a guess of
  the examples, a low-probability decode);
- `incomplete`: a promise without its amount or its date ("two hundred ..." then "on Friday").
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from dunline.ivr.speech.lexicon import load
from dunline.ivr.speech.types import Lang

EARLY_INTENTS = frozenset({"affirm", "deny", "promise_to_pay"})
EARLY_CONFIDENCE = 0.9
# the reasons that say "mid-sentence": the IVR waits longer (`hold_silence_ms`) for the rest
HOLD_REASONS = frozenset({"trailing", "unclear", "incomplete"})
_OPEN_END = ("...", "…", ",", "，", "、", "-", "—", "–")
_END_PUNCT = re.compile(r"[\s。.！!？?；;：:\"'”’)）]+$")
_WORD = re.compile(r"[a-z']+")


def why_wait(
    text: str,
    lang: Lang,
    intent: str,
    confidence: float,
    slots: Mapping[str, str],
    doubtful: bool,
    expected: Collection[str],
) -> str | None:
    """None when the answer may be committed at its first pause, else why not (see the module)."""
    if trails_off(text, lang):
        return "trailing"
    if intent == "unknown":
        return "unclear"
    if intent not in expected or intent not in EARLY_INTENTS:
        return "not_asked"
    if doubtful or confidence < EARLY_CONFIDENCE:
        return "unsure"
    if intent == "promise_to_pay" and not (slots.get("amount") and slots.get("date")):
        return "incomplete"
    return None


def trails_off(text: str, lang: Lang) -> bool:
    """True when the transcript stops where a sentence does not end."""
    body = text.strip()
    if body.endswith(_OPEN_END):
        return True
    body = _END_PUNCT.sub("", body)
    if not body or body.endswith(_OPEN_END):
        return True
    lex = load(lang)
    ends = (*lex.fillers, *lex.continuations)
    if lang == "zh":
        return body.endswith(ends)
    words = _WORD.findall(body.lower())
    return not words or words[-1] in ends

"""The second opinion (a classifier over labelled examples): the NumPy MiniLM against
sentence-transformers' own vectors, the examples file, the rules of when the opinion may replace the
lexicon's guess or overrule a weak phrase match (with a fake opinion), and the real opinion on the set
it was not built from."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from dunline.ivr.speech import semantic
from dunline.ivr.speech.intents import UNKNOWN_CONFIDENCE, classify
from dunline.ivr.speech.minilm import Encoder
from dunline.ivr.speech.types import INTENTS, Lang, Neighbour

FIXTURES = Path(__file__).parent.parent / "fixtures" / "speech"
# written after everything here was fixed, then measured once (bench/speech_accuracy.py)
FRESH = ("heldout28_en", "heldout29_en", "heldout30_en")
NOW = datetime(2026, 12, 1, 10, 0)
NY = ZoneInfo("America/New_York")


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder.load()


def _some_examples() -> str:
    """Every 200th shipped example: the cache's rules on a file that embeds in a second, not 25."""
    from dunline.config.packaged import read_default

    lines = [ln for ln in read_default("examples.en.tsv").splitlines() if ln and ln[0] != "#"]
    return "\n".join(lines[::200]) + "\n"


SOME = _some_examples()


def test_numpy_minilm_gives_sentence_transformers_vectors(encoder: Encoder) -> None:
    ref = json.loads((FIXTURES / "minilm_reference.json").read_text("utf-8"))
    mine = encoder.encode(ref["texts"])
    want = np.array(ref["embeddings"], dtype=np.float32)
    assert mine.shape == want.shape == (len(ref["texts"]), 384)
    assert float(np.abs(mine - want).max()) < 1e-5
    one_by_one = np.stack([encoder.encode([t])[0] for t in ref["texts"]])
    assert float(np.abs(one_by_one - mine).max()) < 1e-5  # padding in a batch changes nothing


def test_long_answers_are_truncated_not_refused(encoder: Encoder) -> None:
    vec = encoder.encode(["I can pay " * 200])
    assert vec.shape == (1, 384) and abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
    assert encoder.encode([]).shape == (0, 384)


def test_shipped_examples_cover_every_intent() -> None:
    from dunline.config.packaged import read_default

    texts, intents = semantic.parse_examples(read_default("examples.en.tsv"), "examples.en.tsv")
    assert len(texts) >= 800 and set(intents) == set(INTENTS)
    fresh = {ln.split("\t")[0].strip().lower() for n in FRESH for ln in rows(n)}
    assert not fresh & {t.lower() for t in texts}  # the measuring sets stay out of the examples


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("stop calling me\n", "line 1: expected 'text<TAB>intent'"),
        ("# head\nstop\tcease\n\tcease\n", "line 3: expected"),
        ("stop calling me\tstop\n", "line 1: unknown intent 'stop'"),
        ("# only a comment\n", "no examples"),
    ],
)
def test_bad_examples_are_named(raw: str, error: str) -> None:
    with pytest.raises(semantic.ExamplesError, match=error):
        semantic.parse_examples(raw, "x.tsv")


class Fake:
    def __init__(self, intent: str, probability: float) -> None:
        self.answer = Neighbour(intent, probability, "an example", 0.5)
        self.asked: list[str] = []

    def nearest(self, text: str) -> Neighbour:
        self.asked.append(text)
        return self.answer


def test_a_phrase_the_lexicon_knows_is_never_second_guessed() -> None:
    fake = Fake("hardship", 0.99)
    assert classify("stop calling me", "en", NOW, NY, fake).intent == "cease"
    assert fake.asked == []


def test_an_example_never_brings_back_what_the_answer_negates() -> None:
    text = "I don't have a lawyer, who are you?"
    assert classify(text, "en", NOW, NY).intent == "unknown"
    assert classify(text, "en", NOW, NY, Fake("attorney", 0.8)).intent == "unknown"
    assert classify(text, "en", NOW, NY, Fake("request_agent", 0.8)).intent == "request_agent"


def test_an_example_replaces_a_guess_with_its_slots_and_says_so() -> None:
    text = "better time would be Thursday around noon"
    assert classify(text, "en", NOW, NY).intent == "promise_to_pay"  # a bare date read as an offer
    got = classify(text, "en", NOW, NY, Fake("callback_later", 0.62))
    assert got.intent == "callback_later" and got.confidence == 0.62
    assert got.slots.date is not None and got.slots.date.isoformat() == "2026-12-03"
    assert got.slots.time is not None and got.slots.time.isoformat() == "12:00:00"
    assert got.matched == "en:callback_later:like(0.62) 'an example'"
    nothing = classify("the house flooded last spring", "en", NOW, NY, Fake("hardship", 0.7))
    assert nothing.intent == "hardship" and nothing.matched.startswith("en:hardship:like(0.70)")


@pytest.mark.parametrize(
    ("text", "opinion", "probability", "intent"),
    [
        ("better time would be Thursday around noon", "callback_later", 0.39, "promise_to_pay"),  # unsure
        ("the house flooded last spring", "affirm", 0.9, "unknown"),  # a yes must be said
        ("the house flooded last spring", "deny", 0.9, "unknown"),
        ("I can do a hundred on the fifth", "payment_plan", 0.9, "promise_to_pay"),  # an offer stays one
    ],
)
def test_when_the_opinion_does_not_count(text: str, opinion: str, probability: float, intent: str) -> None:
    assert classify(text, "en", NOW, NY, Fake(opinion, probability)).intent == intent


PADDED = "six forty? no, it was like two hundred last time I checked"


def test_a_weak_phrase_match_is_overruled_only_by_a_sure_opinion() -> None:
    assert classify(PADDED, "en", NOW, NY).matched == "en:deny:'no'"  # one word decided nine
    got = classify(PADDED, "en", NOW, NY, Fake("dispute", 0.75))
    assert got.intent == "dispute" and got.confidence == 0.75
    assert got.matched == "en:dispute:like(0.75) 'an example' over 'no'"
    assert classify(PADDED, "en", NOW, NY, Fake("dispute", 0.69)).intent == "deny"  # not sure enough
    assert classify(PADDED, "en", NOW, NY, Fake("unknown", 0.95)).intent == "deny"  # a heard word stays
    assert classify("no", "en", NOW, NY, Fake("dispute", 0.95)).intent == "deny"  # the whole answer
    misheard = "can you cal me bak tomorow"  # a fuzzy match decided
    got = classify(misheard, "en", NOW, NY, Fake("request_agent", 0.9))
    assert got.matched.endswith("over ~'call me back'='cal me bak'(91)")


def test_two_words_are_overruled_only_by_a_very_sure_opinion() -> None:
    text = "honestly I have zero intention to pay this one"
    assert classify(text, "en", NOW, NY).matched == "en:promise_to_pay:'pay this'"
    got = classify(text, "en", NOW, NY, Fake("refuse", 0.91))
    assert got.intent == "refuse" and got.matched.endswith(" over 'pay this'")
    assert classify(text, "en", NOW, NY, Fake("refuse", 0.89)).intent == "promise_to_pay"
    fake = Fake("refuse", 0.99)
    assert classify("I can pay this", "en", NOW, NY, fake).intent == "promise_to_pay"  # most of it
    assert fake.asked == []
    # an intent the answer negates stays out (unpunctuated, "not now try me": the "try me" is negated)
    assert classify(
        "not now try me monday around noon", "en", NOW, NY, Fake("callback_later", 0.99)
    ).intent == ("inconvenient_time")


def test_a_misheard_phrase_may_become_no_answer() -> None:
    text = "sorry, could you say that again please"
    assert classify(text, "en", NOW, NY).matched == "en:promise_to_pay:~'pay that'='say that'(88)"
    got = classify(text, "en", NOW, NY, Fake("unknown", 0.8))
    assert got.intent == "unknown" and got.matched.endswith(" over ~'pay that'='say that'(88)")


def test_a_legal_flag_is_never_overruled() -> None:
    """A missed stop-calling costs a violation; a wrong one, a lost call: the phrase keeps its effect."""
    fake = Fake("request_agent", 0.99)
    text = "I would like to be transferred to a live person if you don't mind."
    got = classify(text, "en", NOW, NY, fake)
    assert got.intent == "dispute" and "~'not mine'='not mind'" in got.matched  # misheard, and kept
    assert fake.asked == []


def test_an_unknown_example_turns_a_guessed_offer_into_no_answer() -> None:
    got = classify("what's the weather gonna be tomorrow", "en", NOW, NY, Fake("unknown", 0.6))
    assert got.intent == "unknown" and got.confidence == UNKNOWN_CONFIDENCE
    assert got.matched == "en:unknown:like(0.60) 'an example'"
    # ... only when it is fairly sure: an amount and a date said are an offer, and it is read back
    offer = "December 12th, 600. Write it down."
    assert classify(offer, "en", NOW, NY, Fake("unknown", 0.59)).intent == "promise_to_pay"
    assert classify(offer, "en", NOW, NY, Fake("unknown", 0.6)).intent == "unknown"


def test_repairs_and_empty_answers_are_not_guesses() -> None:
    fake = Fake("hardship", 0.9)
    assert classify("hold on... okay, what?", "en", NOW, NY, fake).intent == "unknown"
    assert classify("  uh  ", "en", NOW, NY, fake).intent == "unknown"
    assert fake.asked == []


SH = ZoneInfo("Asia/Shanghai")
SH_NOW = datetime(2026, 12, 8, 10, 0, tzinfo=SH)


def test_mandarin_opinion_reads_character_ngrams_and_explains_itself() -> None:
    opinion = semantic.load("zh")
    assert opinion is not None and opinion.bank.shape[0] == len(opinion.texts) > 2000
    near = opinion.nearest("这个事我得跟你们的人说清楚，有没有人工服务？")
    assert near.intent == "request_agent" and near.probability > 0.7 and near.example
    assert semantic.Lazy("zh").nearest("下周五还两千").intent == "promise_to_pay"
    # nothing matched in the lexicon: the examples decide, and say which example
    got = classify("孩子在哭，现在没法说话。", "zh", SH_NOW, SH, opinion)
    assert got.intent == "inconvenient_time" and got.matched.startswith("zh:inconvenient_time:like(")


def test_mandarin_opinion_never_makes_a_question_back_an_offer_or_overrules_a_legal_phrase() -> None:
    opinion = semantic.load("zh")
    assert opinion is not None
    assert classify("十八号那天银行开门吗？", "zh", SH_NOW, SH, opinion).intent == "unknown"
    assert classify("今天天气怎么样", "zh", SH_NOW, SH, opinion).intent == "unknown"
    assert (
        classify("别再打了，我下周还你", "zh", SH_NOW, SH, opinion).intent == "cease"
    )  # a legal phrase holds


def test_the_mandarin_encoder_is_deterministic_and_folds_digits() -> None:
    from dunline.ivr.speech.chargrams import CharGrams, features

    assert "#" in features("我明天还500") and features("我明天还500") == features("我明天还３００")
    assert features("，。！") == []
    texts = ["我明天还500", "我明天还两千", "别再打了", "别打了行吗"]
    a, b = CharGrams.fit(texts), CharGrams.fit(list(texts))
    assert a.vocab == b.vocab and np.allclose(a.encode(texts), b.encode(texts))
    vec = a.encode(["我明天还800"])
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-5
    assert float(a.encode(["别再打了"])[0] @ a.encode(["别打了行吗"])[0]) > 0.2
    assert a.encode(["完全无关的话"]).sum() == 0.0  # nothing it knows: a zero vector, no error


def test_the_classifier_is_cached_and_a_wrong_cache_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoder: Encoder
) -> None:
    monkeypatch.setenv("DUNLINE_CACHE", str(tmp_path))
    built = semantic.build("en", encoder, SOME)
    [cached] = list((tmp_path / "models").glob("examples-*.npz"))
    np.savez(cached, bank=np.zeros((3, 384)), weights=built.weights, bias=built.bias)  # stale
    again = semantic.build("en", encoder, SOME)
    assert np.array_equal(again.bank, built.bank) and np.array_equal(again.weights, built.weights)
    cached.write_bytes(b"PK\x03\x04 half a file")  # damaged
    assert np.array_equal(semantic.build("en", encoder, SOME).weights, built.weights)
    with np.load(cached) as f:
        assert f["bank"].shape == built.bank.shape
    assert len(list((tmp_path / "models").glob("examples-*.npz"))) == 1
    other = semantic.build("en", encoder, SOME + "stop calling me\tcease\n")  # another file: its own
    assert len(list((tmp_path / "models").glob("examples-*.npz"))) == 2
    assert other.bank.shape == (len(built.texts) + 1, 384)
    near = semantic.build("en", encoder, SOME).nearest(built.texts[7])
    assert (near.intent, near.example) == (built.intents[7], built.texts[7])
    assert near.similarity == pytest.approx(1.0, abs=1e-5) and near.probability > 0.5


def test_training_is_deterministic_and_learns_the_examples(encoder: Encoder) -> None:
    texts = ("stop calling me", "I lost my job", "call me tomorrow", "yes that's me")
    intents = ("cease", "hardship", "callback_later", "affirm")
    bank = encoder.encode(list(texts))
    w1, b1 = semantic.train(bank, intents)
    w2, b2 = semantic.train(bank, intents)
    assert np.array_equal(w1, w2) and np.array_equal(b1, b2)
    probs = semantic.softmax(semantic.SCALE * bank.astype(np.float64) @ w1 + b1)
    assert [INTENTS[i] for i in probs.argmax(axis=1)] == list(intents)
    assert probs.max(axis=1).min() > 0.5


def test_the_vote_weighs_the_closest_examples_most() -> None:
    labels = np.array([INTENTS.index(i) for i in ("cease", "refuse", "cease", "affirm", "hardship")])
    similarity = np.array([0.9, 0.8, 0.85, 0.1, 0.95])
    votes = semantic.vote(similarity, labels)
    assert abs(votes.sum() - 1.0) < 1e-9
    assert votes.argmax() == INTENTS.index("hardship")  # the single closest
    assert votes[INTENTS.index("cease")] > votes[INTENTS.index("refuse")] > votes[INTENTS.index("affirm")]
    assert semantic.vote(similarity[:2], labels[:2]).sum() > 0.999  # fewer examples than neighbours


def rows(name: str) -> list[str]:
    return [ln for ln in (FIXTURES / f"{name}.tsv").read_text("utf-8").splitlines() if ln and ln[0] != "#"]


@pytest.mark.parametrize(
    ("name", "floor"), [("heldout28_en", 0.965), ("heldout29_en", 0.9), ("heldout30_en", 0.99)]
)
def test_the_real_opinion_on_a_set_it_was_not_built_from(name: str, floor: float) -> None:
    """heldout28-30 were written after everything here was fixed (realistic answers, hard ones,
    answers to each question), and measured once through the telephone channel
    (bench/speech_accuracy.py). At the text level: 188, 156 and 188 of 200 by the lexicon alone; 194,
    181 and 199 with the second opinion. The floors leave a line of room for float differences between
    CPUs."""
    lexical, with_opinion, total = _scores(name, "en", NOW, NY)
    assert with_opinion >= lexical
    assert with_opinion / total >= floor


def _scores(name: str, lang: Lang, now: datetime, tz: ZoneInfo) -> tuple[int, int, int]:
    """Answers of the set right by the lexicon alone, right with the second opinion, and in all."""
    opinion = semantic.load(lang)
    assert opinion is not None
    lexical = with_opinion = 0
    for line in rows(name):
        text, want = line.split("\t")[:2]
        lexical += classify(text, lang, now, tz).intent == want
        with_opinion += classify(text, lang, now, tz, opinion).intent == want
    total = len(rows(name))
    print(f"{name}: lexicon {lexical}/{total}, with the second opinion {with_opinion}/{total}")
    return lexical, with_opinion, total


def test_an_unwritable_cache_costs_time_not_the_opinion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoder: Encoder, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("DUNLINE_CACHE", str(blocked))
    built = semantic.build("en", encoder, SOME)
    assert built.bank.shape == (len(built.texts), 384)
    assert "intent examples not cached" in caplog.text


def test_the_intent_command_asks_the_opinion_unless_told_not_to(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from dunline.controller.cli_speech import add_intent_command

    parser = argparse.ArgumentParser(prog="dunline")
    add_intent_command(parser.add_subparsers(dest="command", required=True))
    text = "the house flooded and every penny goes to repairs"
    argv = ["intent", text, "--json", "--now", "2026-12-01T10:00"]
    for extra, intent in (([], "hardship"), (["--lexicon-only"], "unknown")):
        args = parser.parse_args([*argv, *extra])
        assert args.fn(args) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["intent"] == intent, doc
    assert doc["matched"] == "en:unknown:no phrase matched"


@pytest.mark.parametrize(("name", "floor"), [("heldout5_zh", 0.933), ("heldout6_zh", 0.866)])
def test_the_real_mandarin_opinion_on_a_set_it_was_not_built_from(name: str, floor: float) -> None:
    """heldout5_zh (mixed) and heldout6_zh (hard) were written by new authors after the Mandarin opinion
    and its rules were fixed, and measured once (bench/results/speech_accuracy_zh_fresh5-6.json): as
    text 141 and 131 of 150 with the opinion, 124 and 93 by the lexicon alone. They are not among the
    examples. The floors leave a line of room."""
    lexical, with_opinion, total = _scores(name, "zh", SH_NOW, SH)
    assert total == 150 and with_opinion > lexical
    assert with_opinion / total >= floor

"""Prohibited speech: the phrase lists (config/defaults/compliance/prohibited.yaml), the checker
(dunline/compliance/phrases.py) and the load-time check of prompt catalogs (dunline/ivr/prompts.py)."""

from __future__ import annotations

import copy
from importlib import resources
from typing import Any

import pytest
import yaml

from dunline.compliance.phrases import (
    Finding,
    PhraseListError,
    ProhibitedSpeech,
    check_templates,
    find_prohibited,
    load_phrase_lists,
    normalise,
    parse_phrase_lists,
)
from dunline.ivr.prompts import PromptError, load_catalog, parse_catalog

CATEGORIES = {
    "threat": "speech-threat",
    "impersonation": "speech-impersonation",
    "fake_blacklist": "speech-fake-blacklist",
    "shaming": "speech-shaming",
    "new_borrowing": "speech-new-borrowing",
}


def shipped_raw() -> dict[str, Any]:
    res = resources.files("dunline.config").joinpath("defaults/compliance/prohibited.yaml")
    data = yaml.safe_load(res.read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def shipped_catalogs() -> list[tuple[str, str, str]]:
    """(lang, prompt id, text) for every prompt of every shipped catalog."""
    out = []
    for res in resources.files("dunline.config").joinpath("defaults").iterdir():
        name = res.name
        if name.startswith("prompts.") and name.endswith(".yaml"):
            lang = name.split(".")[1]
            for pid, spec in (yaml.safe_load(res.read_text("utf-8")) or {}).items():
                out.append((lang, str(pid), str(spec["text"])))
    return out


def categories_of(text: str, lang: str) -> set[str]:
    return {f.category for f in find_prohibited(text, lang)}


# ---- the shipped lists ---------------------------------------------------------------------------------


def test_shipped_lists_cover_every_category_in_both_languages() -> None:
    lists = load_phrase_lists()
    assert {c: lists.categories[c].rule_id for c in lists.categories} == CATEGORIES
    for lang in ("en", "zh"):
        per_category = {e.category.name for e in lists.for_language(lang)}
        assert per_category == set(CATEGORIES), lang
    for cat in lists.categories.values():
        assert cat.description and cat.source


def test_every_category_cites_its_sources() -> None:
    cats = load_phrase_lists().categories
    for name in ("threat", "impersonation", "fake_blacklist", "shaming"):
        assert "FDCPA" in cats[name].source, name
    for name in CATEGORIES:
        assert "CONC 7.3" in cats[name].source, name
        assert "GB/T 45251-2025" in cats[name].source, name


# ---- flagged: every category, two languages, several phrasings -----------------------------------------

FLAGGED = [
    # threat
    ("en", "threat", "If you do not pay, you will be ARRESTED."),
    ("en", "threat", "You'll go to jail for this!"),
    ("en", "threat", "We will take your house."),
    ("en", "threat", "We'll have you arrested, and we know where you live."),
    ("en", "threat", "We can get you fired from your job."),
    ("en", "threat", "Pay now, or we will take your children."),
    ("en", "threat", "We will send the bailiffs round."),
    ("zh", "threat", "不还钱你就等着坐牢吧！"),
    ("zh", "threat", "我们会让你 失业。"),
    ("zh", "threat", "再不还，后果自负"),
    ("zh", "threat", "我们马上上门找你"),
    ("zh", "threat", "我们会收走你的房子"),
    # impersonation
    ("en", "impersonation", "This is the court calling about your case."),
    ("en", "impersonation", "Hello, this is Officer Smith of the police department."),
    ("en", "impersonation", "I'm calling from the Sheriff's Office."),
    ("en", "impersonation", "I am an attorney and I represent the creditor."),
    ("en", "impersonation", "This is a government agency."),
    ("en", "impersonation", "We are calling on behalf of the IRS."),
    ("zh", "impersonation", "这里是人民法院，请你配合。"),
    ("zh", "impersonation", "我是派出所的民警"),
    ("zh", "impersonation", "我们是XX律师事务所"),
    ("zh", "impersonation", "你会收到律师函"),
    # fake blacklist
    ("en", "fake_blacklist", "You will be blacklisted by every bank."),
    ("en", "fake_blacklist", "Your name goes on the credit BLACK-LIST."),
    ("en", "fake_blacklist", "You will never get a loan again."),
    ("en", "fake_blacklist", "You'll be banned from flying."),
    ("zh", "fake_blacklist", "你已经被列入征信黑名单。"),
    ("zh", "fake_blacklist", "你将被列入 黑 名 单"),
    ("zh", "fake_blacklist", "以后你一辈子贷不到款"),
    ("zh", "fake_blacklist", "这会影响你孩子上学"),
    # shaming
    ("en", "shaming", "We will tell your family and your neighbours."),
    ("en", "shaming", "We'll CONTACT YOUR EMPLOYER about this debt."),
    ("en", "shaming", "We will publish your name online."),
    ("en", "shaming", "Everyone in your phone will know you are a deadbeat."),
    ("en", "shaming", "You should be ashamed of yourself."),
    ("zh", "shaming", "我们会打电话给你的通讯录联系人"),
    ("zh", "shaming", "不还就把你曝光"),
    ("zh", "shaming", "我们会通知你的家人和单位。"),
    ("zh", "shaming", "把你的照片发到网上"),
    # new borrowing (incl. UK CONC 7.3: no pressure to borrow or to sell property to pay)
    ("en", "new_borrowing", "You could take out another loan to clear this."),
    ("en", "new_borrowing", "Just take out a loan to pay us off."),
    ("en", "new_borrowing", "Borrow the money from your friends or family."),
    ("en", "new_borrowing", "Why not ask your parents to lend you the money?"),
    ("en", "new_borrowing", "You should sell your car to pay."),
    ("en", "new_borrowing", "Have you thought about a Payday Loan?"),
    ("en", "new_borrowing", "Consider re-mortgaging... sorry, a remortgage."),
    ("zh", "new_borrowing", "你可以以贷养贷嘛"),
    ("zh", "new_borrowing", "找朋友借点钱还上"),
    ("zh", "new_borrowing", "去别的平台借一笔。"),
    ("zh", "new_borrowing", "把房子卖了还钱"),
    ("zh", "new_borrowing", "用信用卡套现还款"),
]


@pytest.mark.parametrize(("lang", "category", "text"), FLAGGED)
def test_prohibited_wording_is_flagged(lang: str, category: str, text: str) -> None:
    found = find_prohibited(text, lang)
    assert category in {f.category for f in found}, found
    for f in found:
        assert f.rule_id == CATEGORIES[f.category]
        assert f.phrase
        assert f.excerpt


def test_at_least_two_phrasings_per_category_and_language() -> None:
    for lang in ("en", "zh"):
        for category in CATEGORIES:
            texts = [t for lg, c, t in FLAGGED if lg == lang and c == category]
            assert len(texts) >= 2, (lang, category)


@pytest.mark.parametrize(
    ("lang", "a", "b"),
    [
        ("en", "you will be arrested", "YOU  WILL, BE -- Arrested!!"),
        ("en", "we will take your house", "We will take\tyour\nHOUSE."),
        ("en", "you'll go to jail", "You\u2019ll go to JAIL"),
        ("zh", "征信黑名单", "征 信，黑名单！"),
        ("zh", "以贷养贷", "以贷 养贷"),
        ("zh", "曝光", "曝\u3000光"),
    ],
)
def test_case_spacing_and_punctuation_do_not_hide_a_phrase(lang: str, a: str, b: str) -> None:
    assert normalise(a, lang) == normalise(b, lang)
    assert find_prohibited(a, lang)
    assert [f.phrase for f in find_prohibited(a, lang)] == [f.phrase for f in find_prohibited(b, lang)]


def test_full_width_characters_are_folded() -> None:
    assert normalise("ＡＲＲＥＳＴ　ｗａｒｒａｎｔ", "en") == "arrest warrant"
    assert categories_of("ＡＲＲＥＳＴ　ｗａｒｒａｎｔ", "en") == {"threat"}


# ---- word boundaries (English) -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "As a courtesy, we are calling to remind you of your payment.",
        "This is a courtesy reminder.",
        "The officers of our company",
        "We use a warrantless, arrest-free, courteous approach.",
    ],
)
def test_english_matches_whole_words_only(text: str) -> None:
    assert find_prohibited(text, "en") == []


def test_word_boundary_cases() -> None:
    assert categories_of("This is the court.", "en") == {"impersonation"}
    assert categories_of("This is the courtesy desk.", "en") == set()
    assert categories_of("There is an arrest warrant.", "en") == {"threat"}
    assert categories_of("There is an arrest warranty.", "en") == set()
    assert categories_of("You will be blacklisted.", "en") == {"fake_blacklist"}
    assert categories_of("Our blacklistery policy", "en") == set()


# ---- not flagged: lawful collection wording ------------------------------------------------------------

LAWFUL = [
    ("en", "This is a communication from a debt collector."),
    ("en", "This is an attempt to collect a debt, and any information obtained will be used for that."),
    ("en", "We may report this to credit bureaus."),
    ("en", "If the balance is not paid we may report it to the credit reference agencies."),
    ("en", "Legal action may be taken."),
    ("en", "A specialist will call you to agree on a payment plan that fits your budget."),
    ("en", "We will find you a payment plan that fits your budget."),
    ("en", "As a courtesy, we are letting you know your payment is due."),
    ("en", "Please contact your attorney, or ask your attorney to contact us."),
    ("en", "If you have lost your job, or losing your job made it hard to pay, press 3."),
    ("en", "Your loan account ending in 1234 is 30 days past due."),
    ("en", "You can pay by debit card, credit card or bank transfer."),
    ("en", "Please pay the balance on your credit card account."),
    ("en", "If you are a fraud victim, press 5."),
    ("en", "Late payments may affect your credit score."),
    ("en", "Free debt advice is available from StepChange or Citizens Advice."),
    ("en", "Press 0 to speak with an agent. This is agent Maria."),
    ("en", "We will send the payment details to your home address."),
    ("en", "We will not call you again about this matter."),
    ("en", "Hello, this is Acme Recovery calling for Jane Doe."),
    ("en", "Did you take out a loan with Acme Bank? This is about the loan you took out with us."),
    ("en", "The creditor may apply to the court for a judgment."),
    ("en", "You may wish to speak to your family about your budget."),
    ("zh", "您好，这里是某某金融客服中心，本次通话将被录音。"),
    ("zh", "您的借款已逾期30天，请您按时还款。"),
    ("zh", "如需分期还款，请按2。我们可以为您制定适合您预算的还款计划。"),
    ("zh", "逾期记录将按规定报送征信系统。"),
    ("zh", "为避免影响您的个人信用，请尽快还款。"),
    ("zh", "如您对欠款有异议，请按3。"),
    ("zh", "您的信用卡还款已逾期，请尽快处理。"),
    ("zh", "如您已委托律师，请告诉我们律师的联系方式。"),
    ("zh", "请谨防诈骗，我司不会要求您向个人账户转账。"),
    ("zh", "感谢您的配合，再见。"),
]


@pytest.mark.parametrize(("lang", "text"), LAWFUL)
def test_lawful_wording_is_not_flagged(lang: str, text: str) -> None:
    assert find_prohibited(text, lang) == []


def test_shipped_catalogs_are_checked_and_clean() -> None:
    prompts = shipped_catalogs()
    assert {lang for lang, _, _ in prompts} >= {"en"}
    assert len(prompts) >= 20
    for lang, pid, text in prompts:
        assert find_prohibited(text, lang) == [], (lang, pid)
        assert pid in load_catalog(lang)


# ---- findings and the error ----------------------------------------------------------------------------


def test_finding_names_rule_entry_and_excerpt() -> None:
    text = "Hello. " * 10 + "We will take your house, so pay now." + " Goodbye." * 10
    [finding] = find_prohibited(text, "en")
    assert finding.rule_id == "speech-threat"
    assert finding.category == "threat"
    assert "house" in finding.phrase
    assert "take your house" in finding.excerpt
    assert finding.excerpt.startswith("…") and finding.excerpt.endswith("…")
    assert len(finding.excerpt) < len(text)


def test_findings_are_in_order_and_a_longer_match_hides_a_shorter_one_of_its_category() -> None:
    found = find_prohibited("Your name goes on the credit blacklist. Then we will tell your boss.", "en")
    assert [(f.category, f.phrase) for f in found] == [
        ("fake_blacklist", "credit blacklist"),
        ("shaming", found[1].phrase),
    ]
    assert "boss" in found[1].phrase


def test_two_occurrences_are_two_findings() -> None:
    found = find_prohibited("黑名单。还有黑名单。", "zh")
    assert [f.phrase for f in found] == ["黑名单", "黑名单"]


def test_check_templates_passes_clean_templates() -> None:
    check_templates({"a": "Thank you. Goodbye.", "b": "Press 1 to pay."}, "en", "script.en.yaml")


def test_check_templates_names_source_id_category_and_phrase_for_every_finding() -> None:
    templates = {
        "fine": "Thank you for calling.",
        "bad1": "You will be arrested.",
        "bad2": "We will tell your employer. You will be blacklisted.",
    }
    with pytest.raises(ProhibitedSpeech) as info:
        check_templates(templates, "en", "scripts/collect.en.yaml")
    exc = info.value
    msg = str(exc)
    assert msg.startswith("scripts/collect.en.yaml: prohibited speech")
    assert set(exc.findings) == {"bad1", "bad2"}
    assert "'fine'" not in msg
    assert [f.category for f in exc.findings["bad2"]] == ["shaming", "fake_blacklist"]
    all_findings: list[tuple[str, Finding]] = [(t, f) for t, fs in exc.findings.items() for f in fs]
    assert len(all_findings) == 3
    for tid, f in all_findings:
        line = next(ln for ln in msg.splitlines() if f.phrase in ln and f"'{tid}'" in ln)
        assert f"{f.category} ({f.rule_id})" in line
    assert isinstance(exc, ValueError)


def test_unknown_language_is_an_error_not_a_pass() -> None:
    expected = r"no prohibited-speech list for language 'fr' \(have: en, zh\)$"
    with pytest.raises(PhraseListError, match=expected):
        find_prohibited("Bonjour", "fr")


# ---- load-time check of prompt catalogs ----------------------------------------------------------------


def test_catalog_with_a_threat_fails_to_load_naming_the_prompt_and_category() -> None:
    raw = {
        "hello": {"text": "Hello, this is {company}."},
        "push": {"text": "Pay today or you will go to jail."},
    }
    with pytest.raises(PromptError) as info:
        parse_catalog(raw)
    msg = str(info.value)
    assert "prompt catalog 'en'" in msg
    assert "prompt 'push'" in msg
    assert "threat (speech-threat)" in msg
    assert "'hello'" not in msg
    assert isinstance(info.value.__cause__, ProhibitedSpeech)
    assert set(info.value.__cause__.findings) == {"push"}


def test_zh_catalog_is_checked_with_the_zh_lists() -> None:
    raw = {"p": {"text": "不还钱就把你加入黑名单，并通知你的家人。"}}
    assert parse_catalog(raw, lang="en")  # the English lists do not read Chinese
    with pytest.raises(PromptError, match=r"prompts\.zh\.yaml: prohibited speech") as info:
        parse_catalog(raw, lang="zh", source="prompts.zh.yaml")
    msg = str(info.value)
    assert "prompt 'p': fake_blacklist (speech-fake-blacklist): '黑名单'" in msg
    assert "prompt 'p': shaming (speech-shaming)" in msg


def test_catalog_without_a_list_for_its_language_does_not_load() -> None:
    with pytest.raises(PromptError, match=r"cannot check for prohibited speech.*'fr'"):
        parse_catalog({"p": {"text": "Bonjour"}}, lang="fr")


def test_clean_catalog_still_loads() -> None:
    cat = parse_catalog({"p": {"scope": "account", "text": "Hello {name}, a plan that fits your budget."}})
    assert cat["p"].per_account


# ---- malformed lists -----------------------------------------------------------------------------------


def mutated(path: list[str], value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(shipped_raw())
    node = raw
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return raw


def test_shipped_raw_parses() -> None:
    lists = parse_phrase_lists(shipped_raw())
    assert lists.for_language("en") and lists.for_language("zh")


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ["languages", "en", "threat", "patterns"],
            ["(you will be arrested"],
            r"languages\.en\.threat\.patterns\[0\] '\(you will be arrested': not a valid regular expression",
        ),
        (
            ["languages", "en", "shaming", "patterns"],
            ["ok phrase", "(x)?"],
            r"languages\.en\.shaming\.patterns\[1\] '\(x\)\?': matches empty text",
        ),
        (
            ["languages", "zh", "threat", "phrases"],
            ["坐牢", 42],
            r"languages\.zh\.threat\.phrases\[1\]: needs a non-empty string, got 42",
        ),
        (
            ["languages", "en", "threat", "phrases"],
            ["arrest", "?!"],
            r"languages\.en\.threat\.phrases\[1\] '\?!': nothing left after normalisation",
        ),
        (
            ["languages", "en", "threat", "phrases"],
            ["Arrest Warrant", "arrest-warrant"],
            r"languages\.en\.threat\.phrases\[1\] 'arrest-warrant': listed twice",
        ),
        (
            ["languages", "en", "threat", "phrases"],
            "arrest warrant",
            r"languages\.en\.threat\.phrases: must be a list, got str",
        ),
        (
            ["languages", "en", "threat", "words"],
            ["x"],
            r"languages\.en\.threat: unknown key\(s\) \['words'\]",
        ),
        (
            ["languages", "en", "threats"],
            {"phrases": ["x"]},
            r"languages\.en: unknown key\(s\) \['threats'\]",
        ),
        (
            ["languages", "zh", "shaming"],
            {"phrases": [], "patterns": None},
            r"languages\.zh\.shaming: no phrases or patterns",
        ),
        (["categories", "threat", "rule"], "", r"categories\.threat\.rule: needs a non-empty string"),
        (
            ["categories", "shaming", "rule"],
            "speech-threat",
            r"categories\.shaming\.rule: rule id 'speech-threat' used twice",
        ),
        (["version"], 2, r"version: expected 1, got 2"),
    ],
)
def test_malformed_list_names_the_bad_entry(path: list[str], value: Any, message: str) -> None:
    with pytest.raises(PhraseListError, match=message):
        parse_phrase_lists(mutated(path, value))


def test_a_language_missing_a_category_is_rejected() -> None:
    raw = copy.deepcopy(shipped_raw())
    del raw["languages"]["zh"]["new_borrowing"]
    with pytest.raises(PhraseListError, match=r"languages\.zh\.new_borrowing: missing"):
        parse_phrase_lists(raw)


@pytest.mark.parametrize("raw", [None, [], "text"])
def test_a_list_that_is_not_a_mapping_is_rejected(raw: Any) -> None:
    with pytest.raises(PhraseListError, match=r"compliance/prohibited\.yaml: must be a mapping"):
        parse_phrase_lists(raw)


def test_custom_lists_are_used_when_given() -> None:
    raw = mutated(["languages", "en", "threat", "phrases"], ["purple elephant"])
    lists = parse_phrase_lists(raw, "custom.yaml")
    assert [f.phrase for f in find_prohibited("A Purple  Elephant!", "en", lists)] == ["purple elephant"]
    assert find_prohibited("A Purple  Elephant!", "en") == []

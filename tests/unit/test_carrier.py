"""The carrier simulator's scenario table -> dialplan (dunline/controller/carrier.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from dunline.controller.carrier import (
    KINDS,
    Scenario,
    ScenarioError,
    dialplan,
    load_table,
    parse_scenario,
    render_dialplan,
)

TABLE = Path(__file__).resolve().parents[1] / "fixtures" / "carrier" / "scenarios.yaml"
SOUNDS = "/var/lib/carrier/sounds"


def apps(lines: list[str]) -> list[str]:
    """The application calls of one extension, in priority order."""
    first = re.fullmatch(r"exten => (\S+),1,(.+)", lines[0])
    assert first, lines[0]
    rest = []
    for line in lines[1:]:
        m = re.fullmatch(r" same => n,(.+)", line)
        assert m, line
        rest.append(m.group(1))
    return [first.group(2), *rest]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenarios.yaml"
    path.write_text(text, "utf-8")
    return path


# ---- the shipped table ---------------------------------------------------------------------------------


def test_shipped_table_parses() -> None:
    table = load_table(TABLE)
    assert len(table) == 57  # Mandarin debtors, the demo's voice debtors, two doubtful answers
    assert table["+14155550101"] == Scenario("human_dtmf", "hello", ("1", "1"), (), 30.0, ("hello",))
    assert table["+14155550104"].kind == "busy"
    assert table["+14155550105"].kind == "no_answer"
    assert table["+14155550106"] == Scenario(
        "voicemail", "voicemail_greeting", (), (), 30.0, ("voicemail_greeting",)
    )
    assert table["+14155550107"].kind == "congestion"
    assert table["+14155550108"].digits == ("2",)
    assert table["+14155550110"].digits == ()
    assert table["+14155550111"] == Scenario(
        "human_speech", "hello", (), ("pay_friday",), 30.0, ("hello", "pay_friday")
    )
    assert table["_+1415556XXXX"] == Scenario("human_hangup", "hello", (), (), 3.0, ("hello",))
    assert {s.kind for s in table.values()} <= set(KINDS)


def test_shipped_table_has_agents_and_debtors_for_agent_campaigns() -> None:
    table = load_table(TABLE)
    assert table["_+1555000100X"] == Scenario("agent", None, (), (), 3600.0, ())
    talk = table["_+14155581XXX"]
    assert (talk.kind, talk.say, talk.hold_s) == ("human_talk", ("pay_friday",), 2.0)
    # the abandoned debtor stays long enough to hear the whole safe-harbour message
    assert table["_+14155582XXX"].hold_s >= 15


def test_shipped_table_covers_every_menu_answer() -> None:
    table = load_table(TABLE)
    pressed = {s.digits for s in table.values() if s.kind == "human_dtmf"}
    assert {("1", "1"), ("1", "2"), ("1", "3"), ("1", "4"), ("2",), ()} <= pressed


def test_shipped_table_renders() -> None:
    text = render_dialplan(load_table(TABLE), SOUNDS)
    blocks = text.split("\n\n")
    assert len(blocks) == 57
    assert all(b.splitlines()[-1] == " same => n,Hangup()" for b in blocks)
    assert "exten => +14155550104,1,NoOp(scenario busy)" in text
    assert "exten => _+1415556XXXX,1,NoOp(scenario human_hangup)" in text


def _overlap(a: str, b: str) -> bool:
    """Whether two dialplan patterns (digits and X only) match a common number."""
    a, b = a.removeprefix("_"), b.removeprefix("_")
    return len(a) == len(b) and all(x == y or "X" in (x, y) for x, y in zip(a, b, strict=True))


def test_shipped_entries_never_overlap() -> None:
    table = load_table(TABLE)
    patterns = [k for k in table if k.startswith("_")]
    numbers = [k for k in table if not k.startswith("_")]
    for i, a in enumerate(patterns):
        assert not any(_overlap(a, b) for b in patterns[i + 1 :]), a
        assert not any(_overlap(a, n) for n in numbers), a


def test_shipped_table_has_the_amd_benchmark_greetings() -> None:
    """bench/amd.py: human greetings on _+14155591NNX, machines on _+14155592NNX, every greeting
    rendered from audio.yaml; humans stay on the line long enough for AMD() to decide."""
    table = load_table(TABLE)
    audio = yaml.safe_load((TABLE.parent / "audio.yaml").read_text("utf-8"))
    humans = {k: s for k, s in table.items() if re.fullmatch(r"_\+14155591\d\dX", k)}
    machines = {k: s for k, s in table.items() if re.fullmatch(r"_\+14155592\d\dX", k)}
    assert len(humans) >= 12 and len(machines) >= 12
    for s in humans.values():
        assert s.kind == "human_hangup" and s.hold_s >= 5.0  # AMD's total_analysis_time is 5 s
    for s in machines.values():
        assert s.kind == "voicemail"
    greetings = [s.greeting for s in (*humans.values(), *machines.values())]
    assert len(set(greetings)) == len(greetings)
    for g in greetings:
        assert g in audio and audio[g]["lang"] == "en" and audio[g]["text"].strip()
    text = render_dialplan(table, SOUNDS)
    for k, s in (*humans.items(), *machines.items()):
        assert f"exten => {k},1,NoOp(scenario {s.kind})" in text
        assert f" same => n,Playback({SOUNDS}/{s.greeting})" in text


def test_shipped_table_has_long_hold_load_debtors() -> None:
    """bench/originate.py --modes long: many calls up at once."""
    assert load_table(TABLE)["_+1415554XXXX"] == Scenario("human_hangup", "hello", (), (), 20.0, ("hello",))


# ---- dialplan per kind -----------------------------------------------------------------------------------


def test_human_dtmf_dialplan() -> None:
    s = parse_scenario("t", {"kind": "human_dtmf", "greeting": "hello", "digits": ["1", "#"], "hold_s": 12})
    assert apps(dialplan("+14155550101", s, SOUNDS)) == [
        "NoOp(scenario human_dtmf)",
        "Answer()",
        "Wait(0.3)",
        f"Playback({SOUNDS}/hello)",
        "WaitForNoise(300,1,20)",
        "WaitForSilence(1200,1,30)",
        "SendDTMF(1,250)",
        "WaitForNoise(300,1,20)",
        "WaitForSilence(1200,1,30)",
        "SendDTMF(#,250)",
        "Wait(12)",
        "Hangup()",
    ]


def test_human_dtmf_without_digits_just_listens() -> None:
    s = parse_scenario("t", {"kind": "human_dtmf", "greeting": "hello", "digits": []})
    a = apps(dialplan("+14155550110", s, SOUNDS))
    assert not any(x.startswith(("SendDTMF", "WaitForNoise")) for x in a)
    assert a[-2:] == ["Wait(30)", "Hangup()"]


def test_human_talk_dialplan_talks_without_waiting_for_prompts() -> None:
    s = parse_scenario(
        "t", {"kind": "human_talk", "greeting": "hello", "say": ["pay_friday", "yes_me"], "hold_s": 4}
    )
    assert s.sounds_used == ("hello", "pay_friday", "yes_me")
    assert apps(dialplan("_+14155581XXX", s, SOUNDS)) == [
        "NoOp(scenario human_talk)",
        "Answer()",
        "Wait(0.3)",
        f"Playback({SOUNDS}/hello)",
        "Wait(2)",  # silence after the greeting: the caller's AMD says human
        f"Playback({SOUNDS}/pay_friday)",
        f"Playback({SOUNDS}/yes_me)",
        "Wait(4)",
        "Hangup()",
    ]


def test_agent_dialplan_answers_and_stays() -> None:
    s = parse_scenario("t", {"kind": "agent"})
    assert s.hold_s == 3600.0 and s.sounds_used == ()
    assert apps(dialplan("_+1555000100X", s, SOUNDS)) == [
        "NoOp(scenario agent)",
        "Answer()",
        "Wait(3600)",
        "Hangup()",
    ]
    shift = parse_scenario("t", {"kind": "agent", "hold_s": 4 * 3600})
    assert apps(dialplan("+15550001001", shift, SOUNDS))[2] == "Wait(14400)"


def test_human_speech_dialplan() -> None:
    s = parse_scenario("t", {"kind": "human_speech", "greeting": "hello", "say": ["yes_its_me", "pay_today"]})
    assert s.sounds_used == ("hello", "yes_its_me", "pay_today")
    assert apps(dialplan("+14155550120", s, SOUNDS))[3:] == [
        f"Playback({SOUNDS}/hello)",
        "WaitForNoise(300,1,20)",
        "WaitForSilence(1200,1,30)",
        f"Playback({SOUNDS}/yes_its_me)",
        "WaitForNoise(300,1,20)",
        "WaitForSilence(1200,1,30)",
        f"Playback({SOUNDS}/pay_today)",
        "Wait(30)",
        "Hangup()",
    ]


def test_busy_dialplan() -> None:
    assert apps(dialplan("+14155550104", parse_scenario("t", {"kind": "busy"}), SOUNDS)) == [
        "NoOp(scenario busy)",
        "Busy(5)",
        "Hangup()",
    ]


def test_congestion_dialplan() -> None:
    assert apps(dialplan("+14155550107", parse_scenario("t", {"kind": "congestion"}), SOUNDS))[1:] == [
        "Congestion(5)",
        "Hangup()",
    ]


def test_no_answer_dialplan_never_answers() -> None:
    a = apps(dialplan("+14155550105", parse_scenario("t", {"kind": "no_answer"}), SOUNDS))
    assert a == ["NoOp(scenario no_answer)", "Ringing()", "Wait(300)", "Hangup()"]
    assert "Answer()" not in a


def test_voicemail_dialplan() -> None:
    s = parse_scenario("t", {"kind": "voicemail", "greeting": "voicemail_greeting", "hold_s": 8.5})
    assert apps(dialplan("+14155550106", s, SOUNDS)) == [
        "NoOp(scenario voicemail)",
        "Answer()",
        "Wait(0.3)",
        f"Playback({SOUNDS}/voicemail_greeting)",
        "Playback(beep)",
        "Wait(8.5)",
        "Hangup()",
    ]


def test_human_hangup_dialplan() -> None:
    s = parse_scenario("t", {"kind": "human_hangup", "greeting": "hello", "hold_s": 3})
    assert apps(dialplan("_+1415556XXXX", s, SOUNDS))[1:] == [
        "Answer()",
        "Wait(0.3)",
        f"Playback({SOUNDS}/hello)",
        "Wait(3)",
        "Hangup()",
    ]


def test_yaml_integer_digits_become_strings(tmp_path: Path) -> None:
    table = load_table(
        write(tmp_path, 'numbers:\n  "+14155550101": {kind: human_dtmf, greeting: hello, digits: [1, 2]}\n')
    )
    assert table["+14155550101"].digits == ("1", "2")


def test_empty_table(tmp_path: Path) -> None:
    assert load_table(write(tmp_path, "")) == {}


# ---- bad entries name the number and the field ------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ("{kind: robot}", "kind"),
        ("{greeting: hello}", "kind"),
        ("{kind: human_dtmf, greeting: hello, digits: ['12']}", "digit '12'"),
        ("{kind: human_dtmf, greeting: hello, digits: ['a']}", "digit 'a'"),
        ("{kind: human_dtmf, digits: ['1']}", "greeting"),
        ("{kind: voicemail}", "greeting"),
        ("{kind: human_speech, greeting: Hello World}", "sound name 'Hello World'"),
        ("{kind: human_speech, greeting: hello, say: ['../etc/passwd']}", "sound name '../etc/passwd'"),
        ("{kind: busy, colour: red}", "colour"),
        ("{kind: human_hangup, greeting: hello, hold_s: 0}", "hold_s"),
        ("{kind: human_hangup, greeting: hello, hold_s: 601}", "hold_s"),
        ("{kind: human_hangup, greeting: hello, hold_s: soon}", "hold_s"),
        ("{kind: human_talk, say: [pay_friday]}", "greeting"),
        ("{kind: human_talk, greeting: hello, hold_s: 3600}", "hold_s must be in (0, 600]"),
        ("{kind: agent, hold_s: 14401}", "hold_s must be in (0, 14400]"),
        ("{kind: agent, hold_s: 0}", "hold_s"),
        ("busy", "mapping"),
    ],
)
def test_bad_entry(tmp_path: Path, entry: str, field: str) -> None:
    path = write(tmp_path, f'numbers:\n  "+14155550101": {entry}\n')
    with pytest.raises(ScenarioError) as info:
        load_table(path)
    msg = str(info.value)
    assert "+14155550101" in msg
    assert field in msg


@pytest.mark.parametrize(
    "number", ["14155550101", "+0123456789", "+1415", "+1415555010a", "+1234567890123456"]
)
def test_bad_number(tmp_path: Path, number: str) -> None:
    path = write(tmp_path, f'numbers:\n  "{number}": {{kind: busy}}\n')
    with pytest.raises(ScenarioError, match=r"not an E\.164 number") as info:
        load_table(path)
    assert repr(number) in str(info.value)


def test_unquoted_number_is_rejected(tmp_path: Path) -> None:
    # YAML reads +14155550101 unquoted as an integer: the '+' is lost, so the entry must be refused
    with pytest.raises(ScenarioError, match=r"not an E\.164 number"):
        load_table(write(tmp_path, "numbers:\n  +14155550101: {kind: busy}\n"))


@pytest.mark.parametrize("pattern", ["_+14", "+1415556XXXX", "_+1415556XXXY", "_1415556XXXX"])
def test_bad_pattern(tmp_path: Path, pattern: str) -> None:
    path = write(tmp_path, f'patterns:\n  "{pattern}": {{kind: busy}}\n')
    with pytest.raises(ScenarioError, match="not a pattern") as info:
        load_table(path)
    assert repr(pattern) in str(info.value)


def test_bad_entry_under_a_pattern_names_the_pattern(tmp_path: Path) -> None:
    path = write(tmp_path, 'patterns:\n  "_+1415556XXXX": {kind: human_hangup}\n')
    with pytest.raises(ScenarioError, match=r"_\+1415556XXXX: a human_hangup scenario needs a greeting"):
        load_table(path)

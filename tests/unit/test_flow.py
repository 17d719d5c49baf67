"""The IVR flow schema and its load-time right-party-first check (dunline/ivr/flow.py)."""

from __future__ import annotations

import copy
import itertools
import re
from importlib import resources
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dunline.ivr.flow import FlowError, parse_flow
from dunline.ivr.prompts import load_catalog

PROMPTS = {"hello", "question", "again", "debt", "menu", "bye"}


def shipped_raw() -> dict[str, Any]:
    text = resources.files("dunline.config").joinpath("defaults/flows/collect_dtmf.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def base_raw() -> dict[str, Any]:
    """A small valid flow: hello -> ask (1 verifies -> debt -> bye, 2 -> bye, silence -> bye)."""
    return {
        "id": "t",
        "start": "hello",
        "nodes": {
            "hello": {"play": ["hello"], "next": "ask"},
            "ask": {
                "ask": ["question"],
                "reprompt": ["again"],
                "digits": {"1": {"next": "debt", "verify": True}, "2": {"next": "bye", "outcome": "wp"}},
                "no_input": {"next": "bye", "outcome": "no_input"},
            },
            "debt": {"play": ["debt"], "discloses_debt": True, "next": "bye"},
            "bye": {"play": ["bye"], "hangup": True},
        },
    }


def error_of(raw: dict[str, Any], prompts: set[str] = PROMPTS) -> str:
    with pytest.raises(FlowError) as info:
        parse_flow(raw, prompts)
    return str(info.value)


# ---- the shipped flow -------------------------------------------------------------------------------


def test_shipped_flow_loads_against_the_shipped_catalog() -> None:
    flow = parse_flow(shipped_raw(), load_catalog("en").keys())
    assert flow.id == "collect-dtmf"
    assert flow.start == "notice"
    rpc = flow.node("rpc")
    assert rpc.ask and rpc.digits is not None
    assert rpc.digits["1"].verify and rpc.digits["1"].next == "disclosure"
    assert rpc.digits["2"].outcome == "wrong_party" and not rpc.digits["2"].verify
    assert {n for n, node in flow.nodes.items() if node.discloses_debt} == {"disclosure", "menu"}
    menu = flow.node("menu")
    assert menu.digits is not None
    assert {d: (e.outcome, e.flag) for d, e in menu.digits.items()} == {
        "1": ("promise_to_pay", None),
        "2": ("payment_plan", None),
        "3": ("dispute", "dispute"),
        "4": ("cease", "cease"),
    }
    assert flow.node("bye_cease").hangup


def test_shipped_flow_without_the_verify_edge_is_rejected() -> None:
    raw = shipped_raw()
    raw["nodes"]["rpc"]["digits"]["1"]["verify"] = False
    msg = error_of(raw, set(load_catalog("en")))
    assert "'disclosure'" in msg
    assert "notice -> rpc -> disclosure" in msg


def test_base_flow_is_accepted() -> None:
    flow = parse_flow(base_raw(), PROMPTS)
    assert set(flow.nodes) == {"hello", "ask", "debt", "bye"}


# ---- right party first --------------------------------------------------------------------------------


def test_disclosure_directly_from_start_is_rejected() -> None:
    raw = base_raw()
    raw["start"] = "debt"
    msg = error_of(raw)
    assert "node 'debt' discloses debt" in msg
    assert "(path: debt)" in msg


def test_start_that_plays_straight_into_disclosure_is_rejected() -> None:
    raw = base_raw()
    raw["nodes"]["hello"]["next"] = "debt"
    msg = error_of(raw)
    assert "'debt'" in msg and "hello -> debt" in msg


def test_disclosure_via_no_input_edge_is_rejected() -> None:
    raw = base_raw()
    raw["nodes"]["ask"]["no_input"] = {"next": "debt", "outcome": "no_input"}
    msg = error_of(raw)
    assert "'debt'" in msg
    assert "hello -> ask -> debt" in msg


def test_disclosure_via_a_wrong_key_is_rejected() -> None:
    raw = base_raw()
    raw["nodes"]["ask"]["digits"]["3"] = {"next": "debt"}
    assert "hello -> ask -> debt" in error_of(raw)


def test_wrong_party_branch_that_later_joins_the_disclosure_is_rejected() -> None:
    raw = base_raw()
    raw["nodes"]["ask"]["digits"]["2"] = {"next": "sorry", "outcome": "wp"}
    raw["nodes"]["sorry"] = {"play": ["bye"], "next": "debt"}
    msg = error_of(raw)
    assert "node 'debt'" in msg
    assert "hello -> ask -> sorry -> debt" in msg


def test_join_through_a_second_question_is_rejected() -> None:
    raw = base_raw()
    raw["nodes"]["ask"]["digits"]["2"] = {"next": "ask2"}
    raw["nodes"]["ask2"] = {
        "ask": ["question"],
        "digits": {"9": {"next": "bye"}, "#": {"next": "debt"}},
        "no_input": {"next": "bye"},
    }
    assert "hello -> ask -> ask2 -> debt" in error_of(raw)


def test_verify_on_one_path_does_not_cover_another() -> None:
    # the same disclosing node reached verified on one branch and unverified on another
    raw = base_raw()
    raw["nodes"]["ask"]["digits"]["2"] = {"next": "debt"}
    assert "'debt'" in error_of(raw)


def test_verified_path_through_a_loop_is_accepted() -> None:
    raw = base_raw()
    raw["nodes"]["debt"]["next"] = "ask"  # back to the question after verification: still fine
    parse_flow(raw, PROMPTS)


def test_unreachable_disclosing_node_is_not_an_error() -> None:
    raw = base_raw()
    raw["nodes"]["orphan"] = {"play": ["debt"], "discloses_debt": True, "hangup": True}
    parse_flow(raw, PROMPTS)


# ---- schema errors --------------------------------------------------------------------------------------


def test_unknown_start_node() -> None:
    raw = base_raw()
    raw["start"] = "nowhere"
    assert "start node 'nowhere' does not exist" in error_of(raw)


def test_unknown_next_node() -> None:
    raw = base_raw()
    raw["nodes"]["hello"]["next"] = "nowhere"
    msg = error_of(raw)
    assert "node 'hello'" in msg and "'nowhere'" in msg


def test_unknown_digit_target() -> None:
    raw = base_raw()
    raw["nodes"]["ask"]["digits"]["2"]["next"] = "nowhere"
    msg = error_of(raw)
    assert "node 'ask'" in msg and "'nowhere'" in msg


def test_unknown_prompt() -> None:
    raw = base_raw()
    raw["nodes"]["debt"]["play"] = ["debt", "mystery"]
    msg = error_of(raw)
    assert "node 'debt'" in msg and "'mystery'" in msg


def test_unknown_reprompt() -> None:
    raw = base_raw()
    raw["nodes"]["ask"]["reprompt"] = ["mystery"]
    msg = error_of(raw)
    assert "node 'ask'" in msg and "'mystery'" in msg


def test_ask_without_digits() -> None:
    raw = base_raw()
    del raw["nodes"]["ask"]["digits"]
    msg = error_of(raw)
    assert "node 'ask'" in msg and "digits" in msg


def test_ask_with_empty_digits() -> None:
    raw = base_raw()
    raw["nodes"]["ask"]["digits"] = {}
    assert "node 'ask'" in error_of(raw)


def test_ask_with_digits_as_a_list() -> None:
    raw = base_raw()
    raw["nodes"]["ask"]["digits"] = ["1", "2"]
    msg = error_of(raw)
    assert "node 'ask'" in msg and "digits" in msg


def test_ask_without_no_input() -> None:
    raw = base_raw()
    del raw["nodes"]["ask"]["no_input"]
    msg = error_of(raw)
    assert "node 'ask'" in msg and "no_input" in msg


@pytest.mark.parametrize("key", ["12", "a", "", "x1", " "])
def test_bad_digit_key(key: str) -> None:
    raw = base_raw()
    raw["nodes"]["ask"]["digits"][key] = {"next": "bye"}
    msg = error_of(raw)
    assert "node 'ask'" in msg and "not a DTMF digit" in msg


@pytest.mark.parametrize("key", ["0", "9", "*", "#"])
def test_every_dtmf_key_is_accepted(key: str) -> None:
    raw = base_raw()
    raw["nodes"]["ask"]["digits"][key] = {"next": "bye"}
    flow = parse_flow(raw, PROMPTS)
    digits = flow.node("ask").digits
    assert digits is not None and key in digits


def test_integer_digit_keys_from_yaml_are_accepted() -> None:
    raw = yaml.safe_load(
        "id: t\nstart: a\nnodes:\n"
        "  a: {ask: [question], digits: {1: {next: b}}, no_input: {next: b}}\n"
        "  b: {play: [bye], hangup: true}\n"
    )
    digits = parse_flow(raw, PROMPTS).node("a").digits
    assert digits is not None and set(digits) == {"1"}


def test_both_play_and_ask() -> None:
    raw = base_raw()
    raw["nodes"]["hello"]["ask"] = ["question"]
    msg = error_of(raw)
    assert "node 'hello'" in msg and "exactly one of `play` or `ask`" in msg


def test_neither_play_nor_ask() -> None:
    raw = base_raw()
    raw["nodes"]["bye"] = {"hangup": True}
    assert "node 'bye'" in error_of(raw)


def test_play_without_next_or_hangup() -> None:
    raw = base_raw()
    del raw["nodes"]["bye"]["hangup"]
    msg = error_of(raw)
    assert "node 'bye'" in msg and "hangup" in msg


def test_empty_prompt_list() -> None:
    raw = base_raw()
    raw["nodes"]["hello"]["play"] = []
    assert "node 'hello'" in error_of(raw)


def test_unknown_node_field() -> None:
    raw = base_raw()
    raw["nodes"]["hello"]["colour"] = "red"
    msg = error_of(raw)
    assert "node 'hello'" in msg and "colour" in msg


def test_unknown_edge_field_and_edge_without_next() -> None:
    raw = base_raw()
    raw["nodes"]["ask"]["digits"]["2"]["goto"] = "bye"
    msg = error_of(raw)
    assert "node 'ask' digit 2" in msg and "goto" in msg
    raw = base_raw()
    raw["nodes"]["ask"]["no_input"] = {"outcome": "no_input"}
    msg = error_of(raw)
    assert "node 'ask' no_input" in msg and "`next`" in msg


@pytest.mark.parametrize("key", ["id", "start", "nodes"])
def test_missing_top_level_key(key: str) -> None:
    raw = base_raw()
    del raw[key]
    assert f"missing `{key}`" in error_of(raw)


def test_nodes_not_a_mapping() -> None:
    raw = base_raw()
    raw["nodes"] = ["hello"]
    assert "nodes" in error_of(raw)


def test_node_not_a_mapping() -> None:
    raw = base_raw()
    raw["nodes"]["hello"] = "play hello"
    assert "node 'hello'" in error_of(raw)


# ---- property: the checker against an independent reference ----------------------------------------------


def unverified_paths_to_disclosure(raw: dict[str, Any]) -> list[list[str]]:
    """Reference: every simple path from the start that crosses no `verify: true` edge and ends on a
    disclosing node (written independently of the checker: DFS over node sequences)."""
    nodes = raw["nodes"]

    def out_edges(node: dict[str, Any]) -> list[tuple[str, bool]]:
        edges = [(e["next"], bool(e.get("verify"))) for e in (node.get("digits") or {}).values()]
        if "no_input" in node:
            edges.append((node["no_input"]["next"], bool(node["no_input"].get("verify"))))
        if node.get("next"):
            edges.append((node["next"], False))
        return edges

    found: list[list[str]] = []

    def dfs(path: list[str]) -> None:
        node = nodes[path[-1]]
        if node.get("discloses_debt"):
            found.append(path)
        for target, verify in out_edges(node):
            if not verify and target not in path:
                dfs([*path, target])

    dfs([raw["start"]])
    return found


def is_unverified_walk(raw: dict[str, Any], path: list[str]) -> bool:
    """True when consecutive nodes of `path` are joined by an edge without `verify`."""
    nodes = raw["nodes"]
    if path[0] != raw["start"]:
        return False
    for a, b in itertools.pairwise(path):
        node = nodes[a]
        edges = list((node.get("digits") or {}).values())
        if "no_input" in node:
            edges.append(node["no_input"])
        if node.get("next"):
            edges.append({"next": node["next"]})
        if not any(e["next"] == b and not e.get("verify") for e in edges):
            return False
    return True


@st.composite
def small_flows(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(min_value=1, max_value=6))
    ids = [f"n{i}" for i in range(n)]
    target = st.sampled_from(ids)

    def edge() -> dict[str, Any]:
        e: dict[str, Any] = {"next": draw(target)}
        if draw(st.booleans()):
            e["verify"] = draw(st.booleans())
        return e

    nodes: dict[str, Any] = {}
    for node_id in ids:
        node: dict[str, Any]
        if draw(st.booleans()):
            keys = draw(
                st.lists(st.sampled_from(sorted("0123456789*#")), min_size=1, max_size=3, unique=True)
            )
            node = {"ask": ["question"], "digits": {k: edge() for k in keys}, "no_input": edge()}
        elif draw(st.booleans()):
            node = {"play": ["hello"], "next": draw(target)}
        else:
            node = {"play": ["bye"], "hangup": True}
        if draw(st.booleans()):
            node["discloses_debt"] = True
        nodes[node_id] = node
    return {"id": "random", "start": draw(target), "nodes": nodes}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_flows())
def test_checker_agrees_with_reference(raw: dict[str, Any]) -> None:
    expected_bad = unverified_paths_to_disclosure(raw)
    original = copy.deepcopy(raw)
    if not expected_bad:
        flow = parse_flow(raw, PROMPTS)
        assert set(flow.nodes) == set(raw["nodes"])
    else:
        msg = error_of(raw)
        m = re.search(r"node '(\w+)' discloses debt .*\(path: ([\w >-]+)\)", msg)
        assert m, msg
        path = m.group(2).split(" -> ")
        # the error names a real unverified walk from the start that ends on the named disclosing node
        assert path[-1] == m.group(1)
        assert raw["nodes"][m.group(1)].get("discloses_debt")
        assert is_unverified_walk(raw, path), (msg, raw)
        # and, being breadth first, no longer than the shortest path the reference found
        assert len(path) <= min(len(p) for p in expected_bad)
    assert raw == original  # parsing does not mutate its input


def test_play_node_with_both_next_and_hangup_is_rejected() -> None:
    raw = base_raw()
    raw["nodes"]["bye"]["next"] = "hello"
    assert "'bye'" in error_of(raw) and "exactly one of" in error_of(raw)


def test_a_flow_that_does_not_open_with_the_recording_notice_is_rejected() -> None:
    from dunline.ivr.flow import check_notice_first

    flow = parse_flow(shipped_raw(), load_catalog("en").keys(), notice="recording_notice")
    check_notice_first(flow, "recording_notice")  # the shipped flow opens with it
    raw = shipped_raw()
    raw["nodes"][raw["start"]]["play"] = ["rpc_reprompt"]
    with pytest.raises(FlowError, match=r"start node 'notice' must play 'recording_notice' first"):
        parse_flow(raw, load_catalog("en").keys(), notice="recording_notice")


def test_a_prompt_naming_the_company_or_the_debt_before_verification_is_rejected() -> None:
    """The company's name may say it collects debts ("... Recovery Services"): an answering machine or
    a relative would hear it. Such prompts are found from their placeholders, whatever the flow says."""
    from dunline.ivr.prompts import disclosing, parse_catalog

    catalog = parse_catalog(
        {
            "hello": {"text": "Hello, this is {company}."},
            "question": {"scope": "account", "text": "Are you {name}? Press 1 if so."},
            "again": {"text": "Press 1 or 2."},
            "debt": {"scope": "account", "text": "You owe {amount}."},
            "menu": {"text": "Press 1 to pay."},
            "bye": {"text": "Goodbye from {voicemail_name}."},
        }
    )
    assert disclosing(catalog) == {"hello", "debt"}
    with pytest.raises(FlowError, match=r"node 'hello' plays 'hello', which names the debt or the company"):
        parse_flow(base_raw(), catalog.keys(), disclosing=disclosing(catalog))
    raw = base_raw()
    raw["nodes"]["hello"]["play"] = ["bye"]  # a neutral opening; "debt" is played after the 1 that verifies
    assert parse_flow(raw, catalog.keys(), disclosing=disclosing(catalog)).start == "hello"


@pytest.mark.parametrize("name", ["collect_dtmf", "collect_speech"])
def test_the_shipped_flows_name_no_collector_before_verification(name: str) -> None:
    from dunline.controller.app import load_flow
    from dunline.ivr.prompts import disclosing

    for lang in ("en", "zh"):
        catalog = load_catalog(lang)
        assert "company" not in catalog["recording_notice"].fields | catalog["safe_harbour"].fields
        assert "recording_notice" not in disclosing(catalog) and "mini_miranda" not in disclosing(catalog)
    assert load_flow(name).start  # loads with the placeholder check on

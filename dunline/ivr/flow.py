"""IVR flow schema and load-time checks (pure).

A flow is a graph of nodes. `play` nodes speak prompts and go on (`next`) or hang up; `ask` nodes
speak prompts and wait for one DTMF digit. A flow is rejected when it loads if:
- a node, `next` target or prompt id does not exist;
- a node that discloses the debt (`discloses_debt: true`) can be reached on any path that has not
  crossed a right-party verification edge (`verify: true`): the error names the node and the path;
- the start node does not play the recording notice first (when `notice` names its prompt);
- a `doubt_checks` entry names no ask node, or `$back` is used outside a check node.

`doubt_checks` (intent -> ask node) is where a legal flag heard doubtfully goes before it is set: the
node asks whether it was meant ("do you want us to stop calling you?"); its edges either set the flag or
go `$back` to the question that was being answered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DIGITS = frozenset("0123456789*#")
BACK = "$back"  # an edge of a check node: return to the question the doubtful answer was given to


class FlowError(ValueError):
    """A flow that must not run; the message names the node and the reason."""


@dataclass(frozen=True)
class Edge:
    next: str
    outcome: str | None = None
    verify: bool = False
    flag: str | None = None
    confirm: bool = False  # hold the outcome (and its slots) until a later `commit` edge
    commit: bool = False  # record the outcome held by a `confirm` edge


@dataclass(frozen=True)
class Node:
    id: str
    prompts: tuple[str, ...]
    ask: bool = False
    reprompt: tuple[str, ...] = ()
    digits: Mapping[str, Edge] | None = None
    no_input: Edge | None = None
    next: str | None = None
    hangup: bool = False
    discloses_debt: bool = False
    intents: Mapping[str, Edge] | None = None  # spoken answers (ask nodes): intent -> edge
    dtmf_fallback: tuple[str, ...] = ()  # prompts once speech failed twice: keypad only from then on

    def edges(self) -> Iterable[Edge]:
        if self.digits:
            yield from self.digits.values()
        if self.intents:
            yield from self.intents.values()
        if self.no_input:
            yield self.no_input
        if self.next:
            yield Edge(self.next)


@dataclass(frozen=True)
class Flow:
    id: str
    start: str
    nodes: Mapping[str, Node]
    global_intents: Mapping[str, Edge] | None = None  # spoken at any question: cease, attorney, ...
    doubt_checks: Mapping[str, str] | None = None  # intent -> the ask node that checks a doubtful one

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]


def _edge(where: str, raw: Any) -> Edge:
    if not isinstance(raw, Mapping) or "next" not in raw:
        raise FlowError(f"{where}: an edge needs `next`")
    unknown = set(raw) - {"next", "outcome", "verify", "flag", "confirm", "commit"}
    if unknown:
        raise FlowError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    edge = Edge(
        str(raw["next"]),
        raw.get("outcome"),
        bool(raw.get("verify", False)),
        raw.get("flag"),
        bool(raw.get("confirm", False)),
        bool(raw.get("commit", False)),
    )
    if edge.confirm and not edge.outcome:
        raise FlowError(f"{where}: a `confirm` edge needs the `outcome` it holds")
    if edge.commit and edge.outcome:
        raise FlowError(f"{where}: a `commit` edge records the held outcome; it takes no `outcome`")
    return edge


def _intent_edges(where: str, raw: Any) -> dict[str, Edge]:
    from dunline.ivr.speech.types import INTENTS

    if not isinstance(raw, Mapping):
        raise FlowError(f"{where}: `intents` must be a mapping of intent -> edge")
    out = {}
    for key, edge in raw.items():
        if str(key) not in INTENTS:
            raise FlowError(f"{where}: {key!r} is not an intent ({', '.join(INTENTS)})")
        out[str(key)] = _edge(f"{where} intent {key}", edge)
    return out


def _node(node_id: str, raw: Any) -> Node:
    where = f"node {node_id!r}"
    if not isinstance(raw, Mapping):
        raise FlowError(f"{where}: must be a mapping")
    known = {"play", "ask", "reprompt", "digits", "no_input", "next", "hangup", "discloses_debt"}
    known |= {"intents", "dtmf_fallback"}
    unknown = set(raw) - known
    if unknown:
        raise FlowError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    if ("play" in raw) == ("ask" in raw):
        raise FlowError(f"{where}: needs exactly one of `play` or `ask`")
    is_ask = "ask" in raw
    prompts = tuple(str(p) for p in (raw["ask"] if is_ask else raw["play"]))
    if not prompts:
        raise FlowError(f"{where}: no prompts")
    digits: dict[str, Edge] | None = None
    if is_ask:
        raw_digits = raw.get("digits") or {}
        if not isinstance(raw_digits, Mapping):
            raise FlowError(f"{where}: `digits` must map each digit to an edge")
        if not raw_digits:
            raise FlowError(f"{where}: an ask node needs `digits`")
        digits = {}
        for key, edge in raw_digits.items():
            if str(key) not in DIGITS:
                raise FlowError(f"{where}: {key!r} is not a DTMF digit")
            digits[str(key)] = _edge(f"{where} digit {key}", edge)
        if "no_input" not in raw:
            raise FlowError(f"{where}: an ask node needs `no_input`")
    elif bool(raw.get("next")) == bool(raw.get("hangup")):
        raise FlowError(f"{where}: a play node needs exactly one of `next` or `hangup: true`")
    return Node(
        id=node_id,
        prompts=prompts,
        ask=is_ask,
        reprompt=tuple(str(p) for p in raw.get("reprompt") or ()),
        digits=digits,
        no_input=_edge(f"{where} no_input", raw["no_input"]) if is_ask else None,
        next=str(raw["next"]) if raw.get("next") else None,
        hangup=bool(raw.get("hangup", False)),
        discloses_debt=bool(raw.get("discloses_debt", False)),
        intents=_intent_edges(where, raw["intents"]) if is_ask and raw.get("intents") else None,
        dtmf_fallback=tuple(str(p) for p in raw.get("dtmf_fallback") or ()),
    )


def _doubt_checks(raw: Any, nodes: Mapping[str, Node]) -> dict[str, str] | None:
    from dunline.ivr.speech.types import INTENTS

    if not raw:
        return None
    if not isinstance(raw, Mapping):
        raise FlowError("doubt_checks: must map an intent to the ask node that checks it")
    out = {}
    for intent, node_id in raw.items():
        if str(intent) not in INTENTS:
            raise FlowError(f"doubt_checks: {intent!r} is not an intent")
        node = nodes.get(str(node_id))
        if node is None or not node.ask:
            raise FlowError(f"doubt_checks: {intent!r} goes to {node_id!r}, which is not an ask node")
        out[str(intent)] = str(node_id)
    return out


def check_right_party_first(flow: Flow, disclosing: frozenset[str] = frozenset()) -> None:
    """Walk every (node, verified) state from the start; a debt-disclosing node reached unverified
    is an error naming the node and the path that reaches it. A node discloses when it says so
    (`discloses_debt: true`) or plays one of the `disclosing` prompts (prompts.disclosing: those that
    say the debt or the company's name)."""
    start = (flow.start, False)
    seen = {start}
    queue: deque[tuple[str, bool, tuple[str, ...]]] = deque([(flow.start, False, (flow.start,))])
    while queue:
        node_id, verified, path = queue.popleft()
        node = flow.node(node_id)
        said = [p for p in (*node.prompts, *node.reprompt, *node.dtmf_fallback) if p in disclosing]
        if (node.discloses_debt or said) and not verified:
            what = (
                f"plays {said[0]!r}, which names the debt or the company,"
                if said
                else "discloses debt details"
            )
            raise FlowError(
                f"node {node_id!r} {what} before right-party verification (path: {' -> '.join(path)})"
            )
        heard = {*(node.intents or {}), *(flow.global_intents or {})} if node.ask else set()
        checks = [Edge(c) for i, c in (flow.doubt_checks or {}).items() if i in heard]
        for edge in (*node.edges(), *((flow.global_intents or {}).values() if node.ask else ()), *checks):
            if edge.next == BACK:
                continue  # back to a question already reached in this state
            state = (edge.next, verified or edge.verify)
            if state not in seen:
                seen.add(state)
                queue.append((edge.next, state[1], (*path, edge.next)))


def check_notice_first(flow: Flow, notice: str) -> None:
    """The first words of every call must be the recording notice (required by the UK and China
    profiles, and by every US state that needs all-party consent to record)."""
    start = flow.node(flow.start)
    if not start.prompts or start.prompts[0] != notice:
        first = start.prompts[0] if start.prompts else None
        raise FlowError(
            f"flow {flow.id!r}: start node {start.id!r} must play {notice!r} first (it plays {first!r})"
        )


def parse_flow(
    raw: Mapping[str, Any],
    prompt_ids: Iterable[str],
    *,
    notice: str | None = None,
    disclosing: Iterable[str] = (),
) -> Flow:
    if not isinstance(raw, Mapping):
        raise FlowError("a flow must be a mapping")
    for key in ("id", "start", "nodes"):
        if key not in raw:
            raise FlowError(f"flow: missing `{key}`")
    if not isinstance(raw["nodes"], Mapping):
        raise FlowError("flow: `nodes` must map node ids to nodes")
    nodes = {str(k): _node(str(k), v) for k, v in raw["nodes"].items()}
    globals_ = (
        _intent_edges("flow global_intents", raw["global_intents"]) if raw.get("global_intents") else None
    )
    checks = _doubt_checks(raw.get("doubt_checks"), nodes)
    flow = Flow(str(raw["id"]), str(raw["start"]), nodes, globals_, checks)
    if flow.start not in nodes:
        raise FlowError(f"flow {flow.id!r}: start node {flow.start!r} does not exist")
    known = set(prompt_ids)
    for edge in (flow.global_intents or {}).values():
        if edge.next not in nodes:
            raise FlowError(f"global_intents: goes to unknown node {edge.next!r}")
    for node in nodes.values():
        for edge in node.edges():
            if edge.next == BACK and node.id not in (checks or {}).values():
                raise FlowError(f"node {node.id!r}: `{BACK}` is only for the nodes of doubt_checks")
            if edge.next not in nodes and edge.next != BACK:
                raise FlowError(f"node {node.id!r}: goes to unknown node {edge.next!r}")
        for p in (*node.prompts, *node.reprompt, *node.dtmf_fallback):
            if p not in known:
                raise FlowError(f"node {node.id!r}: unknown prompt {p!r}")
    check_right_party_first(flow, frozenset(disclosing))
    if notice is not None:
        check_notice_first(flow, notice)
    return flow

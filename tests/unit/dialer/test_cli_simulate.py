"""`dunline simulate pacing` (dunline/controller/cli_simulate.py), through its own parser since cli.py
registers the command separately."""

from __future__ import annotations

import argparse
import json

import pytest

from dunline.controller.cli_simulate import add_simulate_commands

SHAPE = {
    "algorithm": str,
    "agent_occupancy": float,
    "talk_minutes_per_agent_hour": float,
    "abandon_rate": float,
    "max_abandon_rate_any_window": float,
    "first_hour_abandon_rate": float,
    "calls_placed": int,
    "answered": int,
    "idle_gap_s_p50": float,
}


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dunline")
    add_simulate_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.fn(args))


BASE = ["simulate", "pacing", "--agents", "4", "--hours", "0.1", "--answer-rate", "0.3", "--talk-mean", "60"]


@pytest.mark.parametrize("algorithm", ["vicidial", "issabel", "dunline"])
def test_json_document_shape(algorithm: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*BASE, "--algorithm", algorithm, "--seed", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc)[: len(SHAPE)] == list(SHAPE)
    for key, kind in SHAPE.items():
        assert type(doc[key]) is kind, key
    assert doc["algorithm"] == algorithm
    assert doc["calls_placed"] > 0


def test_vicidial_method_is_passed_on(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*BASE, "--algorithm", "vicidial", "--vicidial-method", "ADAPT_HARD_LIMIT", "--json"]
    assert run(argv) == 0
    assert json.loads(capsys.readouterr().out)["vicidial_method"] == "ADAPT_HARD_LIMIT"


def test_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*BASE, "--algorithm", "issabel", "--machine-rate", "0", "--wrap-mean", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("issabel: 4 agents")
    assert "occupancy" in out and "abandons" in out


@pytest.mark.parametrize(
    ("flag", "value", "named"),
    [
        ("--agents", "0", "--agents"),
        ("--hours", "0", "--hours"),
        ("--hours", "-2", "--hours"),
        ("--hours", "16", "--hours"),  # one day from 09:00
        ("--answer-rate", "0", "--answer-rate"),
        ("--answer-rate", "1.5", "--answer-rate"),
        ("--talk-mean", "0", "--talk-mean"),
        ("--wrap-mean", "-1", "--wrap-mean"),
        ("--machine-rate", "1", "--machine-rate"),
    ],
)
def test_bad_arguments_exit_2_naming_the_argument(
    flag: str, value: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*BASE, "--algorithm", "dunline", flag, value]  # argparse keeps the last value given
    assert run(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and named in err
    assert "\n" not in err


def test_unknown_algorithm_is_an_argparse_error() -> None:
    with pytest.raises(SystemExit) as exc:
        run([*BASE, "--algorithm", "genesys"])
    assert exc.value.code == 2

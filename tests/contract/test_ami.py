"""Contract tests of dunline.dialer.ami against a scripted AMI server (Asterisk 22 message shapes)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
from ami_server import (
    Conn,
    ReceivedAction,
    ScriptedAmiServer,
    drop,
    error_reply,
    originate_reply,
    silent,
    then_drop,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from dunline.dialer.ami import (
    ORIGINATE_REASONS,
    Ami,
    AmiActionError,
    AmiConnectionError,
    AmiError,
    AmiSettings,
    AmiTimeout,
    AmiValueError,
    OriginateResult,
)

MakeAmi = Callable[..., Ami]


@pytest.fixture
async def server() -> AsyncIterator[ScriptedAmiServer]:
    srv = await ScriptedAmiServer().start()
    yield srv
    await srv.stop()


def ami_settings(port: int, **overrides: Any) -> AmiSettings:
    base: dict[str, Any] = dict(
        host="127.0.0.1",
        port=port,
        username="dunline",
        secret="s3cret-pass",
        action_timeout=0.5,
        connect_timeout=1.0,
        ping_interval=30.0,
        ping_timeout=0.3,
        reconnect_delay=0.05,
    )
    return AmiSettings(**{**base, **overrides})


@pytest.fixture
async def make_ami(server: ScriptedAmiServer) -> AsyncIterator[MakeAmi]:
    clients: list[Ami] = []

    def make(**overrides: Any) -> Ami:
        ami = Ami(ami_settings(server.port, **overrides))
        clients.append(ami)
        return ami

    yield make
    for ami in clients:
        await ami.close()


async def connected(make_ami: MakeAmi, **overrides: Any) -> Ami:
    ami = make_ami(**overrides)
    await ami.connect()
    return ami


async def wait_for(predicate: Callable[[], bool], limit: float = 2.0) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > limit:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


def raised_now(coro: Coroutine[Any, Any, Any]) -> BaseException:
    """Run a coroutine up to its first suspension; return what it raised before any I/O."""
    try:
        coro.send(None)
    except BaseException as exc:
        return exc
    finally:
        coro.close()
    raise AssertionError("the coroutine suspended instead of raising")


# -- 1. header injection and limits ---------------------------------------------------------------
BAD = ["\r", "\n", "\r\n", "\x00"]
CASES: dict[str, Callable[[Ami, str], Coroutine[Any, Any, Any]]] = {
    "Channel": lambda a, b: a.originate(
        channel=f"PJSIP/100{b}Action: Hangup", context="out", exten="s", channel_id="c1"
    ),
    "CallerID": lambda a, b: a.originate(
        channel="PJSIP/100", context="out", exten="s", channel_id="c1", caller_id=f"Acme{b}Evil: 1"
    ),
    "Context": lambda a, b: a.originate(
        channel="PJSIP/100", context=f"out{b}Evil: 1", exten="s", channel_id="c1"
    ),
    "Variable DEBT_ID": lambda a, b: a.originate(
        channel="PJSIP/100", context="out", exten="s", channel_id="c1", variables={"DEBT_ID": f"7{b}Evil: 1"}
    ),
    "Mailbox": lambda a, b: a.action("MailboxStatus", {"Mailbox": f"100{b}Evil: 1"}),
}


@pytest.mark.parametrize("bad", BAD, ids=repr)
@pytest.mark.parametrize("header", list(CASES))
async def test_injection_rejected_and_nothing_sent(
    make_ami: MakeAmi, server: ScriptedAmiServer, header: str, bad: str
) -> None:
    ami = await connected(make_ami)
    with pytest.raises(AmiValueError, match=re.escape(repr(header))):
        await CASES[header](ami, bad)
    await ami.ping()  # the connection still works and nothing of the bad action reached it
    assert [a.name for a in server.received] == ["login", "ping"]
    assert b"Evil" not in server.raw and b"Hangup" not in server.raw


@pytest.mark.parametrize(
    "name", ["X\r\nEvil", "X\nEvil", "X\x00", "", "Bad Name", "Colon:", "Action", "ActionID"]
)
async def test_bad_or_reserved_header_names_rejected(
    make_ami: MakeAmi, server: ScriptedAmiServer, name: str
) -> None:
    ami = await connected(make_ami)
    with pytest.raises(AmiValueError, match=re.escape(repr(name))):
        await ami.action("MailboxStatus", {name: "1"})
    assert [a.name for a in server.received] == ["login"]


@pytest.mark.parametrize("name", ["Ping\r\nAction: Hangup", "", "Originate", "originate", "Login", "Logoff"])
async def test_bad_or_reserved_action_names_rejected(
    make_ami: MakeAmi, server: ScriptedAmiServer, name: str
) -> None:
    ami = await connected(make_ami)
    with pytest.raises(AmiValueError):
        await ami.action(name, {"Application": "System", "Data": "id"})
    assert [a.name for a in server.received] == ["login"]


async def test_line_limit_is_1024_bytes(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    ami = await connected(make_ami)
    fits = "y" * (1024 - len("Body: \r\n"))
    with pytest.raises(AmiActionError):  # sent; the scripted server does not know UserEvent
        await ami.action("UserEvent", {"UserEvent": "x", "Body": fits})
    assert len(server.actions("userevent")) == 1
    with pytest.raises(AmiValueError, match=r"'Body'.*1024"):
        await ami.action("UserEvent", {"UserEvent": "x", "Body": fits + "y"})
    with pytest.raises(AmiValueError, match=r"'Variable'.*1024"):
        await ami.originate(
            channel="PJSIP/1", context="out", exten="s", channel_id="c1", variables={"V": "z" * 1100}
        )
    assert len(server.actions("userevent")) == 1 and not server.actions("originate")


async def test_header_count_limit_is_128(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    ami = await connected(make_ami)

    def many(n: int) -> dict[str, str]:
        return {f"V{i}": str(i) for i in range(n)}

    # Action, ActionID, Channel, Context, Exten, Priority, ChannelId, Timeout, Async = 9 headers
    with pytest.raises(AmiValueError, match="129 headers"):
        await ami.originate(channel="PJSIP/1", context="out", exten="s", channel_id="c1", variables=many(120))
    assert not server.actions("originate")
    result = await ami.originate(
        channel="PJSIP/1", context="out", exten="s", channel_id="c2", variables=many(119)
    )
    assert result.result == "answered"
    assert len(server.actions("originate")[0].getall("Variable")) == 119


@pytest.mark.parametrize(
    "variables",
    [
        {"A": "1,EVIL=2"},
        {"A": 'say "hi"'},
        {"A": "back\\slash"},
        {"FILE(/tmp/x)": "1"},
        {"A=B": "1"},
        {"": "1"},
    ],
)
async def test_variables_asterisk_would_split_or_evaluate_are_rejected(
    make_ami: MakeAmi, server: ScriptedAmiServer, variables: dict[str, str]
) -> None:
    ami = await connected(make_ami)
    with pytest.raises(AmiValueError, match="'Variable"):
        await ami.originate(channel="PJSIP/1", context="out", exten="s", channel_id="c1", variables=variables)
    assert not server.actions("originate")


@pytest.mark.parametrize("field", ["channel_id", "other_channel_id"])
@pytest.mark.parametrize("value", ["", "x" * 65, "a b", "a/b", "ä", "a\r\nb"])
async def test_channel_ids_validated(
    make_ami: MakeAmi, server: ScriptedAmiServer, field: str, value: str
) -> None:
    ami = await connected(make_ami)
    ids: dict[str, Any] = {"channel_id": "ok-1", "other_channel_id": "ok-2", field: value}
    with pytest.raises(AmiValueError, match="ChannelId"):
        await ami.originate(channel="Local/1@out", context="out", exten="s", **ids)
    assert not server.actions("originate")


@settings(max_examples=200, deadline=None)
@given(prefix=st.text(max_size=20), bad=st.sampled_from(BAD), suffix=st.text(max_size=20))
def test_property_any_cr_lf_nul_is_refused_before_any_io(prefix: str, bad: str, suffix: str) -> None:
    ami = Ami(ami_settings(1))
    exc = raised_now(ami.action("MailboxStatus", {"Mailbox": prefix + bad + suffix}))
    assert isinstance(exc, AmiValueError) and "'Mailbox'" in str(exc)


@settings(max_examples=200, deadline=None)
@given(
    value=st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]), max_size=200)
)
def test_property_clean_values_pass_validation(value: str) -> None:
    ami = Ami(ami_settings(1))  # not connected: validation passes, then the connection check fails
    assert isinstance(raised_now(ami.action("MailboxStatus", {"Mailbox": value})), AmiConnectionError)


def test_lone_surrogate_is_refused() -> None:
    exc = raised_now(Ami(ami_settings(1)).action("MailboxStatus", {"Mailbox": "\ud800"}))
    assert isinstance(exc, AmiValueError) and "'Mailbox'" in str(exc)


def test_settings_validated() -> None:
    with pytest.raises(AmiValueError, match="'secret'"):
        Ami(ami_settings(1, secret="x\r\nAction: Originate"))
    with pytest.raises(AmiValueError, match="Events"):
        Ami(ami_settings(1, events="system"))  # OriginateResponse is a 'call' event
    Ami(ami_settings(1, events="call,system"))


# -- 2. connect and login -------------------------------------------------------------------------
async def test_connect_waits_for_login(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    server.login_delay = 0.3
    ami = make_ami(events="call,system")
    states: list[str] = []
    ami.on_state(states.append)
    start = time.monotonic()
    await ami.connect()
    assert time.monotonic() - start >= 0.25
    assert ami.connected and states == ["connected"]
    (login,) = server.actions("login")
    assert login.get("Username") == "dunline" and login.get("Events") == "call,system"
    assert await ami.ping() >= 0


async def test_bad_secret_is_connection_error(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    ami = make_ami(secret="wrong")
    with pytest.raises(AmiConnectionError, match="Authentication failed"):
        await ami.connect()
    assert not ami.connected


async def test_login_never_answered_times_out(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    server.handlers["login"] = silent
    ami = make_ami(connect_timeout=0.3)
    start = time.monotonic()
    with pytest.raises(AmiTimeout):
        await ami.connect()
    assert 0.25 <= time.monotonic() - start < 0.8
    assert not ami.connected


async def test_connection_refused() -> None:
    srv = await ScriptedAmiServer().start()
    port = srv.port
    await srv.stop()
    ami = Ami(ami_settings(port))
    with pytest.raises(AmiConnectionError):
        await ami.connect()
    await ami.close()


async def test_action_before_connect_is_connection_error() -> None:
    ami = Ami(ami_settings(1))
    with pytest.raises(AmiConnectionError):
        await ami.ping()


# -- 3. timeouts and errors -----------------------------------------------------------------------
async def test_action_timeout(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    server.handlers["corestatus"] = silent
    ami = await connected(make_ami, action_timeout=0.2)
    start = time.monotonic()
    with pytest.raises(AmiTimeout, match="CoreStatus"):
        await ami.action("CoreStatus")
    assert 0.15 <= time.monotonic() - start < 0.5
    with pytest.raises(AmiTimeout):
        await ami.action("CoreStatus", timeout=0.05)
    assert ami.connected and not ami._manager.protocol.responses  # forgotten, not left pending


async def test_late_reply_after_timeout_is_ignored(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    async def late(conn: Conn, action: ReceivedAction) -> None:
        await asyncio.sleep(0.2)
        conn.respond(action, "Success", ("CoreCurrentCalls", "0"))

    server.handlers["corestatus"] = late
    ami = await connected(make_ami)
    with pytest.raises(AmiTimeout):
        await ami.action("CoreStatus", timeout=0.05)
    await asyncio.sleep(0.3)  # the late reply arrives: no error left in the loop (loop_hygiene)
    assert (await ami.action("CoreStatus"))["CoreCurrentCalls"] == "0"


async def test_response_error_raises_action_error(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    server.handlers["corestatus"] = error_reply("Permission denied")
    ami = await connected(make_ami)
    with pytest.raises(AmiActionError) as info:
        await ami.action("CoreStatus")
    assert info.value.action == "CoreStatus" and info.value.message == "Permission denied"


async def test_ping_checks_the_reply(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    async def not_pong(conn: Conn, action: ReceivedAction) -> None:
        conn.respond(action, "Success", ("Message", "Hello"))

    ami = await connected(make_ami)
    assert 0 <= await ami.ping() < 0.3
    server.handlers["ping"] = not_pong
    with pytest.raises(AmiError, match="Pong"):
        await ami.ping()


# -- 4. originate ---------------------------------------------------------------------------------
@pytest.mark.parametrize("reason", [4, 5, 3, 8, 1, 0, 42])
async def test_originate_result_by_reason(make_ami: MakeAmi, server: ScriptedAmiServer, reason: int) -> None:
    server.handlers["originate"] = originate_reply(reason)
    ami = await connected(make_ami)
    result = await ami.originate(
        channel="Local/15551234567@dial-out",
        context="dunline-out",
        exten="s",
        channel_id="att-42.a",
        other_channel_id="att-42.b",
        caller_id="Acme <+18005550199>",
        timeout_ms=25000,
        variables={"ATTEMPT_ID": "42", "__TIER": "reminder"},
        account="camp-7",
    )
    expected = {4: "answered", 5: "busy", 3: "no_answer", 8: "congestion"}.get(reason, "failed")
    assert result == OriginateResult(
        channel_id="att-42.a",
        response="Success" if reason == 4 else "Failure",
        reason=reason,
        result=expected,
        uniqueid="att-42.a" if reason == 4 else None,
    )
    assert ORIGINATE_REASONS.get(reason, "failed") == expected
    (sent,) = server.actions("originate")
    assert sent.get("ChannelId") == "att-42.a" and sent.get("OtherChannelId") == "att-42.b"
    assert sent.get("Async") == "true" and sent.get("Timeout") == "25000" and sent.get("Priority") == "1"
    assert (
        sent.get("Context") == "dunline-out" and sent.get("Exten") == "s" and sent.get("Account") == "camp-7"
    )
    assert sent.getall("Variable") == ["ATTEMPT_ID=42", "__TIER=reminder"]
    assert sent.get("Application") is None and sent.get("Data") is None


async def test_originate_waits_past_action_timeout(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    server.handlers["originate"] = originate_reply(4, delay=0.4)
    ami = await connected(make_ami, action_timeout=0.2)
    result = await ami.originate(
        channel="PJSIP/1", context="out", exten="s", channel_id="c1", timeout_ms=1000
    )
    assert result.result == "answered"


async def test_originate_without_response_event_times_out(
    make_ami: MakeAmi, server: ScriptedAmiServer
) -> None:
    async def queued_only(conn: Conn, action: ReceivedAction) -> None:
        conn.respond(action, "Success", ("Message", "Originate successfully queued"))

    server.handlers["originate"] = queued_only
    ami = await connected(make_ami, action_timeout=0.2)
    start = time.monotonic()
    with pytest.raises(AmiTimeout):
        await ami.originate(channel="PJSIP/1", context="out", exten="s", channel_id="c1", timeout_ms=200)
    assert 0.35 <= time.monotonic() - start < 0.8


async def test_originate_response_for_another_channel_is_refused(
    make_ami: MakeAmi, server: ScriptedAmiServer
) -> None:
    server.handlers["originate"] = originate_reply(4, uniqueid="someone-else")
    ami = await connected(make_ami)
    with pytest.raises(AmiError, match="someone-else"):
        await ami.originate(channel="PJSIP/1", context="out", exten="s", channel_id="c1")


async def test_originate_error_response(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    server.handlers["originate"] = error_reply("Permission denied")
    ami = await connected(make_ami)
    with pytest.raises(AmiActionError, match="Permission denied"):
        await ami.originate(channel="PJSIP/1", context="out", exten="s", channel_id="c1")


async def queued_only(conn: Conn, action: ReceivedAction) -> None:
    conn.respond(action, "Success", ("Message", "Originate successfully queued"))


@pytest.mark.parametrize("handler", [drop, then_drop(queued_only)], ids=["before-reply", "after-queued"])
async def test_no_originate_replay_after_reconnect(
    make_ami: MakeAmi, server: ScriptedAmiServer, handler: Any
) -> None:
    server.handlers["originate"] = handler
    ami = await connected(make_ami)
    states: list[str] = []
    ami.on_state(states.append)
    start = time.monotonic()
    with pytest.raises(AmiConnectionError):
        await ami.originate(channel="PJSIP/1", context="out", exten="s", channel_id="c1", timeout_ms=30000)
    assert time.monotonic() - start < 1.0  # promptly, not after 30 s
    await wait_for(lambda: "reconnected" in states)
    assert states == ["lost", "reconnected"] and ami.connected
    await ami.ping()
    await asyncio.sleep(0.2)  # FullyBooted after the re-login would trigger panoramisk's replay
    assert len(server.actions("originate")) == 1
    assert server.connections == 2 and len(server.actions("login")) == 2


# -- 5. liveness ----------------------------------------------------------------------------------
async def test_liveness_detects_silent_server_and_reconnects(
    make_ami: MakeAmi, server: ScriptedAmiServer
) -> None:
    ami = await connected(make_ami, ping_interval=0.2, ping_timeout=0.2)
    states: list[str] = []
    ami.on_state(states.append)
    server.ping_silent = True
    elapsed = await wait_for(lambda: "lost" in states)
    assert elapsed < 0.2 + 0.2 + 0.25
    assert not ami.connected
    server.ping_silent = False
    await wait_for(lambda: "reconnected" in states)
    assert ami.connected and server.connections == 2
    await wait_for(lambda: server.open_connections == 1, limit=0.5)  # the dead one was aborted
    await ami.ping()


async def test_liveness_without_reconnect(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    ami = await connected(make_ami, ping_interval=0.1, ping_timeout=0.1, reconnect=False)
    states: list[str] = []
    ami.on_state(states.append)
    server.ping_silent = True
    await wait_for(lambda: "lost" in states)
    await asyncio.sleep(0.3)
    assert not ami.connected and server.connections == 1 and states == ["lost"]
    assert server.open_connections == 0  # aborted, not left half-open
    with pytest.raises(AmiConnectionError):
        await ami.action("CoreStatus")


async def test_server_drop_is_lost_then_reconnected(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    ami = await connected(make_ami)
    states: list[str] = []
    ami.on_state(states.append)
    server.drop_all()
    await wait_for(lambda: states == ["lost", "reconnected"])
    assert ami.connected and server.connections == 2


async def test_shutdown_event_is_lost_then_reconnected(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    ami = await connected(make_ami)
    states: list[str] = []
    ami.on_state(states.append)
    server._conns[0].send(
        ("Event", "Shutdown"), ("Privilege", "system,all"), ("Shutdown", "Cleanly"), ("Restart", "True")
    )
    await wait_for(lambda: states == ["lost", "reconnected"])
    assert ami.connected and server.connections == 2


def test_panoramisk_log_records_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pk_log = logging.getLogger("dunline.ami.panoramisk")
    pk_log.debug("message interpreted: %r", {"Secret": "s3cret-pass"})
    pk_log.exception("Fail to send %r" % {"Action": "Login", "Secret": "s3cret-pass"})  # noqa: UP031
    assert "s3cret-pass" not in caplog.text and "Fail to send" in caplog.text


# -- 6. events ------------------------------------------------------------------------------------
async def test_subscribe_and_unsubscribe(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    async def user_event(conn: Conn, action: ReceivedAction) -> None:
        conn.respond(action, "Success")
        conn.send(
            ("Event", "UserEvent"), ("Privilege", "user,all"), ("UserEvent", action.get("UserEvent") or "")
        )
        conn.send(("Event", "Hangup"), ("Privilege", "call,all"), ("Uniqueid", "c1"), ("Cause", "16"))

    server.handlers["userevent"] = user_event
    ami = make_ami()
    user: list[dict[str, str]] = []
    every: list[str] = []

    def broken(_event: dict[str, str]) -> None:
        raise RuntimeError("a subscriber bug must not stop the others")

    ami.subscribe("UserEvent", broken)
    stop_user = ami.subscribe("userevent", user.append)
    ami.subscribe("*", lambda e: every.append(e["Event"]))
    await ami.connect()
    await ami.action("UserEvent", {"UserEvent": "Payment"})
    await wait_for(lambda: "Hangup" in every)
    assert every == ["FullyBooted", "UserEvent", "Hangup"]
    assert user == [{"Event": "UserEvent", "Privilege": "user,all", "UserEvent": "Payment"}]
    stop_user()
    await ami.action("UserEvent", {"UserEvent": "Again"})
    await wait_for(lambda: every.count("Hangup") == 2)
    assert len(user) == 1


# -- 7. close, logging ----------------------------------------------------------------------------
async def test_close_leaves_no_tasks_and_fails_waiters(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    server.handlers["originate"] = queued_only
    before = asyncio.all_tasks()
    ami = await connected(make_ami, ping_interval=0.05)
    pending = asyncio.create_task(
        ami.originate(channel="PJSIP/1", context="out", exten="s", channel_id="c1", timeout_ms=30000)
    )
    await asyncio.sleep(0.15)  # a few liveness pings too
    await ami.close()
    with pytest.raises(AmiConnectionError):
        await pending
    assert not ami.connected
    await asyncio.sleep(0.05)
    assert asyncio.all_tasks() - before == set()


async def test_close_while_reconnecting(make_ami: MakeAmi, server: ScriptedAmiServer) -> None:
    ami = await connected(make_ami)
    states: list[str] = []
    ami.on_state(states.append)
    server.handlers["login"] = silent
    server.drop_all()
    await wait_for(lambda: server.connections >= 2)  # inside a reconnect attempt
    await ami.close()
    assert states == ["lost"]


async def test_logs_hold_no_secret_number_or_variable(
    make_ami: MakeAmi, server: ScriptedAmiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ami = await connected(make_ami)
    await ami.originate(
        channel="PJSIP/+15551234567@carrier",
        context="out",
        exten="s",
        channel_id="att-9",
        caller_id="Acme <+18005550199>",
        variables={"DEBT_REF": "ACCT-99871-PRIVATE"},
    )
    text = caplog.text
    assert "att-9" in text and "4567" in text  # the log is useful
    for secret in ("s3cret-pass", "5551234567", "8005550199", "ACCT-99871-PRIVATE"):
        assert secret not in text

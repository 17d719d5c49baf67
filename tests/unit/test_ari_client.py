"""AriClient against the fake ARI server: success paths, typed errors, timeouts, id validation."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from dunline.ari_handlers.client import (
    AriBadRequest,
    AriClient,
    AriConflict,
    AriConnectionError,
    AriError,
    AriHttpError,
    AriNotFound,
    AriSettings,
    AriTimeout,
    AriValueError,
    ari_path,
)

try:
    from fake_ari import FakeAri, Reply
except ImportError:  # tests/ collected as a package
    from tests.unit.fake_ari import FakeAri, Reply

pytestmark = pytest.mark.timeout(20)  # a hang (e.g. a lane never cancelled) fails fast


@pytest.fixture
async def fake() -> AsyncIterator[FakeAri]:
    server = await FakeAri().start()
    yield server
    await server.stop()


def settings_for(fake: FakeAri, **kw: object) -> AriSettings:
    return AriSettings(
        base_url=fake.base_url, username=fake.username, password=fake.password, app="dunline", **kw
    )  # type: ignore[arg-type]


@pytest.fixture
async def client(fake: FakeAri) -> AsyncIterator[AriClient]:
    async with AriClient(settings_for(fake, request_timeout=2.0)) as c:
        yield c


async def test_answer_sends_basic_auth_and_quoted_path(fake: FakeAri, client: AriClient) -> None:
    await client.answer("1712.5")
    (rec,) = fake.calls("POST", "/ari/channels/1712.5/answer")
    token = base64.b64encode(b"dunline:s3cret").decode()
    assert rec.authorization == f"Basic {token}"


async def test_ids_are_percent_quoted(fake: FakeAri, client: AriClient) -> None:
    await client.answer("a b%?#")
    assert fake.requests[-1].raw_path == "/ari/channels/a%20b%25%3F%23/answer"
    assert fake.requests[-1].path == "/ari/channels/a b%?#/answer"


async def test_play_sends_every_media_in_order(fake: FakeAri, client: AriClient) -> None:
    result = await client.play(
        "c1", ["sound:hello-world", "number:5000", "digits:12"], playback_id="pb-1", lang="en"
    )
    assert result == {"id": "pb-1", "state": "queued"}
    (rec,) = fake.calls("POST", "/ari/channels/c1/play")
    assert [v for k, v in rec.query if k == "media"] == ["sound:hello-world", "number:5000", "digits:12"]
    assert ("playbackId", "pb-1") in rec.query and ("lang", "en") in rec.query


async def test_list_channels_and_bridges(fake: FakeAri, client: AriClient) -> None:
    fake.channels = [{"id": "c1", "state": "Up"}, {"id": "c2", "state": "Ring"}]
    fake.bridges = [{"id": "b1"}]
    assert await client.list_channels() == fake.channels
    assert await client.list_bridges() == [{"id": "b1"}]


async def test_other_wrappers_hit_the_right_routes(fake: FakeAri, client: AriClient) -> None:
    fake.replies[("GET", "/ari/channels/c1/variable")] = Reply(body={"value": "42"})
    assert await client.get_variable("c1", "AMOUNT") == "42"
    await client.set_variable("c1", "AMOUNT", "7")
    await client.continue_in_dialplan("c1", "out", "s", 2)
    assert (await client.create_bridge("br1"))["bridge_type"] == "mixing"
    await client.add_channel("br1", "c1")
    await client.destroy_bridge("br1")
    await client.stop_playback("pb-1")
    assert await client.ping() >= 0.0
    seen = [(r.method, r.path, r.query) for r in fake.requests]
    assert seen == [
        ("GET", "/ari/channels/c1/variable", [("variable", "AMOUNT")]),
        ("POST", "/ari/channels/c1/variable", [("variable", "AMOUNT"), ("value", "7")]),
        ("POST", "/ari/channels/c1/continue", [("context", "out"), ("extension", "s"), ("priority", "2")]),
        ("POST", "/ari/bridges/br1", [("type", "mixing")]),
        ("POST", "/ari/bridges/br1/addChannel", [("channel", "c1")]),
        ("DELETE", "/ari/bridges/br1", []),
        ("DELETE", "/ari/playbacks/pb-1", []),
        ("GET", "/ari/asterisk/ping", []),
    ]


async def test_get_variable_unset_is_none_but_missing_channel_raises(
    fake: FakeAri, client: AriClient
) -> None:
    route = ("GET", "/ari/channels/c1/variable")
    fake.replies[route] = Reply(404, {"message": "Provided variable was not found"})
    assert await client.get_variable("c1", "NOPE") is None
    fake.replies[route] = Reply(404, {"message": "Channel not found"})
    with pytest.raises(AriNotFound):
        await client.get_variable("c1", "NOPE")


@pytest.mark.parametrize(
    ("status", "cls"),
    [(404, AriNotFound), (409, AriConflict), (400, AriBadRequest), (422, AriBadRequest), (500, AriHttpError)],
)
async def test_typed_errors_carry_ari_message(
    fake: FakeAri, client: AriClient, status: int, cls: type[AriHttpError]
) -> None:
    fake.replies[("POST", "/ari/channels/c9/answer")] = Reply(status, {"message": f"boom {status}"})
    with pytest.raises(cls) as info:
        await client.answer("c9")
    err = info.value
    assert type(err) is cls
    assert (err.status, err.method, err.path, err.message) == (
        status,
        "POST",
        "/channels/c9/answer",
        f"boom {status}",
    )
    assert isinstance(err, AriError)


async def test_non_json_error_body_becomes_message(fake: FakeAri, client: AriClient) -> None:
    fake.replies[("GET", "/ari/channels")] = Reply(503, raw="Service Unavailable")
    with pytest.raises(AriHttpError) as info:
        await client.list_channels()
    assert info.value.status == 503 and info.value.message == "Service Unavailable"


async def test_hangup_tolerates_404_only(fake: FakeAri, client: AriClient) -> None:
    fake.replies[("DELETE", "/ari/channels/gone")] = Reply(404, {"message": "Channel not found"})
    await client.hangup("gone")
    (rec,) = fake.calls("DELETE", "/ari/channels/gone")
    assert rec.query == [("reason", "normal")]
    fake.replies[("DELETE", "/ari/channels/gone")] = Reply(500, {"message": "oops"})
    with pytest.raises(AriHttpError):
        await client.hangup("gone", reason="busy")


async def test_stop_playback_tolerates_404(fake: FakeAri, client: AriClient) -> None:
    fake.replies[("DELETE", "/ari/playbacks/p1")] = Reply(404, {"message": "Playback not found"})
    await client.stop_playback("p1")


async def test_slow_endpoint_times_out(fake: FakeAri, client: AriClient) -> None:
    fake.replies[("POST", "/ari/channels/slow/answer")] = Reply(204, delay=2.0)
    started = time.perf_counter()
    with pytest.raises(AriTimeout):
        await client.request("POST", "/channels/slow/answer", timeout=0.1)
    assert time.perf_counter() - started < 1.0


async def test_default_timeout_comes_from_settings(fake: FakeAri) -> None:
    fake.replies[("GET", "/ari/channels")] = Reply(body=[], delay=2.0)
    async with AriClient(settings_for(fake, request_timeout=0.1)) as c:
        with pytest.raises(AriTimeout):
            await c.list_channels()


@pytest.mark.parametrize("bad", ["a/b", "a\nb", "", "x\x00", "del\x7f", "..\r", "..", "."])
async def test_bad_ids_rejected_before_sending(fake: FakeAri, client: AriClient, bad: str) -> None:
    with pytest.raises(AriValueError) as info:
        await client.answer(bad)
    assert isinstance(info.value, ValueError)
    with pytest.raises(AriValueError):
        await client.hangup(bad)
    with pytest.raises(AriValueError):
        await client.play("c1", ["sound:x"], playback_id=bad)
    with pytest.raises(AriValueError):
        await client.add_channel("b1", bad)
    assert fake.requests == []


async def test_bad_query_value_rejected(fake: FakeAri, client: AriClient) -> None:
    with pytest.raises(AriValueError):
        await client.set_variable("c1", "X", "line\nbreak")
    with pytest.raises(AriValueError):
        await client.play("c1", "sound:x", playback_id="p")  # a bare string is not a list of media
    assert fake.requests == []


def test_ari_path_builds_quoted_paths() -> None:
    assert ari_path("channels", "id 1", "answer") == "/channels/id%201/answer"


@pytest.mark.parametrize("path", ["channels", "/channels?x=1", "/channels/a b", "/chan#nels"])
async def test_raw_request_path_is_checked(fake: FakeAri, client: AriClient, path: str) -> None:
    with pytest.raises(AriValueError):
        await client.request("GET", path)
    assert fake.requests == []


async def test_wrong_password_is_http_401(fake: FakeAri) -> None:
    s = AriSettings(base_url=fake.base_url, username="dunline", password="wrong", app="dunline")
    async with AriClient(s) as c:
        with pytest.raises(AriHttpError) as info:
            await c.list_channels()
    assert info.value.status == 401
    assert "wrong" not in repr(s)


async def test_connection_refused_is_connection_error(fake: FakeAri) -> None:
    s = settings_for(fake)
    await fake.stop()
    async with AriClient(s) as c:
        with pytest.raises(AriConnectionError):
            await c.ping()


async def test_external_session_is_not_closed(fake: FakeAri) -> None:
    async with aiohttp.ClientSession() as session:
        c = AriClient(settings_for(fake), session=session)
        await c.answer("c1")
        await c.close()
        assert not session.closed

"""RTP for ARI externalMedia: the codec (pure, property-based), the jitter buffer, the receiver over real
UDP loopback, and the port pool."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable, Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dunline.ari_handlers.rtp import (
    FRAME_BYTES,
    JitterBuffer,
    PortPool,
    PortPoolExhausted,
    RtpError,
    RtpPacket,
    RtpReceiver,
    RtpStats,
    build_rtp,
    open_receiver,
    parse_rtp,
    seq_delta,
    slin16_frames,
)

PT = 118  # the dynamic payload type Asterisk uses for slin16


# --- codec --------------------------------------------------------------------------------------------


def test_parse_a_plain_packet() -> None:
    raw = bytes([0x80, 0x80 | PT]) + struct.pack("!HII", 7, 160, 0xDEADBEEF) + b"\x01\x02"
    assert parse_rtp(raw) == RtpPacket(2, PT, 7, 160, 0xDEADBEEF, True, b"\x01\x02")


def test_parse_skips_csrcs_and_extension_and_strips_padding() -> None:
    raw = build_rtp(PT, 1, 2, 3, b"abcd", csrcs=(10, 11), extension=(0xBEDE, b"\0" * 8), padding=3)
    pkt = parse_rtp(raw)
    assert (pkt.payload, pkt.csrcs, pkt.marker) == (b"abcd", (10, 11), False)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "too short"),
        (b"\x80" * 11, "too short"),
        (bytes([0x40, PT]) + bytes(10), "version 1"),
        (bytes([0x82, PT]) + bytes(10) + bytes(4), "CSRC list truncated"),
        (bytes([0x90, PT]) + bytes(10) + b"\0\0", "extension truncated"),
        (bytes([0x90, PT]) + bytes(10) + b"\0\0\0\x02" + bytes(4), "extension truncated"),
        (bytes([0xA0, PT]) + bytes(10), "no payload"),
        (bytes([0xA0, PT]) + bytes(10) + b"\x01\x00", "padding count 0"),
        (bytes([0xA0, PT]) + bytes(10) + b"\x01\x05", "padding count 5"),
    ],
)
def test_malformed_packets_name_the_problem(raw: bytes, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        parse_rtp(raw)


@given(
    pt=st.integers(0, 127),
    seq=st.integers(0, 65535),
    ts=st.integers(0, 2**32 - 1),
    ssrc=st.integers(0, 2**32 - 1),
    marker=st.booleans(),
    payload=st.binary(max_size=200),
    csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=15).map(tuple),
    ext=st.none()
    | st.tuples(st.integers(0, 65535), st.binary(max_size=12).map(lambda b: b[: len(b) // 4 * 4])),
    padding=st.integers(0, 255),
)
def test_build_then_parse_round_trips(
    pt: int,
    seq: int,
    ts: int,
    ssrc: int,
    marker: bool,
    payload: bytes,
    csrcs: tuple[int, ...],
    ext: tuple[int, bytes] | None,
    padding: int,
) -> None:
    raw = build_rtp(pt, seq, ts, ssrc, payload, marker, csrcs=csrcs, extension=ext, padding=padding)
    assert parse_rtp(raw) == RtpPacket(2, pt, seq, ts, ssrc, marker, payload, csrcs)


@settings(max_examples=500)
@given(st.binary(max_size=120))
def test_garbage_raises_only_rtp_error(raw: bytes) -> None:
    try:
        pkt = parse_rtp(raw)
    except RtpError:
        return
    assert pkt.version == 2 and len(pkt.payload) <= len(raw) - 12


def test_slin16_big_endian_to_little_endian() -> None:
    assert slin16_frames(b"\x01\x02\xff\xfe") == b"\x02\x01\xfe\xff"
    assert slin16_frames(slin16_frames(b"abcdef")) == b"abcdef"
    with pytest.raises(RtpError, match="odd"):
        slin16_frames(b"abc")


def test_seq_delta_wraps() -> None:
    assert seq_delta(0, 65535) == 1
    assert seq_delta(65535, 0) == -1
    assert seq_delta(5, 5) == 0


# --- jitter buffer (pure) -----------------------------------------------------------------------------


def pkt(seq: int, ssrc: int = 1, size: int = FRAME_BYTES) -> RtpPacket:
    return RtpPacket(
        2, PT, seq % 65536, seq * 320, ssrc, False, struct.pack("!HH", seq % 65536, 0xFFFF) * (size // 4)
    )


def push_all(jb: JitterBuffer, seqs: Iterable[int], ssrc: int = 1) -> list[int | None]:
    """Sequence number of each payload handed out, None for a silence fill."""
    out: list[int | None] = []
    for s in seqs:
        for payload in jb.push(pkt(s, ssrc)):
            out.append(None if payload == bytes(len(payload)) else struct.unpack("!H", payload[:2])[0])
    return out


def test_jitter_buffer_in_order_passes_straight_through() -> None:
    stats = RtpStats()
    jb = JitterBuffer(stats)
    assert push_all(jb, [10]) == [10] and push_all(jb, [11]) == [11]
    assert (stats.lost, stats.reordered) == (0, 0)


def test_jitter_buffer_reorders_within_the_window() -> None:
    stats = RtpStats()
    assert push_all(JitterBuffer(stats), [1, 3, 4, 2, 5]) == [1, 2, 3, 4, 5]
    assert (stats.reordered, stats.lost, stats.late) == (1, 0, 0)


def test_jitter_buffer_fills_a_lost_packet_after_the_window_and_drops_it_when_late() -> None:
    stats = RtpStats()
    jb = JitterBuffer(stats, window=3)
    assert push_all(jb, [1, 3, 4, 5]) == [1]
    assert push_all(jb, [6]) == [None, 3, 4, 5, 6]
    assert push_all(jb, [2, 6, 7]) == [7]
    assert (stats.lost, stats.late, stats.duplicates) == (1, 1, 1)


def test_jitter_buffer_large_gap_is_counted_not_filled() -> None:
    stats = RtpStats()
    jb = JitterBuffer(stats, window=0, max_gap_fill=5)
    assert push_all(jb, [1, 4]) == [1, None, None, 4]
    assert push_all(jb, [20]) == [20]
    assert stats.lost == 2 + 15


def test_jitter_buffer_restarts_on_new_ssrc_and_on_a_jump_back() -> None:
    stats = RtpStats()
    jb = JitterBuffer(stats)
    assert push_all(jb, [500, 502]) == [500]
    assert push_all(jb, [7], ssrc=2) == [None, 502, 7]
    assert push_all(jb, [8, 9], ssrc=2) == [8, 9]
    assert push_all(jb, [9000, 9001], ssrc=2) == []  # far ahead: held, waiting for 10..
    assert push_all(JitterBuffer(RtpStats()), [1000, 1001, 3, 4]) == [1000, 1001, 3, 4]


def test_jitter_buffer_wraparound() -> None:
    stats = RtpStats()
    seqs = [65533, 65534, 0, 65535, 1, 2]
    assert push_all(JitterBuffer(stats), seqs) == [65533, 65534, 65535, 0, 1, 2]
    assert (stats.lost, stats.late, stats.reordered) == (0, 0, 1)


@settings(max_examples=200)
@given(start=st.integers(0, 65535), swaps=st.lists(st.integers(1, 98), max_size=20))
def test_jitter_buffer_adjacent_swaps_lose_nothing(start: int, swaps: list[int]) -> None:
    """Adjacent swaps after the first packet (which defines where the stream starts), each packet
    moved by at most one place. Chained swaps (46<->47, then 47<->48, ...) would carry one packet
    past the 3-packet window, where it is lost by design (see the window tests above)."""
    order = list(range(start, start + 100))
    moved: set[int] = set()
    for i in swaps:
        if {i, i + 1} & moved:
            continue  # this place already moved: a second swap would displace a packet further
        moved |= {i, i + 1}
        order[i], order[i + 1] = order[i + 1], order[i]
    jb = JitterBuffer(RtpStats())
    got = push_all(jb, order)
    got += [struct.unpack("!H", p[:2])[0] for p in jb.flush()]
    assert got == [s % 65536 for s in range(start, start + 100)]


# --- receiver over UDP loopback -----------------------------------------------------------------------


class Sender:
    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = port

    def send(self, seq: int, payload: bytes, ssrc: int = 0x1234) -> None:
        self.sock.sendto(build_rtp(PT, seq % 65536, seq * 320, ssrc, payload), ("127.0.0.1", self.port))

    def close(self) -> None:
        self.sock.close()


def wire(value: int, size: int = FRAME_BYTES) -> bytes:
    """A big-endian slin16 payload whose every sample is `value`."""
    return struct.pack(">h", value) * (size // 2)


def value_of(frame: bytes) -> int:
    assert len(frame) == FRAME_BYTES
    return int(struct.unpack("<h", frame[:2])[0])


async def until(cond: Callable[[], bool]) -> None:
    """Poll counters that the receiver updates from its datagram callbacks (bounded by 2 s)."""
    async with asyncio.timeout(2):
        while not cond():  # noqa: ASYNC110 - the receiver has no event to wait on
            await asyncio.sleep(0.002)


async def receive(sends: list[tuple[int, bytes]], expect: int) -> tuple[list[int], RtpReceiver]:
    frames: list[bytes] = []
    receiver, port = await open_receiver(on_frame=frames.append)
    sender = Sender(port)
    try:
        for seq, payload in sends:
            sender.send(seq, payload)
        await until(lambda: len(frames) >= expect and receiver.stats.received >= len(sends))
        await asyncio.sleep(0.01)
    finally:
        sender.close()
        receiver.close()
        await receiver.wait_closed()
    return [value_of(f) for f in frames], receiver


async def test_in_order_stream_becomes_little_endian_frames() -> None:
    values, rx = await receive([(s, wire(s + 100)) for s in range(50)], 50)
    assert values == [s + 100 for s in range(50)]
    assert (rx.stats.received, rx.stats.frames, rx.stats.lost) == (50, 50, 0)


async def test_reordered_and_duplicated_packets() -> None:
    order = [0, 1, 3, 2, 4, 4, 5, 1]
    values, rx = await receive([(s, wire(s)) for s in order], 6)
    assert values == [0, 1, 2, 3, 4, 5]
    assert (rx.stats.reordered, rx.stats.duplicates, rx.stats.lost) == (1, 2, 0)


async def test_lost_packets_become_silence_so_timing_stays_right() -> None:
    sends = [(s, wire(s + 1)) for s in range(12) if s not in (3, 4)]
    values, rx = await receive(sends, 12)
    assert values == [1, 2, 3, 0, 0, 6, 7, 8, 9, 10, 11, 12]
    assert rx.stats.lost == 2
    rx.flush()  # nothing held any more


async def test_ten_ms_payloads_are_rechunked() -> None:
    values, rx = await receive([(s, wire(s, 320)) for s in range(10)], 5)
    assert values == [0, 2, 4, 6, 8]
    assert rx.stats.frames == 5


async def test_sequence_wraparound() -> None:
    values, rx = await receive([(s, wire(s - 65530)) for s in range(65530, 65542)], 12)
    assert values == list(range(12))
    assert (rx.stats.lost, rx.stats.late) == (0, 0)


async def test_foreign_source_is_ignored() -> None:
    frames: list[bytes] = []
    receiver, port = await open_receiver(on_frame=frames.append)
    first, intruder = Sender(port), Sender(port)
    try:
        first.send(0, wire(1))
        await until(lambda: receiver.stats.received >= 1)
        intruder.send(1, wire(99))
        first.send(1, wire(2))
        await until(lambda: receiver.stats.received >= 2 and receiver.stats.foreign >= 1)
    finally:
        first.close()
        intruder.close()
        receiver.close()
        await receiver.wait_closed()
    assert [value_of(f) for f in frames] == [1, 2]
    assert receiver.stats.foreign == 1


async def test_garbage_is_counted_and_does_not_claim_the_source() -> None:
    frames: list[bytes] = []
    receiver, _ = await open_receiver(on_frame=frames.append)
    try:
        receiver.datagram_received(b"junk", ("127.0.0.9", 1))
        receiver.datagram_received(build_rtp(PT, 0, 0, 1, b"\0" * 3), ("127.0.0.9", 1))
        receiver.datagram_received(build_rtp(PT, 0, 0, 1, wire(5)), ("127.0.0.1", 2))
    finally:
        receiver.close()
        await receiver.wait_closed()
    assert receiver.stats.malformed == 2 and receiver.source == ("127.0.0.1", 2)
    assert [value_of(f) for f in frames] == [5]


async def test_a_failing_callback_is_counted_not_raised() -> None:
    def boom(frame: bytes) -> None:
        raise RuntimeError("consumer bug")

    receiver, _ = await open_receiver(on_frame=boom)
    try:
        receiver.datagram_received(build_rtp(PT, 0, 0, 1, wire(5)), ("127.0.0.1", 2))
    finally:
        receiver.close()
        await receiver.wait_closed()
    assert receiver.stats.callback_errors == 1


async def test_bound_port_is_returned() -> None:
    receiver, port = await open_receiver(on_frame=lambda f: None)
    try:
        assert port > 0 and receiver.port == port
    finally:
        receiver.close()
        await receiver.wait_closed()


# --- port pool ----------------------------------------------------------------------------------------


def test_port_pool_hands_out_distinct_ports_then_raises() -> None:
    pool = PortPool(40000, 40002)
    got = {pool.allocate() for _ in range(3)}
    assert got == {40000, 40001, 40002} and pool.free == 0
    with pytest.raises(PortPoolExhausted, match="40000-40002"):
        pool.allocate()
    pool.release(40001)
    pool.release(40001)  # harmless
    pool.release(12345)  # never held: harmless
    assert pool.allocate() == 40001
    with pytest.raises(PortPoolExhausted):
        pool.allocate()


def test_port_pool_reuses_the_oldest_free_port_first() -> None:
    pool = PortPool(5000, 5003)
    a, b = pool.allocate(), pool.allocate()
    pool.release(a)
    assert pool.allocate() == 5002
    pool.release(b)
    assert [pool.allocate(), pool.allocate(), pool.allocate()] == [5003, a, b]
    assert pool.held == frozenset({5000, 5001, 5002, 5003})


@pytest.mark.parametrize(("first", "last"), [(0, 10), (100, 99), (65000, 70000)])
def test_port_pool_rejects_a_bad_range(first: int, last: int) -> None:
    with pytest.raises(ValueError):
        PortPool(first, last)

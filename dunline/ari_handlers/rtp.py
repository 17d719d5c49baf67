"""Caller audio from ARI externalMedia: RTP (RFC 3550) carrying slin16, received on a UDP port.

Asterisk sends 20 ms packets of 16 kHz signed 16-bit **big-endian** PCM (640-byte payloads). This module
turns them into an in-order stream of exact 640-byte **little-endian** frames for the endpointer.

Layers
- pure codec: `parse_rtp`, `build_rtp` (for sending audio back to `UNICASTRTP_LOCAL_ADDRESS/PORT`),
  `slin16_frames` (byte swap, both directions);
- pure `JitterBuffer`: sequence numbers (with wraparound) -> payloads in order, silence for lost ones;
- `RtpReceiver` (asyncio DatagramProtocol, no tasks of its own) + `open_receiver`: the first valid RTP
  packet fixes the source address, later datagrams from elsewhere are ignored;
- `PortPool`: the UDP ports handed to externalMedia channels.

Errors
    RtpError(ValueError)        a packet that is not RTP v2 or is truncated; the message names the fault
    PortPoolExhausted(RuntimeError)  every port of the range is held
Malformed packets never reach the caller: the receiver counts them (`stats.malformed`) and goes on.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from array import array
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

log = logging.getLogger("dunline.ari.rtp")

FRAME_BYTES = 640  # 20 ms of 16 kHz 16-bit mono
SEQ_MOD = 1 << 16
_HEADER = struct.Struct("!BBHII")
_RESYNC = 100  # a packet this far behind the stream is a restart of the sequence, not a late packet


class RtpError(ValueError):
    """A datagram that is not a well-formed RTP version 2 packet."""


class PortPoolExhausted(RuntimeError):
    """No free port left in the RTP port range."""


@dataclass(frozen=True)
class RtpPacket:
    version: int
    payload_type: int
    seq: int
    timestamp: int
    ssrc: int
    marker: bool
    payload: bytes
    csrcs: tuple[int, ...] = ()


def parse_rtp(packet: bytes) -> RtpPacket:
    """Decode one RTP packet: CSRC list read, header extension skipped, padding removed."""
    if len(packet) < _HEADER.size:
        raise RtpError(f"packet too short: {len(packet)} bytes, the RTP header needs {_HEADER.size}")
    b0, b1, seq, timestamp, ssrc = _HEADER.unpack_from(packet)
    version = b0 >> 6
    if version != 2:
        raise RtpError(f"unsupported RTP version {version} (expected 2)")
    padding, extension, cc = bool(b0 & 0x20), bool(b0 & 0x10), b0 & 0x0F
    offset = _HEADER.size + 4 * cc
    if len(packet) < offset:
        raise RtpError(f"CSRC list truncated: {cc} CSRCs need {offset} bytes, packet has {len(packet)}")
    csrcs = struct.unpack_from(f"!{cc}I", packet, _HEADER.size)
    if extension:
        if len(packet) < offset + 4:
            raise RtpError("header extension truncated: no room for its 4-byte header")
        (words,) = struct.unpack_from("!H", packet, offset + 2)
        offset += 4 + 4 * words
        if len(packet) < offset:
            raise RtpError(f"header extension truncated: {words} words announced, packet has {len(packet)}")
    end = len(packet)
    if padding:
        if end == offset:
            raise RtpError("padding bit set but no payload to hold the padding count")
        count = packet[-1]
        if count == 0 or count > end - offset:
            raise RtpError(f"invalid padding count {count} for {end - offset} bytes after the header")
        end -= count
    return RtpPacket(
        version, b1 & 0x7F, seq, timestamp, ssrc, bool(b1 & 0x80), bytes(packet[offset:end]), csrcs
    )


def build_rtp(
    payload_type: int,
    seq: int,
    timestamp: int,
    ssrc: int,
    payload: bytes,
    marker: bool = False,
    *,
    csrcs: tuple[int, ...] = (),
    extension: tuple[int, bytes] | None = None,
    padding: int = 0,
) -> bytes:
    """Encode one RTP packet. `extension` is (profile, data) with len(data) a multiple of 4."""
    if not (0 <= payload_type < 128 and 0 <= seq < SEQ_MOD and len(csrcs) < 16 and 0 <= padding < 256):
        raise RtpError("field out of range: payload_type 0..127, seq 0..65535, <= 15 CSRCs, padding 0..255")
    b0 = 0x80 | (0x20 if padding else 0) | (0x10 if extension else 0) | len(csrcs)
    out = bytearray(_HEADER.pack(b0, (0x80 if marker else 0) | payload_type, seq, timestamp, ssrc))
    out += struct.pack(f"!{len(csrcs)}I", *csrcs)
    if extension is not None:
        profile, data = extension
        if len(data) % 4:
            raise RtpError("header extension data must be a multiple of 4 bytes")
        out += struct.pack("!HH", profile, len(data) // 4) + data
    out += payload
    if padding:
        out += bytes(padding - 1) + bytes([padding])
    return bytes(out)


def slin16_frames(payload: bytes) -> bytes:
    """Big-endian slin16 (the wire) -> little-endian PCM; the same swap turns LE back into wire order."""
    if len(payload) % 2:
        raise RtpError(f"slin16 payload of odd length {len(payload)}")
    samples = array("h", payload)
    samples.byteswap()
    return samples.tobytes()


def seq_delta(seq: int, ref: int) -> int:
    """Signed distance from `ref` to `seq` on the 16-bit sequence circle, in -32768..32767."""
    return (seq - ref + SEQ_MOD // 2) % SEQ_MOD - SEQ_MOD // 2


@dataclass
class RtpStats:
    received: int = 0  # RTP packets accepted from the source (including duplicates and late ones)
    lost: int = 0  # sequence numbers never received (declared lost when the window moved past them)
    reordered: int = 0  # arrived after a higher sequence number, still in time
    duplicates: int = 0
    late: int = 0  # arrived after their slot was filled with silence (dropped)
    foreign: int = 0  # datagrams from another address than the first source (ignored)
    malformed: int = 0
    frames: int = 0  # 640-byte frames delivered
    callback_errors: int = 0


class JitterBuffer:
    """Sequence numbers in, payloads out in order (pure). Holds at most `window` packets behind a gap.

    In-order packets pass straight through (no added delay). When a packet is missing, later ones wait;
    once more than `window` are waiting, the missing ones are declared lost and replaced by silence of the
    last payload's size when the gap is at most `max_gap_fill` packets (a larger jump is a discontinuity:
    counted, not filled). A change of SSRC, or a jump back of more than 100
    packets, flushes what is held and restarts the sequence.
    """

    def __init__(self, stats: RtpStats, *, window: int = 3, max_gap_fill: int = 50) -> None:
        self.stats = stats
        self.window = window
        self.max_gap_fill = max_gap_fill
        self._next: int | None = None
        self._ssrc: int | None = None
        self._held: dict[int, bytes] = {}
        self._recent: deque[int] = deque(maxlen=64)  # delivered sequence numbers, to tell duplicate vs late
        self._last_size = FRAME_BYTES

    def push(self, pkt: RtpPacket) -> list[bytes]:
        out: list[bytes] = []
        if self._next is not None:
            restart = pkt.ssrc != self._ssrc
            if not restart and seq_delta(pkt.seq, self._next) < -_RESYNC and pkt.seq not in self._recent:
                log.warning("rtp: sequence jumped back to %d; restarting the stream", pkt.seq)
                restart = True
            if restart:
                out = self.flush()
                self._next = None
        if self._next is None:
            self._next, self._ssrc = pkt.seq, pkt.ssrc
            self._recent.clear()
        delta = seq_delta(pkt.seq, self._next)
        if delta < 0 or pkt.seq in self._held:
            if pkt.seq in self._held or pkt.seq in self._recent:
                self.stats.duplicates += 1
            else:
                self.stats.late += 1
            return out
        if self._held and delta < max(seq_delta(s, self._next) for s in self._held):
            self.stats.reordered += 1
        self._held[pkt.seq] = pkt.payload
        out += self._drain()
        if len(self._held) > self.window:
            out += self._skip_gap()
            out += self._drain()
        return out

    def flush(self) -> list[bytes]:
        """End of stream: give up on every gap and hand out all that is held."""
        out = self._drain()
        while self._held:
            out += self._skip_gap()
            out += self._drain()
        return out

    def _drain(self) -> list[bytes]:
        out: list[bytes] = []
        assert self._next is not None
        while self._next in self._held:
            payload = self._held.pop(self._next)
            self._recent.append(self._next)
            self._last_size = len(payload) or self._last_size
            out.append(payload)
            self._next = (self._next + 1) % SEQ_MOD
        return out

    def _skip_gap(self) -> list[bytes]:
        assert self._next is not None
        nxt = self._next
        gap = min(seq_delta(s, nxt) for s in self._held)
        self.stats.lost += gap
        self._next = (nxt + gap) % SEQ_MOD
        if gap > self.max_gap_fill:
            log.warning("rtp: sequence jumped by %d packets; not filled", gap)
            return []
        return [bytes(self._last_size)] * gap


class RtpReceiver(asyncio.DatagramProtocol):
    """Receives externalMedia RTP and calls `on_frame` with 640-byte little-endian frames, in order.

    Only the first source address is listened to. Runs entirely in the loop's datagram callbacks: no
    task is created, so `close()` leaves nothing behind. `on_frame` must be quick (queue the frame,
    do VAD/ASR elsewhere); an exception from it is logged and counted, never raised into the loop.
    """

    def __init__(self, on_frame: Callable[[bytes], None], *, window: int = 3, max_gap_fill: int = 50) -> None:
        self.on_frame = on_frame
        self.stats = RtpStats()
        self.jitter = JitterBuffer(self.stats, window=window, max_gap_fill=max_gap_fill)
        self.source: tuple[Any, ...] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.closed = asyncio.Event()
        self._pending = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if self.source is not None and addr != self.source:
            self.stats.foreign += 1
            return
        try:
            pkt = parse_rtp(data)
            if len(pkt.payload) % 2:
                raise RtpError(f"slin16 payload of odd length {len(pkt.payload)}")
        except RtpError as exc:
            self.stats.malformed += 1
            log.debug("rtp: dropped malformed packet: %s", exc)
            return
        if self.source is None:
            self.source = addr  # the first valid RTP packet decides whom we listen to
        self.stats.received += 1
        self._deliver(self.jitter.push(pkt))

    def flush(self) -> None:
        """Deliver what the jitter buffer holds (gaps become silence); a partial frame stays pending."""
        self._deliver(self.jitter.flush())

    def _deliver(self, payloads: list[bytes]) -> None:
        for payload in payloads:
            self._pending += slin16_frames(payload)
        while len(self._pending) >= FRAME_BYTES:
            frame = bytes(self._pending[:FRAME_BYTES])
            del self._pending[:FRAME_BYTES]
            self.stats.frames += 1
            try:
                self.on_frame(frame)
            except Exception:
                self.stats.callback_errors += 1
                log.exception("rtp: on_frame callback failed")

    def error_received(self, exc: Exception) -> None:
        log.debug("rtp: socket error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def wait_closed(self) -> None:
        await self.closed.wait()


async def open_receiver(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_frame: Callable[[bytes], None],
    window: int = 3,
    max_gap_fill: int = 50,
) -> tuple[RtpReceiver, int]:
    """Bind a UDP socket (port 0: any free one) and return the receiver and the bound port."""
    loop = asyncio.get_running_loop()
    receiver = RtpReceiver(on_frame, window=window, max_gap_fill=max_gap_fill)
    await loop.create_datagram_endpoint(lambda: receiver, local_addr=(host, port))
    return receiver, receiver.port


class PortPool:
    """UDP ports from an inclusive range, handed out least-recently-released first.

    A port is never handed out twice while held; releasing a port that is not held is harmless. Reusing
    the oldest free port first keeps stray packets of a finished call away from the next one.
    """

    def __init__(self, first: int = 40000, last: int = 40999) -> None:
        if not 0 < first <= last < SEQ_MOD:
            raise ValueError(f"invalid port range {first}-{last}")
        self.first, self.last = first, last
        self._free: deque[int] = deque(range(first, last + 1))
        self._held: set[int] = set()

    def allocate(self) -> int:
        if not self._free:
            raise PortPoolExhausted(
                f"no free RTP port in {self.first}-{self.last}: all {len(self._held)} are held"
            )
        port = self._free.popleft()
        self._held.add(port)
        return port

    def release(self, port: int) -> None:
        if port in self._held:
            self._held.remove(port)
            self._free.append(port)

    @property
    def held(self) -> frozenset[int]:
        return frozenset(self._held)

    @property
    def free(self) -> int:
        return len(self._free)

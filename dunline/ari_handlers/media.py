"""The caller's audio, in real time: snoop(spy=in) -> mixing bridge <- externalMedia(slin16) -> UDP.

`AudioTap.open()` creates, for one call: a snoop channel that hears only the caller (so our own
prompts never reach the voice detector, and the tap survives a later bridge to an agent), an
externalMedia channel that sends that audio as RTP slin16 (big-endian, 20 ms) to a UDP port of ours,
and a mixing bridge joining the two. `close()` undoes all of it, on every hang-up path, and is safe to
call twice. The snoop and externalMedia channels enter our Stasis app too; their ids end in
`-snoop` / `-xm` so the router knows they are not calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from dunline.ari_handlers.client import AriBadRequest, AriClient, AriError
from dunline.ari_handlers.rtp import PortPool, RtpReceiver, open_receiver

log = logging.getLogger("dunline.media")

TAP_SUFFIXES = ("-snoop", "-xm")
JOIN_TRIES = 20
JOIN_WAIT_S = 0.05


def is_tap_channel(channel_id: str) -> bool:
    return channel_id.endswith(TAP_SUFFIXES)


class AudioTap:
    def __init__(
        self,
        ari: AriClient,
        app: str,
        channel_id: str,
        ports: PortPool,
        on_frame: Callable[[bytes], None],
    ) -> None:
        self.ari = ari
        self.app = app
        self.channel_id = channel_id
        self.ports = ports
        self.on_frame = on_frame
        self.snoop_id = f"{channel_id}-snoop"
        self.xm_id = f"{channel_id}-xm"
        self.bridge_id = f"{channel_id}-tap"
        self.port: int | None = None
        self.receiver: RtpReceiver | None = None
        self.closed = False

    async def open(self) -> None:
        try:
            self.port = self.ports.allocate()
            self.receiver, self.port = await open_receiver("127.0.0.1", self.port, on_frame=self.on_frame)
            await self.ari.request(
                "POST",
                f"/channels/{self.channel_id}/snoop",
                params={"spy": "in", "app": self.app, "snoopId": self.snoop_id},
            )
            await self.ari.request(
                "POST",
                "/channels/externalMedia",
                params={
                    "app": self.app,
                    "external_host": f"127.0.0.1:{self.port}",
                    "format": "slin16",
                    "channelId": self.xm_id,
                },
            )
            await self.ari.create_bridge(self.bridge_id, "mixing")
            await self._join(self.snoop_id)
            await self._join(self.xm_id)
        except BaseException:
            await self.close()
            raise

    async def _join(self, channel_id: str) -> None:
        """Add a tap channel to the bridge. A new channel answers 422 "not in Stasis application"
        until its StasisStart has been processed (seen under load): try again for up to ~1 s."""
        for attempt in range(JOIN_TRIES):
            try:
                await self.ari.add_channel(self.bridge_id, channel_id)
                return
            except AriBadRequest:
                if attempt == JOIN_TRIES - 1:
                    raise
                await asyncio.sleep(JOIN_WAIT_S)

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        cleanup: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("bridge", lambda: self.ari.destroy_bridge(self.bridge_id)),
            ("snoop", lambda: self.ari.hangup(self.snoop_id)),
            ("external media", lambda: self.ari.hangup(self.xm_id)),
        ]
        for what, action in cleanup:
            try:
                await action()
            except AriError as exc:  # the PBX may have gone already: nothing left to clean there
                log.debug("call %s: closing %s: %s", self.channel_id, what, exc)
        if self.receiver is not None:
            self.receiver.close()
        if self.port is not None:
            self.ports.release(self.port)
            self.port = None

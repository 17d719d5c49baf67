"""The controller's agent-connect budget is what the 2 s rule leaves after AMD's own wait."""

from __future__ import annotations

import re
from pathlib import Path

from dunline.controller.app import AMD_AFTER_GREETING_S, CONNECT_WITHIN_S, LEGAL_CONNECT_S

AMD_CONF = Path(__file__).parents[2] / "asterisk-conf" / "pbx" / "amd.conf.j2"


def test_amd_silence_constant_matches_the_dialplan_config() -> None:
    found = re.search(r"^after_greeting_silence\s*=\s*(\d+)", AMD_CONF.read_text(), re.M)
    assert found is not None
    assert int(found.group(1)) / 1000 == AMD_AFTER_GREETING_S
    assert 0 < CONNECT_WITHIN_S == LEGAL_CONNECT_S - AMD_AFTER_GREETING_S <= 1.5

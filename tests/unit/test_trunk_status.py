"""The trunk page's summary of AMI event lists (pure)."""

from __future__ import annotations

from dunline.config.schema import TrunkSettings
from dunline.web.trunks import summarise


def test_summary_per_trunk() -> None:
    trunks = [TrunkSettings(name="carrier"), TrunkSettings(name="backup", registration=False)]
    regs = [{"Event": "OutboundRegistrationDetail", "ObjectName": "carrier-reg", "Status": "Registered"}]
    names = ["PJSIP/carrier-00000001", "PJSIP/carrier-00000002", "Local/1@out-0000;1", "PJSIP/carrier2-0003"]
    chans = [{"Channel": n} for n in names]
    contacts = [{"Aor": "carrier", "Status": "Reachable", "RoundtripUsec": "1530"}]
    got = summarise(trunks, regs, contacts, chans)
    assert got["carrier"] == {
        "registration": "Registered",
        "contact": "Reachable",
        "rtt_ms": 1.5,
        "channels": 2,
    }
    assert got["backup"] == {"registration": "off", "contact": "-", "rtt_ms": None, "channels": 0}


def test_a_missing_registration_is_shown_as_missing() -> None:
    got = summarise([TrunkSettings(name="carrier")], [], [], [])
    assert got["carrier"]["registration"] == "missing"

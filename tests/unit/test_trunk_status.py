"""The trunk page's summary of AMI event lists and of `pjsip show contacts` (pure), and the PBX's
pjsip.conf rendered for each kind of trunk."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from dunline.config.schema import TrunkSettings
from dunline.controller.trunk_admin import parse_contacts
from dunline.web.trunks import summarise

# Asterisk 22.x `pjsip show contacts` on the PBX with a qualified trunk and one without (recorded)
CONTACTS = """
  Contact:  <Aor/ContactUri..............................> <Hash....> <Status> <RTT(ms)..>
==========================================================================================

  Contact:  backup/sip:127.0.0.1:5170                      4d35a0c2b1 Avail         0.612
  Contact:  carrier/sip:127.0.0.1:5170                     7a1f03e9cc NonQual        -nan

Objects found: 2

"""


def test_contacts_are_read_from_the_cli_answer() -> None:
    got = parse_contacts(CONTACTS)
    assert got == [
        {"Aor": "backup", "Uri": "sip:127.0.0.1:5170", "Status": "Avail", "RoundtripMs": 0.612},
        {"Aor": "carrier", "Uri": "sip:127.0.0.1:5170", "Status": "NonQual", "RoundtripMs": None},
    ]
    assert parse_contacts("No objects found.\n") == []


def test_summary_per_trunk() -> None:
    trunks = [
        TrunkSettings(name="carrier", qualify_s=30),
        TrunkSettings(name="backup", registration=False),
    ]
    regs = [{"Event": "OutboundRegistrationDetail", "ObjectName": "carrier-reg", "Status": "Registered"}]
    names = ["PJSIP/carrier-00000001", "PJSIP/carrier-00000002", "Local/1@out-0000;1", "PJSIP/carrier2-0003"]
    chans = [{"Channel": n} for n in names]
    contacts = [
        {"Aor": "carrier", "Status": "Avail", "RoundtripMs": 1.53},
        {"Aor": "backup", "Status": "NonQual", "RoundtripMs": None},
    ]
    got = summarise(trunks, regs, contacts, chans)
    assert got["carrier"] == {"registration": "Registered", "contact": "Avail", "rtt_ms": 1.5, "channels": 2}
    # qualify off: the far end's state is not known, whatever the contact line says
    assert got["backup"] == {"registration": "off", "contact": "off", "rtt_ms": None, "channels": 0}


def test_a_missing_registration_is_shown_as_missing() -> None:
    got = summarise([TrunkSettings(name="carrier")], [], [], [])
    assert got["carrier"]["registration"] == "missing"


@pytest.mark.parametrize("bad", ["short", "has space in it", "semi;colon1", "line\nbreak12", "x" * 129])
def test_a_password_that_would_break_pjsip_conf_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError) as err:
        TrunkSettings(password=bad)  # type: ignore[arg-type]
    assert err.value.errors()[0]["loc"] == ("password",)


def test_pjsip_conf_for_udp_and_tcp_trunks(tmp_path: object) -> None:
    from dunline.config.schema import Settings
    from dunline.controller import asterisk

    trunks = (
        TrunkSettings(name="carrier", password="secret-one", qualify_s=30),  # type: ignore[arg-type]
        TrunkSettings(
            name="tcpone",
            host="sip.example.net",
            port=5080,
            transport="tcp",
            password="secret-two",  # type: ignore[arg-type]
            registration=False,
            codecs=("g722",),
        ),
    )
    settings = Settings().model_copy(update={"trunks": trunks})
    inst = asterisk.Instance("pbx", str(tmp_path), asterisk.Binary(None), settings.asterisk.pbx)
    text = asterisk.render_pjsip(settings, inst)
    sections = _sections(text)
    assert sections["carrier", "aor"]["qualify_frequency"] == "30"
    assert sections["carrier", "endpoint"]["transport"] == "transport-udp"
    assert sections["carrier-reg", "registration"]["server_uri"] == "sip:127.0.0.1:5170"
    assert sections["tcpone", "endpoint"]["transport"] == "transport-tcp"
    assert sections["tcpone", "endpoint"]["allow"] == "g722"
    assert sections["tcpone", "aor"]["contact"] == "sip:sip.example.net:5080\\;transport=tcp"
    assert sections["tcpone", "aor"]["qualify_frequency"] == "0"
    assert ("tcpone-reg", "registration") not in sections
    assert sections["tcpone-auth", "auth"]["password"] == "secret-two"


def _sections(text: str) -> dict[tuple[str, str], dict[str, str]]:
    out: dict[tuple[str, str], dict[str, str]] = {}
    name, body = "", {}
    for raw in [*text.splitlines(), "[end]"]:
        line = re.split(r"(?<!\\);", raw, maxsplit=1)[0].strip()  # an unescaped ';' starts a comment
        if line.startswith("["):
            if name:
                out[name, body.get("type", "")] = body
            name, body = line.strip("[]"), {}
        elif "=" in line:
            k, v = (p.strip() for p in line.split("=", 1))
            body[k] = v
    return out

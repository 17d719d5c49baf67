"""The one settings schema of Dunline (pydantic, immutable).

Every section has defaults that make `make demo` work on one machine; production overrides them in a
YAML file and in `DUNLINE_*` environment variables (see `loader.py`). Secrets are `SecretStr`: never
printed, never logged, and never stored in the repository (the loader generates local ones when none
are configured).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("must start with a letter and hold only letters, digits, '-' or '_' (max 40)")
    return value


class DatabaseSettings(_Frozen):
    url: SecretStr | None = Field(
        default=None, description="external PostgreSQL DSN; unset = embedded server under var_dir/pg"
    )
    pool_max: int = Field(default=10, ge=1, le=200)


class InstancePorts(_Frozen):
    sip_port: int = Field(ge=1024, le=65535)
    rtp_start: int = Field(ge=1024, le=65535)
    rtp_end: int = Field(ge=1024, le=65535)
    ami_port: int = Field(ge=1024, le=65535)
    http_port: int = Field(ge=1024, le=65535)

    @model_validator(mode="after")
    def _rtp_range(self) -> InstancePorts:
        if self.rtp_end <= self.rtp_start:
            raise ValueError("rtp_end must be above rtp_start")
        return self


class AmiSettings(_Frozen):
    username: str = "dunline"
    secret: SecretStr | None = None
    action_timeout_s: float = Field(default=5.0, gt=0, le=60)
    ping_interval_s: float = Field(default=5.0, gt=0, le=300)

    _v_user = field_validator("username")(_check_name)


class AriSettings(_Frozen):
    username: str = "dunline"
    password: SecretStr | None = None
    app: str = "dunline"
    request_timeout_s: float = Field(default=5.0, gt=0, le=60)

    _v_user = field_validator("username", "app")(_check_name)


class AsteriskSettings(_Frozen):
    mode: Literal["auto", "system", "chroot"] = "auto"
    cache_dir: Path | None = Field(default=None, description="where the sid chroot is cached")
    pbx: InstancePorts = InstancePorts(
        sip_port=5160, rtp_start=20000, rtp_end=20999, ami_port=5038, http_port=8088
    )
    carrier: InstancePorts = InstancePorts(
        sip_port=5170, rtp_start=21000, rtp_end=21999, ami_port=5039, http_port=8089
    )
    ami: AmiSettings = AmiSettings()
    ari: AriSettings = AriSettings()
    start_timeout_s: float = Field(default=60.0, gt=0, le=600)
    record_calls: bool = Field(
        default=True,
        description="record answered calls (both directions) for the evidence bundle; the IVR plays the"
        " recording notice first",
    )

    @model_validator(mode="after")
    def _distinct_ports(self) -> AsteriskSettings:
        a, b = self.pbx, self.carrier
        ports = [a.sip_port, a.ami_port, a.http_port, b.sip_port, b.ami_port, b.http_port]
        if len(set(ports)) != len(ports):
            raise ValueError("the PBX and carrier SIP, AMI and HTTP ports must all differ")
        if a.rtp_start <= b.rtp_end and b.rtp_start <= a.rtp_end:
            raise ValueError("the PBX and carrier RTP ranges overlap")
        return self


def _check_e164(value: str) -> str:
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not an E.164 number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


class TrunkSettings(_Frozen):
    name: str = "carrier"
    host: str = "127.0.0.1"
    port: int = Field(default=5170, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    username: str = "dunline"
    password: SecretStr | None = None
    from_user: str = "dunline"
    registration: bool = True
    codecs: tuple[Literal["ulaw", "alaw", "g722", "gsm"], ...] = ("ulaw", "alaw")
    caller_id: str = "+14155550100"
    caller_id_pool: tuple[str, ...] = Field(
        default=(),
        max_length=1000,
        description="more numbers of yours to show: each call shows the one nearest the debtor's number",
    )
    max_channels: int = Field(default=30, ge=1, le=10000)
    calls_per_second: float = Field(default=20.0, gt=0, le=1000)
    qualify_s: int = Field(
        default=0, ge=0, le=3600, description="seconds between SIP OPTIONS to the far end; 0: off"
    )

    _v_name = field_validator("name", "username", "from_user")(_check_name)
    _v_cid = field_validator("caller_id")(_check_e164)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9.:-]{1,253}$", value):
            raise ValueError("must be a host name or IP address")
        return value

    @field_validator("caller_id_pool")
    @classmethod
    def _pool(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for i, n in enumerate(value):
            try:
                out.append(_check_e164(n))
            except ValueError as exc:
                raise ValueError(f"number {i + 1} ({n!r}): {exc}") from None
        return tuple(dict.fromkeys(out))

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr | None) -> SecretStr | None:
        # written into pjsip.conf: a ';' would start a comment, a space or a line break a new setting
        if value is not None and not re.fullmatch(r"[!-:<-~]{8,128}", value.get_secret_value()):
            raise ValueError("must be 8 to 128 printable characters without spaces or ';'")
        return value

    @field_validator("codecs")
    @classmethod
    def _codecs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one codec")
        return value


class DialerSettings(_Frozen):
    ring_timeout_s: int = Field(default=25, ge=15, le=120, description="minimum 15 s (dialer rules)")
    default_region: str = "US"
    max_concurrent_calls: int = Field(default=20, ge=1, le=5000)

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region code {value!r}")
        return value


NOT_NEUTRAL = ("debt", "collect", "recover", "催收", "欠款", "债", "逾期", "还款", "追讨")


class IvrSettings(_Frozen):
    company_name: str = "Dunline Recovery Services"
    voicemail_name: str = Field(
        default="Dunline Services",
        description=(
            "the business name said before right-party verification (recording notice, abandoned-call"
            " message) and in voicemail messages: it must not say it collects debts"
        ),
    )
    company_name_zh: str = Field(
        default="敦线资产管理", min_length=2, description="the company in Mandarin prompts"
    )
    voicemail_name_zh: str = Field(
        default="敦线服务中心",
        min_length=2,
        description="voicemail_name in Mandarin prompts: it must not say it collects debts",
    )
    callback_number: str = "+14155550100"
    digit_timeout_s: float = Field(default=6.0, gt=0, le=60)
    max_retries: int = Field(default=2, ge=0, le=5)
    voice: Literal["piper", "espeak"] = "piper"
    voice_zh: Literal["kokoro", "espeak"] = Field(
        default="kokoro", description="Mandarin prompts: Kokoro-82M (natural) or espeak-ng (robotic)"
    )
    flow: Literal["auto", "collect_dtmf", "collect_speech"] = Field(
        default="auto", description="auto: collect_speech when speech.enabled, else collect_dtmf"
    )

    _v_cb = field_validator("callback_number")(_check_e164)

    @field_validator("voicemail_name", "voicemail_name_zh")
    @classmethod
    def _neutral(cls, value: str) -> str:
        """Said before the right party is verified and on answering machines: no word of a debt
        (Reg F 1006.2(j), FDCPA 805(b))."""
        low = value.casefold()
        found = [w for w in NOT_NEUTRAL if w in low]
        if found:
            raise ValueError(f"must not say it collects debts (found {', '.join(found)})")
        return value


class SpeechSettings(_Frozen):
    """Spoken answers: voice activity (webrtcvad) -> Whisper (faster-whisper) -> intents."""

    enabled: bool = True
    model_size: Literal["base", "small"] = "base"
    model_dir: Path | None = Field(default=None, description="any CTranslate2 Whisper dir; unset = packaged")
    workers: int = Field(default=1, ge=1, le=16)
    cpu_threads: int = Field(default=2, ge=0, le=64)
    encoder_window_s: float = Field(
        default=10.0,
        ge=1.0,
        le=30.0,
        description="Whisper encodes each answer padded to this many seconds (30: Whisper's full window)",
    )
    end_silence_ms: int = Field(default=500, ge=200, le=3000)
    speculative_silence_ms: int = Field(
        default=200,
        ge=0,
        le=3000,
        description="the first short silence at which an answer is decoded ahead (0: off); must be "
        "under end_silence_ms to count",
    )
    early_commit: bool = Field(
        default=True,
        description="a yes, a no or a whole promise decoded at the first short silence is the answer: "
        "the reply starts without waiting for end_silence_ms (answers trailing off on 'and', 'um', ... wait)",
    )
    hold_silence_ms: int = Field(
        default=1200,
        ge=0,
        le=5000,
        description="when the answer decoded at its first pause trails off ('I can pay, um', 'and'), "
        "it ends only after this much silence (0: end_silence_ms as always)",
    )
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0)
    second_opinion: bool = Field(
        default=True,
        description="answers the lexicon only guesses, or decides on one or two words, also go to a "
        "classifier trained on labelled examples (English: MiniLM embeddings; Mandarin: character n-grams)",
    )
    asr_time_limit_s: float = Field(
        default=5.0, gt=0, le=30, description="an answer not decoded by then is 'not understood'"
    )
    vad_aggressiveness: int = Field(default=2, ge=0, le=3)
    rtp_port_first: int = Field(default=40000, ge=1024, le=65535)
    rtp_port_last: int = Field(default=40999, ge=1024, le=65535)

    @model_validator(mode="after")
    def _ports(self) -> SpeechSettings:
        if self.rtp_port_last < self.rtp_port_first:
            raise ValueError("rtp_port_last must not be below rtp_port_first")
        return self


class ConsoleSettings(_Frozen):
    """The web console and the `/api/v1` HTTP API served by `dunline serve`."""

    listen: str = Field(default="127.0.0.1:8080", description="HOST:PORT the console and API listen on")
    tls_cert: Path | None = Field(default=None, description="PEM certificate; with tls_key, serve HTTPS")
    tls_key: Path | None = Field(default=None, description="PEM private key of tls_cert")
    session_idle_min: int = Field(
        default=30, ge=1, le=1440, description="a console session ends after this idle"
    )
    session_max_h: int = Field(
        default=12, ge=1, le=168, description="a console session ends after this at most"
    )
    login_max_failures: int = Field(
        default=5, ge=1, le=100, description="failed logins in a row before the user is locked out"
    )
    lockout_min: int = Field(default=15, ge=1, le=1440, description="how long a lock-out lasts")
    login_per_minute: int = Field(
        default=10, ge=1, le=1000, description="login attempts per client address per minute"
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8080")
        return value

    @model_validator(mode="after")
    def _tls(self) -> ConsoleSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: set both or neither")
        return self

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


class SmsSettings(_Frozen):
    """The SMPP 3.4 link to the operator's SMSC (or a gateway such as Jasmin): bound as a transceiver."""

    host: str = "127.0.0.1"
    port: int = Field(default=2775, ge=1, le=65535)
    system_id: str = Field(default="dunline", min_length=1, max_length=15)
    password: SecretStr = Field(default=SecretStr("dunline"), description="at most 8 characters (SMPP 3.4)")
    source: str = Field(
        default="Dunline", min_length=1, max_length=20, description="the sender: E.164 or up to 11 letters"
    )
    per_second: float = Field(default=50.0, gt=0, le=10000, description="submissions a second at most")
    opt_out_notice: dict[str, str] = {
        "en": "Reply STOP to opt out.",
        "zh": "回复TD退订",
    }  # as the SMS scripts
    enabled: bool = Field(default=False, description="bind to the SMSC when the controller starts")

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        if not 1 <= len(value.get_secret_value()) <= 8:
            raise ValueError("must be 1 to 8 characters (SMPP 3.4)")
        return value


class LetterSettings(_Frozen):
    """Letters and their print-and-mail export: the sender printed on every letter, where the batches
    go, and the creditor named in validation notices."""

    sender_name: str | None = Field(default=None, description="the letterhead; ivr.company_name when unset")
    sender_address: tuple[str, ...] = Field(
        default=("100 Market Street, Suite 400", "San Francisco, CA 94105", "United States"),
        min_length=1,
        max_length=6,
        description="the sender's postal address, one line each (disputes are mailed here)",
    )
    creditor: str = Field(default="the original lender", min_length=2, description="to whom the debt is owed")
    export_dir: Path = Field(
        default=Path("letters"), description="print-and-mail batches: a dated folder each (under var_dir)"
    )
    validation_days: int = Field(
        default=35, ge=30, le=90, description="a US validation notice's dispute period, from the letter date"
    )
    plan_reply_days: int = Field(default=21, ge=7, le=90, description="a plan offer's answer-by date")


class StepSettings(_Frozen):
    """The step runner in `dunline serve`: carries out every due text and letter step of the plans."""

    enabled: bool = Field(default=False, description="run the plans' text and letter steps in `serve`")
    poll_s: float = Field(default=30.0, ge=1, le=3600, description="how often due steps are looked for")
    batch: int = Field(default=20, ge=1, le=1000, description="steps claimed at a time by one controller")


class Settings(_Frozen):
    var_dir: Path = Path("var")
    console: ConsoleSettings = ConsoleSettings()
    database: DatabaseSettings = DatabaseSettings()
    asterisk: AsteriskSettings = AsteriskSettings()
    trunks: tuple[TrunkSettings, ...] = (TrunkSettings(),)
    dialer: DialerSettings = DialerSettings()
    ivr: IvrSettings = IvrSettings()
    speech: SpeechSettings = SpeechSettings()
    sms: SmsSettings = SmsSettings()
    letters: LetterSettings = LetterSettings()
    steps: StepSettings = StepSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("trunks")
    @classmethod
    def _trunks(cls, value: tuple[TrunkSettings, ...]) -> tuple[TrunkSettings, ...]:
        # a field validator (not a model one) so the error's path is `trunks`, not the top level
        names = [t.name for t in value]
        if not names:
            raise ValueError("at least one trunk is required")
        if len(set(names)) != len(names):
            raise ValueError("trunk names must be unique")
        return value

    @property
    def trunk(self) -> TrunkSettings:
        """The first trunk: the one the dialer uses until trunk selection exists."""
        return self.trunks[0]

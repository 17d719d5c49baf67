"""Settings: schema, loader (defaults < file < env), generated secrets, `dunline config check`."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from dunline.config.loader import ConfigError, check_file, load
from dunline.config.schema import Settings
from dunline.controller.cli import main

SECRET = "hunter2-Zq8vN3xT"


@pytest.fixture
def var_dir(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def env(var_dir: Path) -> dict[str, str]:
    return {"DUNLINE_VAR_DIR": str(var_dir)}


def write(tmp_path: Path, text: str, name: str = "dunline.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def problems_of(path: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        check_file(path)
    assert info.value.source == str(path)
    return dict(info.value.problems)


# ---- defaults < file < env ---------------------------------------------------------------------------


def test_defaults_load(env: dict[str, str], var_dir: Path) -> None:
    s = load(None, env)
    assert s.var_dir == var_dir
    assert s.database.url is None
    assert s.asterisk.pbx.sip_port == 5160 and s.asterisk.carrier.sip_port == 5170
    assert s.asterisk.ami.username == "dunline"
    assert [t.name for t in s.trunks] == ["carrier"]
    assert s.trunk.caller_id == "+14155550100"
    assert s.dialer.ring_timeout_s == 25
    assert s.ivr.company_name == "Dunline Recovery Services"
    assert s.log_level == "INFO"


def test_defaults_ignore_the_real_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    monkeypatch.setenv("DUNLINE_IVR__COMPANY_NAME", "From The Process Env")
    assert load(None, env).ivr.company_name == "Dunline Recovery Services"


def test_file_overrides_defaults_and_keeps_the_rest(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(
        tmp_path,
        "ivr:\n  company_name: Acme Collections\n"
        "dialer:\n  ring_timeout_s: 40\n"
        "asterisk:\n  ami: {secret: file-secret}\n",
    )
    s = load(path, env)
    assert s.ivr.company_name == "Acme Collections"
    assert s.ivr.callback_number == "+14155550100"  # merged, not replaced
    assert s.dialer.ring_timeout_s == 40
    assert s.dialer.default_region == "US"
    assert s.asterisk.ami.username == "dunline"
    assert s.asterisk.ami.secret is not None
    assert s.asterisk.ami.secret.get_secret_value() == "file-secret"


def test_config_file_from_environment(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, "log_level: DEBUG\n")
    assert load(None, {**env, "DUNLINE_CONFIG": str(path)}).log_level == "DEBUG"


def test_env_overrides_file(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(
        tmp_path,
        "ivr: {company_name: Acme}\nasterisk:\n  ami: {secret: file-secret}\n"
        "database: {url: 'postgresql://file/db'}\n",
    )
    s = load(
        path,
        {
            **env,
            "DUNLINE_ASTERISK__AMI__SECRET": "env-secret",
            "DUNLINE_DATABASE_URL": "postgresql://u:p@db.example:5432/dunline",
            "DUNLINE_DIALER__RING_TIMEOUT_S": "45",
            "OTHER_VAR": "ignored",
        },
    )
    assert s.asterisk.ami.secret is not None
    assert s.asterisk.ami.secret.get_secret_value() == "env-secret"
    assert s.database.url is not None
    assert s.database.url.get_secret_value() == "postgresql://u:p@db.example:5432/dunline"
    assert s.dialer.ring_timeout_s == 45
    assert s.ivr.company_name == "Acme"  # not overridden by env


def test_env_can_address_a_trunk_by_index(env: dict[str, str]) -> None:
    s = load(None, {**env, "DUNLINE_TRUNKS__0__PASSWORD": SECRET, "DUNLINE_TRUNKS__0__MAX_CHANNELS": "5"})
    assert len(s.trunks) == 1
    assert s.trunk.name == "carrier"  # the rest of the trunk is kept
    assert s.trunk.password is not None and s.trunk.password.get_secret_value() == SECRET
    assert s.trunk.max_channels == 5


def test_env_with_a_bad_value_is_a_config_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        load(None, {**env, "DUNLINE_DIALER__RING_TIMEOUT_S": "5"})
    assert [p for p, _ in info.value.problems] == ["dialer.ring_timeout_s"]


def test_env_trunk_index_out_of_range_is_a_config_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        load(None, {**env, "DUNLINE_TRUNKS__3__PASSWORD": "x"})
    assert [p for p, _ in info.value.problems] == ["trunks"]


def test_a_section_of_the_wrong_shape_is_a_config_error(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, "asterisk: null\n"), env)
    assert "asterisk" in dict(info.value.problems)
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, "trunks: carrier\n"), env)
    assert "trunks" in dict(info.value.problems)


def test_settings_are_immutable(env: dict[str, str]) -> None:
    s = load(None, env)
    with pytest.raises(ValueError):
        s.ivr.max_retries = 5


# ---- generated secrets --------------------------------------------------------------------------------


def test_generated_secrets_are_private_and_reused(env: dict[str, str], var_dir: Path) -> None:
    first = load(None, env)
    path = var_dir / "secrets.yaml"
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = yaml.safe_load(path.read_text("utf-8"))
    assert set(stored) == {"ami_secret", "ari_password", "trunk_password"}
    assert first.asterisk.ami.secret is not None and first.asterisk.ari.password is not None
    assert first.trunk.password is not None
    assert first.asterisk.ami.secret.get_secret_value() == stored["ami_secret"]
    assert first.asterisk.ari.password.get_secret_value() == stored["ari_password"]
    assert first.trunk.password.get_secret_value() == stored["trunk_password"]
    assert len(set(stored.values())) == 3 and all(len(v) >= 20 for v in stored.values())

    second = load(None, env)
    assert second.asterisk.ami.secret is not None
    assert second.asterisk.ami.secret.get_secret_value() == stored["ami_secret"]
    assert yaml.safe_load(path.read_text("utf-8")) == stored


def test_configured_secrets_win_and_nothing_is_generated(
    tmp_path: Path, env: dict[str, str], var_dir: Path
) -> None:
    path = write(
        tmp_path,
        "asterisk:\n  ami: {secret: a-secret}\n  ari: {password: an-ari-password}\n"
        "trunks:\n  - {name: carrier, password: a-trunk-password}\n",
    )
    s = load(path, env)
    assert s.asterisk.ami.secret is not None and s.asterisk.ami.secret.get_secret_value() == "a-secret"
    assert not (var_dir / "secrets.yaml").exists()


def test_a_null_secret_counts_as_unset(tmp_path: Path, env: dict[str, str], var_dir: Path) -> None:
    s = load(write(tmp_path, "asterisk:\n  ami: {secret: null}\n"), env)
    stored = yaml.safe_load((var_dir / "secrets.yaml").read_text("utf-8"))
    assert s.asterisk.ami.secret is not None
    assert s.asterisk.ami.secret.get_secret_value() == stored["ami_secret"]


def test_partial_secrets_file_is_completed_not_replaced(env: dict[str, str], var_dir: Path) -> None:
    var_dir.mkdir(parents=True)
    (var_dir / "secrets.yaml").write_text("ami_secret: kept-from-before\n", "utf-8")
    s = load(None, env)
    assert s.asterisk.ami.secret is not None
    assert s.asterisk.ami.secret.get_secret_value() == "kept-from-before"
    stored = yaml.safe_load((var_dir / "secrets.yaml").read_text("utf-8"))
    assert stored["ami_secret"] == "kept-from-before" and stored["ari_password"]
    assert stat.S_IMODE((var_dir / "secrets.yaml").stat().st_mode) == 0o600


def test_secrets_never_printed(tmp_path: Path, env: dict[str, str]) -> None:
    path = write(tmp_path, f"asterisk:\n  ami: {{secret: {SECRET}}}\n")
    s = load(path, {**env, "DUNLINE_DATABASE_URL": f"postgresql://u:{SECRET}x@h/db"})
    assert SECRET not in repr(s) and SECRET not in str(s)
    assert SECRET not in s.model_dump_json()
    # a config that fails, with the secret set both in the file and in the environment
    bad = write(tmp_path, f"asterisk:\n  ami: {{secret: {SECRET}, username: '1bad'}}\ndialer: {{x: 1}}\n")
    with pytest.raises(ConfigError) as info:
        load(bad, {**env, "DUNLINE_ASTERISK__ARI__PASSWORD": SECRET + "2"})
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    with pytest.raises(ConfigError) as info:
        check_file(write(tmp_path, f"asterisk:\n  ami: {{secret: [{SECRET}]}}\n"))
    assert "asterisk.ami.secret" in dict(info.value.problems)
    assert SECRET not in str(info.value)


# ---- check_file: every problem with its path -----------------------------------------------------------


def test_check_file_accepts_a_good_file(tmp_path: Path) -> None:
    s = check_file(write(tmp_path, "ivr: {max_retries: 3}\n"))
    assert isinstance(s, Settings) and s.ivr.max_retries == 3


def test_empty_file_is_the_defaults(tmp_path: Path) -> None:
    assert check_file(write(tmp_path, "# nothing\n")) == check_file(write(tmp_path, "", "b.yaml"))


def test_bad_caller_id(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "trunks:\n  - {name: carrier, caller_id: '+1555'}\n"))
    assert list(problems) == ["trunks.0.caller_id"]


def test_caller_id_is_normalised_to_e164(tmp_path: Path) -> None:
    s = check_file(write(tmp_path, "trunks:\n  - {name: carrier, caller_id: '+1 (415) 555-0100'}\n"))
    assert s.trunk.caller_id == "+14155550100"


def test_duplicate_trunk_names(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "trunks:\n  - {name: a}\n  - {name: a}\n"))
    assert list(problems) == ["trunks"]
    assert "unique" in problems["trunks"]


def test_no_trunks(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "trunks: []\n"))
    assert list(problems) == ["trunks"]


def test_overlapping_rtp_ranges(tmp_path: Path) -> None:
    problems = problems_of(
        write(
            tmp_path,
            "asterisk:\n  carrier: {sip_port: 5170, rtp_start: 20500, rtp_end: 21500, "
            "ami_port: 5039, http_port: 8089}\n",
        )
    )
    assert list(problems) == ["asterisk"]
    assert "overlap" in problems["asterisk"]


def test_rtp_range_upside_down(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "asterisk:\n  pbx: {rtp_start: 20999, rtp_end: 20000}\n"))
    assert list(problems) == ["asterisk.pbx"]


def test_clashing_ports(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "asterisk:\n  pbx: {ami_port: 5039}\n"))
    assert "must all differ" in problems["asterisk"]


def test_unknown_keys(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "ivr: {colour: red}\nfoo: 1\n"))
    assert set(problems) == {"ivr.colour", "foo"}


def test_wrong_types(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "dialer: {ring_timeout_s: soon}\nasterisk: {mode: sometimes}\n"))
    assert set(problems) == {"dialer.ring_timeout_s", "asterisk.mode"}


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = problems_of(
        write(
            tmp_path,
            "trunks:\n  - {name: carrier, caller_id: '+1555', codecs: [opus]}\n"
            "dialer: {ring_timeout_s: 5, default_region: XX}\n"
            "ivr: {colour: red, callback_number: nope}\n"
            "log_level: LOUD\n",
        )
    )
    assert set(problems) >= {
        "trunks.0.caller_id",
        "trunks.0.codecs.0",
        "dialer.ring_timeout_s",
        "dialer.default_region",
        "ivr.colour",
        "ivr.callback_number",
        "log_level",
    }


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "ivr:\n  company_name: ok\n  bad: [unclosed\n"))
    [(where, reason)] = problems.items()
    assert where.startswith("line ") and "column" in where
    assert int(where.split()[1].rstrip(",")) >= 3
    assert reason.startswith("invalid YAML")


def test_tab_indentation_names_the_line(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "ivr:\n\tcompany_name: x\n"))
    assert list(problems) == ["line 2, column 1"]


def test_non_mapping_top_level(tmp_path: Path) -> None:
    assert problems_of(write(tmp_path, "- a\n- b\n")) == {"": "top level must be a mapping of sections"}


def test_missing_file(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "absent.yaml") == {"": "file not found"}


def test_config_error_message_lists_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "ivr: {colour: red}\nfoo: 1\n")
    with pytest.raises(ConfigError) as info:
        check_file(path)
    text = str(info.value)
    assert text.startswith(f"{path}: 2 problem(s)")
    assert "  ivr.colour: " in text and "  foo: " in text


# ---- the command line ---------------------------------------------------------------------------------


def test_cli_config_check_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "trunks:\n  - {name: a}\n  - {name: a, caller_id: '+1555'}\nfoo: 1\n")
    assert main(["config", "check", str(path)]) == 2
    out = capsys.readouterr().out
    assert f"{path}: invalid" in out
    assert "  trunks.1.caller_id: " in out
    assert "  foo: " in out


def test_cli_config_check_good_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "ivr: {company_name: Acme}\n")
    assert main(["config", "check", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: ok"


def test_cli_config_check_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "dialer: {ring_timeout_s: 5}\nfoo: 1\n")
    assert main(["config", "check", "--json", str(path)]) == 2
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False
    assert doc["file"] == str(path)
    assert {e["path"] for e in doc["errors"]} == {"dialer.ring_timeout_s", "foo"}
    assert all(set(e) == {"path", "reason"} and e["reason"] for e in doc["errors"])


def test_cli_config_check_json_good_and_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "log_level: WARNING\n")
    assert main(["config", "check", str(good), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"ok": True, "file": str(good), "errors": []}
    assert main(["config", "check", str(tmp_path / "absent.yaml"), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["errors"] == [{"path": "", "reason": "file not found"}]


def test_cli_config_check_invalid_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "a: [\n")
    assert main(["config", "check", str(path)]) == 2
    assert "invalid YAML" in capsys.readouterr().out

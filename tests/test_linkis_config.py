"""[linkis] settings: the section and its per-context overrides, the older flat keys folded in, and the secrets
(environment, owner-only files, owner-only config file; never shown)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from prophecis_tui.config import DEFAULT_LINKIS_ENGINES, ConfigError, load_settings

TOKEN = "PROPHECIS-5ec7e7c0ffee"
PASSWORD = "hunter2-linkis"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home)}


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def shown(*texts: object) -> str:
    return "\n".join(str(t) for t in texts)


def test_defaults_have_no_gateway(env):
    lk = load_settings(env=env).for_context().linkis
    assert lk.url is None and lk.user is None
    assert lk.creator == "IDE" and lk.queue == "" and lk.legacy_execute is False and lk.verify is True
    assert lk.engines == list(DEFAULT_LINKIS_ENGINES)
    assert lk.refresh_seconds == 5 and lk.history_days == 7
    assert lk.problem() == "no Linkis gateway configured ([linkis] url)"


SECTION = """
[linkis]
url = "https://linkis.example:9001"
user = "hadoop"
token_file = "{tok}"
creator = "nodeexecution"
queue = "root.ml"
engines = ["spark-2.4.3", "hive-2.3.3", "spark-2.4.3"]
refresh_seconds = 2
history_days = 3
ca_file = "~/linkis-ca.pem"

[contexts.viewer.linkis]
user = "opsview"
queue = "root.view"

[contexts.legacy.linkis]
url = "http://linkis-old:9001"
legacy_execute = true
auth = "password"
password_file = "{pw}"
"""


def test_section_and_context_overrides(tmp_path, env):
    tok = write(tmp_path / "tok", TOKEN + "\n", 0o600)
    pw = write(tmp_path / "pw", PASSWORD, 0o600)
    s = load_settings(write(tmp_path / "c.toml", SECTION.format(tok=tok, pw=pw)), env=env)
    top = s.for_context(None).linkis
    assert top.url == "https://linkis.example:9001" and top.user == "hadoop"
    assert top.creator == "nodeexecution" and top.queue == "root.ml"
    assert top.engines == ["spark-2.4.3", "hive-2.3.3"]  # duplicates dropped, order kept
    assert top.refresh_seconds == 2 and top.history_days == 3
    assert top.ca_file == Path("~/linkis-ca.pem").expanduser()
    assert top.auth_mode == "token" and top.resolve_token() == SecretStr(TOKEN)
    assert top.problem() == ""

    viewer = s.for_context("viewer").linkis
    assert viewer.user == "opsview" and viewer.queue == "root.view"
    assert viewer.url == top.url and viewer.token_file == tok  # inherited key by key

    legacy = s.for_context("legacy").linkis
    assert legacy.url == "http://linkis-old:9001" and legacy.legacy_execute is True
    assert legacy.auth_mode == "password" and legacy.resolve_password().get_secret_value() == PASSWORD
    assert legacy.user == "hadoop"


def test_auth_mode_follows_the_secret_given(env):
    base = {**env, "PROPHECIS_TUI_LINKIS__URL": "http://l:9001", "PROPHECIS_TUI_LINKIS__USER": "u"}
    assert load_settings(env={**base, "PROPHECIS_TUI_LINKIS__PASSWORD": PASSWORD}).for_context().linkis.auth_mode \
        == "password"
    lk = load_settings(env={**base, "PROPHECIS_TUI_LINKIS__TOKEN": TOKEN,
                            "PROPHECIS_TUI_LINKIS__PASSWORD": PASSWORD}).for_context().linkis
    assert lk.auth_mode == "token"
    lk = load_settings(env=base).for_context().linkis
    assert "no Linkis token" in lk.problem()
    lk = load_settings(env={**base, "PROPHECIS_TUI_LINKIS__AUTH": "password"}).for_context().linkis
    assert "no Linkis password" in lk.problem()
    lk = load_settings(env={**env, "PROPHECIS_TUI_LINKIS__URL": "http://l:9001"}).for_context().linkis
    assert "[linkis] user" in lk.problem()


def test_older_flat_keys_are_folded_in(tmp_path, env):
    tok = write(tmp_path / "tok", TOKEN, 0o600)
    cfg = write(tmp_path / "c.toml", f'linkis_url = "http://old:9001"\nlinkis_user = "hadoop"\n'
                                     f'linkis_token_file = "{tok}"\n'
                                     '[contexts.prod]\nlinkis_user = "svc-prod"\n'
                                     '[contexts.dev.linkis]\nuser = "dev-user"\n')
    s = load_settings(cfg, env=env)
    top = s.for_context(None)
    assert top.linkis.url == "http://old:9001" and top.linkis.user == "hadoop"
    assert top.linkis_url == "http://old:9001"  # the older attribute names still answer
    assert top.resolve_linkis_token() == SecretStr(TOKEN)
    assert s.for_context("prod").linkis.user == "svc-prod"
    assert s.for_context("dev").linkis.user == "dev-user" and s.for_context("dev").linkis.url == "http://old:9001"
    # the older environment variables too, and a higher layer wins over the file's new-style key
    s = load_settings(write(tmp_path / "d.toml", '[linkis]\nurl = "http://new:9001"\nuser = "a"\n'),
                      env={**env, "PROPHECIS_TUI_LINKIS_TOKEN": TOKEN, "PROPHECIS_TUI_LINKIS_URL": "http://env:1"})
    lk = s.for_context().linkis
    assert lk.url == "http://env:1" and lk.resolve_token().get_secret_value() == TOKEN
    # in the same layer the section wins over the flat key
    s = load_settings(write(tmp_path / "e.toml", 'linkis_user = "flat"\n[linkis]\nuser = "section"\n'), env=env)
    assert s.for_context().linkis.user == "section"


def test_secret_in_a_config_file_others_can_read_is_refused(tmp_path, env):
    cfg = write(tmp_path / "c.toml", f'[linkis]\nurl = "http://l:9001"\nuser = "u"\ntoken = "{TOKEN}"\n', 0o644)
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env=env)
    msg = str(e.value)
    assert str(cfg) in msg and "chmod 600" in msg and "linkis.token" in msg and TOKEN not in msg
    cfg = write(tmp_path / "d.toml", f'[contexts.prod.linkis]\npassword = "{PASSWORD}"\n', 0o640)
    with pytest.raises(ConfigError, match=r"contexts\.prod\.linkis\.password.*chmod 600") as e:
        load_settings(cfg, env=env)
    assert PASSWORD not in str(e.value)


def test_secret_in_an_owner_only_config_file_is_taken(tmp_path, env):
    cfg = write(tmp_path / "c.toml", f'[linkis]\nurl = "http://l:9001"\nuser = "u"\ntoken = "{TOKEN}"\n'
                                     f'[contexts.prod.linkis]\npassword = "{PASSWORD}"\nauth = "password"\n', 0o600)
    s = load_settings(cfg, env=env)
    top, prod = s.for_context(None), s.for_context("prod")
    assert top.linkis.resolve_token().get_secret_value() == TOKEN
    assert prod.linkis.auth_mode == "password" and prod.linkis.resolve_password().get_secret_value() == PASSWORD
    for text in (repr(s), str(s), s.model_dump(), s.model_dump_json(), repr(top), top.model_dump_json(),
                 repr(prod), prod.model_dump(), prod.linkis):
        assert TOKEN not in shown(text) and PASSWORD not in shown(text)
    # the environment wins over the file
    s = load_settings(cfg, env={**env, "PROPHECIS_TUI_LINKIS__TOKEN": "env-token"})
    assert s.for_context().linkis.resolve_token().get_secret_value() == "env-token"


def test_secrets_from_the_environment_per_context(env):
    s = load_settings(env={**env, "PROPHECIS_TUI_LINKIS__URL": "http://l:9001", "PROPHECIS_TUI_LINKIS__USER": "u",
                           "PROPHECIS_TUI_LINKIS__TOKEN": TOKEN,
                           "PROPHECIS_TUI_CONTEXTS__PROD__LINKIS__PASSWORD": PASSWORD,
                           "PROPHECIS_TUI_CONTEXTS__PROD__LINKIS__USER": "svc"})
    prod = s.for_context("prod").linkis
    assert prod.user == "svc" and prod.resolve_password().get_secret_value() == PASSWORD
    assert s.for_context("other").linkis.resolve_password() is None
    assert s.for_context("other").linkis.resolve_token().get_secret_value() == TOKEN
    assert TOKEN not in shown(repr(s), s.model_dump_json()) and PASSWORD not in shown(repr(prod))


def test_secrets_on_the_command_line_are_refused(env):
    with pytest.raises(ConfigError, match="command line") as e:
        load_settings(overrides={"linkis": {"token": TOKEN}}, env=env)
    assert TOKEN not in str(e.value)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_secret_file_others_can_read_is_refused(tmp_path, env, mode):
    tok = write(tmp_path / "tok", TOKEN, mode)
    cfg = write(tmp_path / "c.toml", f'[linkis]\nurl = "http://l:9001"\nuser = "u"\ntoken_file = "{tok}"\n')
    lk = load_settings(cfg, env=env).for_context().linkis
    with pytest.raises(ConfigError) as e:
        lk.resolve_token()
    assert str(tok) in str(e.value) and "chmod 600" in str(e.value) and TOKEN not in str(e.value)


def test_missing_or_empty_secret_file(tmp_path, env):
    cfg = write(tmp_path / "c.toml", f'[linkis]\npassword_file = "{tmp_path / "nope"}"\n')
    with pytest.raises(ConfigError, match="cannot read the Linkis password file"):
        load_settings(cfg, env=env).for_context().linkis.resolve_password()
    write(tmp_path / "empty", "\n", 0o600)
    cfg = write(tmp_path / "d.toml", f'[linkis]\npassword_file = "{tmp_path / "empty"}"\n')
    with pytest.raises(ConfigError, match="empty"):
        load_settings(cfg, env=env).for_context().linkis.resolve_password()


@pytest.mark.parametrize("line, words", [
    ('engines = ["spark"]', "<engine>-<version>"),
    ("engines = []", "at least one engine"),
    ('creator = "my app"', "not a creator"),
    ('queue = "root ml"', "queue"),
    ('url = "linkis:9001"', "http:// or https://"),
    ('auth = "kerberos"', "auth"),
    ("refresh_seconds = 0", "refresh_seconds"),
    ('colour = "red"', "colour"),
])
def test_bad_values_are_one_line_errors(tmp_path, env, line, words):
    cfg = write(tmp_path / "c.toml", f"[linkis]\n{line}\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env=env)
    assert words in str(e.value) and "\n" not in str(e.value) and str(cfg) in str(e.value)

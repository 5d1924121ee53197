"""The [cmdb] config keys of the REST and file sources: fields (ours = theirs), list_key, refresh_seconds,
token_env (a variable's name: the token itself never goes in the file), ca_file; context sections."""

from __future__ import annotations

from pathlib import Path

import pytest

from prophecis_tui.cmdb import FIELDS as CORE_FIELDS
from prophecis_tui.config import CMDB_FIELDS, ConfigError, load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_config_keys_and_defaults(tmp_path):
    env = {"HOME": str(tmp_path)}
    d = load_settings(env=env).for_context(None).cmdb
    assert (d.source, d.fields, d.list_key, d.refresh_seconds, d.token_env, d.ca_file) == (
        "none", {}, None, 300.0, None, None)
    cfg = write(tmp_path / "c.toml", """
[cmdb]
url = "https://cmdb.example/api/v1/business-systems"
list_key = "data.list"
refresh_seconds = 120
token_env = "CMDB_TOKEN"
ca_file = "~/ca.pem"
[cmdb.fields]
id = "sys_code"
oncall = "contact.duty"
[contexts.prod.cmdb]
refresh_seconds = 600
[contexts.prod.cmdb.fields]
id = "appCode"
""")
    s = load_settings(cfg, env=env)
    top = s.for_context(None).cmdb
    assert (top.source, top.list_key, top.refresh_seconds, top.token_env) == ("url", "data.list", 120.0, "CMDB_TOKEN")
    assert top.fields == {"id": "sys_code", "oncall": "contact.duty"}
    assert top.ca_file == Path("~/ca.pem").expanduser()
    prod = s.for_context("prod").cmdb
    assert prod.refresh_seconds == 600 and prod.fields == {"id": "appCode"}  # a context's table replaces
    assert prod.url == top.url and prod.token_env == "CMDB_TOKEN"
    env_set = load_settings(cfg, env={**env, "PROPHECIS_TUI_CMDB__FIELDS": '{"name": "appName"}'})
    # the environment's table is merged key by key into the file's (as pydantic-settings merges tables)
    assert env_set.for_context(None).cmdb.fields == {"id": "sys_code", "oncall": "contact.duty", "name": "appName"}


@pytest.mark.parametrize("text, words", [
    ('[cmdb.fields]\nowners = "x"\n', "cmdb.fields: 'owners' is not a business-system field"),
    ('[cmdb.fields]\nid = " "\n', "cmdb.fields: id = '': name the CMDB's field"),
    ('[cmdb]\nrefresh_seconds = 1\n', "cmdb.refresh_seconds"),
    ('[cmdb]\ntoken_env = "CMDB-TOKEN"\n', "cmdb.token_env: 'CMDB-TOKEN' is not an environment variable name"),
    ('[cmdb]\nlist_key = "data..list"\n', "cmdb.list_key: 'data..list' is not a key"),
    ('[cmdb]\ntoken = "abc"\n', "cmdb.token"),  # no such key: a token never goes in the file
])
def test_bad_cmdb_keys_are_one_line_errors(tmp_path, text, words):
    cfg = write(tmp_path / "c.toml", text)
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={"HOME": str(tmp_path)})
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_token_comes_from_the_variable_token_env_names(tmp_path):
    cfg = write(tmp_path / "c.toml", '[cmdb]\nurl = "https://cmdb.example/api"\ntoken_env = "CMDB_TOKEN"\n')
    c = load_settings(cfg, env={"HOME": str(tmp_path)}).for_context(None).cmdb
    token = c.resolve_token({"CMDB_TOKEN": " tok-1 \n"})
    assert token is not None and token.get_secret_value() == "tok-1" and "tok-1" not in repr(token)
    with pytest.raises(ConfigError, match="^cmdb.token_env names CMDB_TOKEN, which is not set in the environment$"):
        c.resolve_token({})
    assert load_settings(env={"HOME": str(tmp_path)}).for_context(None).cmdb.resolve_token({}) is None


def test_the_config_names_the_same_fields_as_the_core():
    assert CMDB_FIELDS == CORE_FIELDS

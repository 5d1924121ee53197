"""Settings: sources and precedence, paths, per-context merge, errors, secrets, the example."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tempfile
import tomllib
import types
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from pydantic import BaseModel, SecretStr

from prophecis_tui.config import (
    SECRET_KEYS,
    ConfigError,
    ContextSettings,
    EffectiveSettings,
    Settings,
    config_path,
    data_dir,
    load_settings,
    normalize_keys,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "prophecis-tui.example.toml"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    return h


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """A clean environment: no config file, nothing prefixed."""
    return {"HOME": str(home)}


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------ defaults
def test_defaults(env):
    s = load_settings(env=env)
    assert s.config_file is None
    assert s.kubeconfig is None and s.context is None and s.namespace is None
    assert s.all_namespaces is False and s.read_only is False
    assert s.refresh_seconds == 0.1
    assert s.demo_scale == "small"
    assert s.ui.theme == "textual-dark" and s.ui.keys == {} and s.ui.wall is False
    assert s.contexts == {}
    assert s.no_color is False
    eff = s.for_context()
    assert isinstance(eff, EffectiveSettings)
    assert eff.metrics.source == "auto" and eff.cmdb.source == "none"
    assert eff.read_only is False and eff.theme == "textual-dark"


def test_settings_alone_reads_no_file(monkeypatch, tmp_path):
    cfg = write(tmp_path / "c.toml", "read_only = true\n")
    monkeypatch.setenv("PROPHECIS_TUI_CONFIG", str(cfg))
    monkeypatch.setenv("PROPHECIS_TUI_DEMO_SCALE", "large")
    s = Settings()
    assert s.read_only is False  # no file
    assert s.demo_scale == "large"  # but the environment applies


# ------------------------------------------------------------------------------------- sources
def test_toml_load(tmp_path, env):
    cfg = write(
        tmp_path / "c.toml",
        """
kubeconfig = "~/kube/a.yaml"
context = "prophecis-prod"
namespace = "ns-ai-platform"
all_namespaces = true
read_only = true
refresh_seconds = 0.25
demo_scale = "large"
alertmanager_url = "http://am:9093"
[ui]
theme = "high-contrast"
wall = true
[ui.keys]
"app.command" = ":"
"app.filter" = "/, ctrl+f"
[metrics]
prometheus_url = "http://prom:9090"
""",
    )
    s = load_settings(cfg, env=env)
    assert s.config_file == cfg
    assert s.kubeconfig == os.path.expanduser("~/kube/a.yaml")
    assert s.context == "prophecis-prod" and s.namespace == "ns-ai-platform"
    assert s.all_namespaces and s.read_only and s.refresh_seconds == 0.25
    assert s.demo_scale == "large"
    assert s.ui.theme == "high-contrast" and s.ui.wall is True
    assert s.ui.keys == {"app.command": "colon", "app.filter": "slash,ctrl+f"}
    eff = s.for_context()
    assert eff.metrics.source == "prometheus" and eff.metrics.prometheus_url == "http://prom:9090"
    assert eff.alertmanager_url == "http://am:9093"


def test_env_overrides_file(tmp_path, env):
    cfg = write(tmp_path / "c.toml", 'refresh_seconds = 0.5\ndemo_scale = "large"\n')
    s = load_settings(cfg, env={**env, "PROPHECIS_TUI_REFRESH_SECONDS": "2"})
    assert s.refresh_seconds == 2.0
    assert s.demo_scale == "large"  # untouched keys still come from the file


def test_overrides_beat_env(tmp_path, env):
    cfg = write(tmp_path / "c.toml", "read_only = false\nrefresh_seconds = 0.5\n")
    s = load_settings(
        cfg,
        overrides={"refresh_seconds": 1.5, "namespace": None, "ui": {"wall": True}},
        env={**env, "PROPHECIS_TUI_REFRESH_SECONDS": "2", "PROPHECIS_TUI_NAMESPACE": "ns-env"},
    )
    assert s.refresh_seconds == 1.5
    assert s.namespace == "ns-env"  # a None override is a flag not given
    assert s.ui.wall is True


def test_nested_env_with_double_underscore(env):
    s = load_settings(
        env={
            **env,
            "PROPHECIS_TUI_UI__THEME": "high-contrast",
            "PROPHECIS_TUI_UI__KEYS": '{"app.command": "ctrl+k"}',
            "PROPHECIS_TUI_CONTEXTS__PROD__READ_ONLY": "true",
            "PROPHECIS_TUI_CONTEXTS__PROD__METRICS__DCGM_URL": "http://d:9400/metrics",
        }
    )
    assert s.ui.theme == "high-contrast"
    assert s.ui.keys == {"app.command": "ctrl+k"}
    assert s.contexts["prod"].read_only is True
    eff = s.for_context("prod")
    assert eff.read_only is True
    assert eff.metrics.source == "dcgm" and eff.metrics.dcgm_url == "http://d:9400/metrics"


def test_env_merges_into_file_section(tmp_path, env):
    cfg = write(tmp_path / "c.toml", '[ui]\ntheme = "nord"\n[ui.keys]\n"app.filter" = "/"\n')
    s = load_settings(cfg, env={**env, "PROPHECIS_TUI_UI__WALL": "1"})
    assert s.ui.theme == "nord" and s.ui.wall is True and s.ui.keys == {"app.filter": "slash"}


def test_no_color(env):
    assert load_settings(env={**env, "NO_COLOR": "1"}).no_color is True
    assert load_settings(env={**env, "NO_COLOR": ""}).no_color is False
    assert load_settings(env=env).for_context().no_color is False
    assert load_settings(env=env, overrides={"no_color": True}).for_context().no_color is True


# ------------------------------------------------------------------------------- per context
CTX_FILE = """
namespace = "ns-top"
refresh_seconds = 0.2
linkis_url = "http://linkis:9001"
linkis_user = "hadoop"
[ui]
theme = "textual-dark"
[metrics]
prometheus_url = "http://prom:9090"
[cmdb]
path = "/srv/cmdb.json"

[contexts.prod]
namespace = "ns-prod"
read_only = true
theme = "high-contrast"
linkis_user = "svc-prod"
[contexts.prod.metrics]
source = "dcgm"
dcgm_url = "http://dcgm:9400/metrics"
[contexts.prod.cmdb]
url = "https://cmdb.example/api"
source = "url"

[contexts."kubernetes-admin@dev"]
read_only = false
refresh_seconds = 1
"""


def test_per_context_merge(tmp_path, env):
    s = load_settings(write(tmp_path / "c.toml", CTX_FILE), env=env)
    prod = s.for_context("prod")
    assert prod.context == "prod"
    assert prod.namespace == "ns-prod" and prod.theme == "high-contrast"
    assert prod.read_only is True and prod.linkis_user == "svc-prod"
    assert prod.refresh_seconds == 0.2 and prod.linkis_url == "http://linkis:9001"  # inherited
    assert prod.metrics.source == "dcgm"
    assert prod.metrics.prometheus_url == "http://prom:9090"  # sub-key inherited
    assert prod.cmdb.source == "url" and prod.cmdb.path == Path("/srv/cmdb.json")

    dev = s.for_context("kubernetes-admin@dev")
    assert dev.namespace == "ns-top" and dev.refresh_seconds == 1.0 and dev.read_only is False
    assert dev.metrics.source == "prometheus" and dev.cmdb.source == "file"

    other = s.for_context("no-section")
    assert other.context == "no-section" and other.namespace == "ns-top"
    assert other.theme == "textual-dark"


def test_context_defaults_to_settings_context(tmp_path, env):
    s = load_settings(write(tmp_path / "c.toml", 'context = "prod"\n' + CTX_FILE), env=env)
    assert s.for_context().namespace == "ns-prod"
    assert s.for_context("other").namespace == "ns-top"


def test_higher_layer_beats_context_section(tmp_path, env):
    cfg = write(tmp_path / "c.toml", CTX_FILE)
    s = load_settings(cfg, env={**env, "PROPHECIS_TUI_NAMESPACE": "ns-env"})
    assert s.for_context("prod").namespace == "ns-env"  # env top level beats file context
    s = load_settings(cfg, env={**env, "PROPHECIS_TUI_CONTEXTS__PROD__NAMESPACE": "ns-envprod",
                                "PROPHECIS_TUI_NAMESPACE": "ns-env"})
    assert s.for_context("prod").namespace == "ns-envprod"  # same layer: context wins
    s = load_settings(cfg, overrides={"namespace": "ns-cli", "ui": {"theme": "nord"}}, env=env)
    assert s.for_context("prod").namespace == "ns-cli"
    assert s.for_context("prod").theme == "nord"


def test_read_only_is_a_lock(tmp_path, env):
    cfg = write(tmp_path / "c.toml", CTX_FILE)
    s = load_settings(cfg, overrides={"read_only": True}, env=env)
    assert s.for_context("kubernetes-admin@dev").read_only is True  # context false cannot lift
    s = load_settings(cfg, overrides={"ui": {"wall": True}}, env=env)
    assert s.for_context("no-section").read_only is True  # wall implies read-only


def test_inconsistent_context_fails_at_load(tmp_path, env):
    cfg = write(tmp_path / "c.toml", '[contexts.prod.cmdb]\nsource = "file"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env=env)
    assert str(e.value) == f"{cfg}: contexts.prod: cmdb.source is 'file' but cmdb.path is not set"


# -------------------------------------------------------------------------------------- paths
def test_config_env_var_names_the_file(tmp_path, env):
    cfg = write(tmp_path / "elsewhere.toml", 'demo_scale = "xlarge"\n')
    e = {**env, "PROPHECIS_TUI_CONFIG": str(cfg)}
    assert config_path(e) == cfg
    s = load_settings(env=e)
    assert s.demo_scale == "xlarge" and s.config_file == cfg


def test_path_argument_beats_config_env_var(tmp_path, env):
    a = write(tmp_path / "a.toml", 'demo_scale = "large"\n')
    b = write(tmp_path / "b.toml", 'demo_scale = "xlarge"\n')
    assert load_settings(a, env={**env, "PROPHECIS_TUI_CONFIG": str(b)}).demo_scale == "large"


def test_xdg_paths(monkeypatch, tmp_path, home):
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("PROPHECIS_TUI_CONFIG", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert config_path() == home / ".config" / "prophecis-tui" / "config.toml"
    assert data_dir() == home / ".local" / "share" / "prophecis-tui"

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xc"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xd"))
    assert config_path() == tmp_path / "xc" / "prophecis-tui" / "config.toml"
    assert data_dir() == tmp_path / "xd" / "prophecis-tui"
    assert not (tmp_path / "xd").exists()  # create=False creates nothing

    write(tmp_path / "xc" / "prophecis-tui" / "config.toml", "all_namespaces = true\n")
    assert load_settings().all_namespaces is True  # the default location is read

    monkeypatch.setenv("XDG_CONFIG_HOME", "relative/dir")  # invalid per the spec: ignored
    assert config_path() == home / ".config" / "prophecis-tui" / "config.toml"


def test_data_dir_is_private(tmp_path):
    old = os.umask(0o022)
    try:
        e = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "a" / "b")}
        d = data_dir(create=True, env=e)
    finally:
        os.umask(old)
    assert d == tmp_path / "a" / "b" / "prophecis-tui" and d.is_dir()
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o700  # created parents too
    os.chmod(d, 0o755)
    data_dir(create=True, env=e)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700  # an existing one is tightened


def test_data_dir_error_is_config_error(tmp_path):
    write(tmp_path / "file", "")
    with pytest.raises(ConfigError, match="cannot create the data directory"):
        data_dir(create=True, env={"XDG_DATA_HOME": str(tmp_path / "file")})


# ------------------------------------------------------------------------------------- errors
def test_missing_default_file_is_fine(env, home):
    assert not config_path(env).exists()
    assert load_settings(env=env).read_only is False


def test_missing_explicit_file_is_an_error(tmp_path, env):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as e:
        load_settings(missing, env=env)
    assert str(e.value) == f"{missing}: config file not found (named on the command line)"
    with pytest.raises(ConfigError) as e:
        load_settings(env={**env, "PROPHECIS_TUI_CONFIG": str(missing)})
    assert str(missing) in str(e.value) and "PROPHECIS_TUI_CONFIG" in str(e.value)


def test_directory_as_config_is_an_error(tmp_path, env):
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path, env=env)


def test_toml_syntax_error_names_file_and_line(tmp_path, env):
    cfg = write(tmp_path / "c.toml", 'read_only = true\n\n[ui]\ntheme = "nord\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env=env)
    msg = str(e.value)
    assert msg.startswith(f"{cfg}, line 4: "), msg
    assert "\n" not in msg and "Traceback" not in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__


def test_non_utf8_file(tmp_path, env):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes(b'read_only = true\ntheme = "\xff"\n')
    with pytest.raises(ConfigError, match=r", line 2: not UTF-8"):
        load_settings(cfg, env=env)


def test_validation_error_names_dotted_key(tmp_path, env):
    cfg = write(tmp_path / "c.toml", '[contexts.prod.metrics]\nsource = "graphite"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env=env)
    assert str(e.value) == (
        f"{cfg}: contexts.prod.metrics.source: Input should be 'prometheus', 'dcgm', 'nvml', 'auto' or 'none'"
    )
    cfg = write(tmp_path / "d.toml", "refresh_seconds = 10\n[ui]\nthem = 'x'\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env=env)
    assert f"{cfg}: refresh_seconds: Input should be less than or equal to 5" in str(e.value)
    assert f"{cfg}: ui.them: Extra inputs are not permitted" in str(e.value)
    assert len(e.value.problems) == 2


def test_validation_error_from_env_names_the_variable(tmp_path, env):
    cfg = write(tmp_path / "c.toml", "read_only = true\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env={**env, "PROPHECIS_TUI_UI__WALL": "sometimes"})
    assert str(e.value).startswith("ui.wall: Input should be a valid boolean")
    assert str(e.value).endswith("(from environment variable PROPHECIS_TUI_UI__WALL)")
    with pytest.raises(ConfigError) as e:
        load_settings(env={**env, "PROPHECIS_TUI_UI__KEYS": "{not json"})
    assert "PROPHECIS_TUI_UI__KEYS" in str(e.value)


def test_validation_error_from_overrides(env):
    with pytest.raises(ConfigError) as e:
        load_settings(overrides={"demo_scale": "huge"}, env=env)
    assert str(e.value).startswith("demo_scale: Input should be 'small', 'large' or 'xlarge'")
    assert str(e.value).endswith("(from the command line)")


def test_error_message_is_one_safe_line(tmp_path, env):
    cfg = write(tmp_path / "c.toml", '[ui.keys]\n"app.x\\u001b[31m" = "a"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env=env)
    assert "\x1b" not in str(e.value) and "\n" not in str(e.value)
    assert "\\x1b" in str(e.value)


# ---------------------------------------------------------------------------------- keys, urls
@pytest.mark.parametrize(
    ("spec", "normal"),
    [(":", "colon"), ("/", "slash"), ("?", "question_mark"), ("ctrl+p", "ctrl+p"),
     ("Ctrl+Shift+F1", "ctrl+shift+f1"), (" l , enter ", "l,enter"), ("+", "plus"),
     ("ctrl+/", "ctrl+slash"), ("G", "G")],
)
def test_key_normalisation(spec, normal):
    assert normalize_keys(spec) == normal


@pytest.mark.parametrize("spec", ["", "  ", "a,,b", "hyperctrl+x", "ctrl+", "two words", "ctrl+ctrl+a"])
def test_bad_keys(spec):
    with pytest.raises(ValueError):
        normalize_keys(spec)


@pytest.mark.parametrize(
    "url", ["ftp://x", "prometheus:9090", "http://", "http://a b:90", "http://h:99999"]
)
def test_bad_urls(url, env):
    with pytest.raises(ConfigError, match="alertmanager_url"):
        load_settings(overrides={"alertmanager_url": url}, env=env)


# -------------------------------------------------------------------------------------- secrets
def test_secrets_are_masked(env):
    s = load_settings(env={**env, "PROPHECIS_TUI_LINKIS_TOKEN": "tok-123",
                           "PROPHECIS_TUI_CONTEXTS__PROD__LINKIS_PASSWORD": "pw-456"})
    eff = s.for_context("prod")
    for text in (repr(s), str(s), repr(s.model_dump()), s.model_dump_json(), repr(eff),
                 eff.model_dump_json(), repr(s.contexts)):
        assert "tok-123" not in text and "pw-456" not in text
    assert eff.resolve_linkis_token().get_secret_value() == "tok-123"
    assert eff.resolve_linkis_password().get_secret_value() == "pw-456"


def test_secrets_refused_in_file_and_cli(tmp_path, env):
    cfg = write(tmp_path / "c.toml", 'linkis_token = "tok-123"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env=env)
    assert "linkis_token" in str(e.value) and "tok-123" not in str(e.value)
    cfg = write(tmp_path / "d.toml", '[contexts.prod]\nlinkis_password = "pw"\n')
    with pytest.raises(ConfigError, match="contexts.prod.linkis_password"):
        load_settings(cfg, env=env)
    with pytest.raises(ConfigError, match="command line"):
        load_settings(overrides={"linkis_password": "pw"}, env=env)


def test_password_in_url_refused_and_not_echoed(tmp_path, env):
    cfg = write(tmp_path / "c.toml", '[metrics]\nprometheus_url = "http://u:hunter2@prom:9090"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env=env)
    assert "metrics.prometheus_url" in str(e.value) and "hunter2" not in str(e.value)


def test_token_file(tmp_path, env):
    tok = write(tmp_path / "tok", "  tok-from-file\n")
    tok.chmod(0o600)  # a secret file others may read is refused (tests/test_linkis_config.py)
    cfg = write(tmp_path / "c.toml", f'linkis_token_file = "{tok}"\n')
    eff = load_settings(cfg, env=env).for_context()
    assert eff.resolve_linkis_token() == SecretStr("tok-from-file")
    assert "tok-from-file" not in repr(eff)
    eff = load_settings(cfg, env={**env, "PROPHECIS_TUI_LINKIS_TOKEN": "env-tok"}).for_context()
    assert eff.resolve_linkis_token().get_secret_value() == "env-tok"  # env wins
    tok.unlink()
    eff = load_settings(cfg, env=env).for_context()
    with pytest.raises(ConfigError, match="cannot read the Linkis token file"):
        eff.resolve_linkis_token()


# ---------------------------------------------------------------------------------- notebooks
def test_notebooks_defaults(env):
    nb = load_settings(env=env).for_context().notebooks
    assert nb.images[:2] == ["wedatasphere/prophecis:jupyterlab-1.4.0-py38-cpu",
                             "wedatasphere/prophecis:jupyterlab-1.4.0-py38-gpu"]
    assert "wedatasphere/prophecis:tf-2.6.2-gpu-py38" in nb.images
    assert "wedatasphere/prophecis:pytorch-2.1.2-cuda12.1-py310" in nb.images
    assert nb.url_base is None
    assert nb.url("/notebook/ns-risk-scorecard/eda") == "/notebook/ns-risk-scorecard/eda"  # the path alone
    assert nb.workspace_for("lihua") == "/data/bdap-ss/mlss-data/lihua"


def test_notebooks_from_file_env_and_context(tmp_path, env):
    cfg = write(tmp_path / "c.toml", """
[notebooks]
images = ["registry.example.com:5000/mlss/jupyterlab:1.4.0", "registry.example.com:5000/mlss/jupyterlab:1.4.0"]
url_base = "https://mlss.example.com/"
default_workspace = "/data/{namespace}/{user}"
[contexts.prod.notebooks]
url_base = "https://mlss.prod.example.com/gw"
""")
    s = load_settings(cfg, env=env)
    top = s.for_context("dev").notebooks
    assert top.images == ["registry.example.com:5000/mlss/jupyterlab:1.4.0"]  # duplicates dropped
    assert top.url("/notebook/ns-a/eda") == "https://mlss.example.com/notebook/ns-a/eda"
    assert top.workspace_for("lihua", "ns-a") == "/data/ns-a/lihua"
    prod = s.for_context("prod").notebooks
    assert prod.url("/notebook/ns-a/eda") == "https://mlss.prod.example.com/gw/notebook/ns-a/eda"
    assert prod.images == top.images and prod.default_workspace == "/data/{namespace}/{user}"  # inherited
    s = load_settings(cfg, env={**env, "PROPHECIS_TUI_NOTEBOOKS__IMAGES": '["wedatasphere/prophecis:x"]',
                                "PROPHECIS_TUI_NOTEBOOKS__URL_BASE": "http://gw:8080"})
    assert s.notebooks.images == ["wedatasphere/prophecis:x"]
    assert s.for_context("dev").notebooks.url("/notebook/a/b") == "http://gw:8080/notebook/a/b"
    assert s.for_context("prod").notebooks.url_base == "http://gw:8080"  # a higher layer beats the file's context
    s = load_settings(cfg, env={**env, "PROPHECIS_TUI_CONTEXTS__PROD__NOTEBOOKS__URL_BASE": "https://env-prod"})
    assert s.for_context("prod").notebooks.url_base == "https://env-prod"


@pytest.mark.parametrize("section, needle", [
    ("images = []", "list at least one image"),
    ('images = ["http://registry/x:1"]', "is a URL"),
    ('images = ["wedatasphere/Prophecis:1"]', "lower case"),
    ('images = ["has space:1"]', "not an image reference"),
    ('url_base = "mlss.example.com"', "http:// or https://"),
    ('default_workspace = "data/{user}"', "absolute path"),
    ('default_workspace = "/data/{uid}"', "unknown placeholder {uid}"),
    ('default_workspace = "/data/{user"', "not a valid template"),
    ("colour = 1", "Extra inputs are not permitted"),
])
def test_bad_notebooks_settings(tmp_path, env, section, needle):
    cfg = write(tmp_path / "c.toml", f"[notebooks]\n{section}\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env=env)
    assert needle in str(e.value) and "notebooks." in str(e.value) and "\n" not in str(e.value)


def test_bad_notebooks_setting_in_a_context_names_it(tmp_path, env):
    cfg = write(tmp_path / "c.toml", '[contexts.prod.notebooks]\nurl_base = "ftp://gw"\n')
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env=env)
    assert "contexts.prod.notebooks.url_base" in str(e.value)


# -------------------------------------------------------------------------------------- quota
def test_quota_max_annotation_default_is_the_quota_modules(env):
    from prophecis_tui.quota import DEFAULT_MAX_ANNOTATION
    assert load_settings(env=env).for_context().quota.max_annotation == DEFAULT_MAX_ANNOTATION


def test_quota_max_annotation_from_file_env_and_context(tmp_path, env):
    cfg = write(tmp_path / "c.toml", """
[quota]
max_annotation = "mlss.example.com/gpu-max"
[contexts.prod.quota]
max_annotation = "gpu-max"
""")
    s = load_settings(cfg, env=env)
    assert s.for_context("dev").quota.max_annotation == "mlss.example.com/gpu-max"
    assert s.for_context("prod").quota.max_annotation == "gpu-max"
    s = load_settings(cfg, env={**env, "PROPHECIS_TUI_CONTEXTS__PROD__QUOTA__MAX_ANNOTATION": "env.example/max"})
    assert s.for_context("prod").quota.max_annotation == "env.example/max"


@pytest.mark.parametrize("value, needle", [
    ('""', "the name must be"),
    ('"a/b/c"', "at most one '/'"),
    ('"Bad_Prefix/gpu-max"', "DNS subdomain"),
    ('"example.com/-gpu"', "the name must be"),
])
def test_bad_quota_max_annotation(tmp_path, env, value, needle):
    cfg = write(tmp_path / "c.toml", f"[quota]\nmax_annotation = {value}\n")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg, env=env)
    assert needle in str(e.value) and "quota.max_annotation" in str(e.value)


# -------------------------------------------------------------------------------- the example
_COMMENTED_SETTING = re.compile(r'^#\s?((?:[A-Za-z0-9_-]+|"[^"]*")\s*=.*|\[[^\]]+\]\s*)$')


def _uncomment(text: str) -> str:
    """Turn '# key = value' and '# [table]' lines of the example into live lines."""
    out = []
    for line in text.splitlines():
        m = _COMMENTED_SETTING.match(line)
        out.append(m.group(1) if m else line)
    return "\n".join(out) + "\n"


def _unwrap(annotation):
    """The model class, or ('dict', value type), or None for a leaf."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                found = _unwrap(arg)
                if found is not None:
                    return found
        return None
    if origin is dict:
        return ("dict", typing.get_args(annotation)[1])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _field_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        kind = _unwrap(info.annotation)
        if isinstance(kind, type):
            paths += _field_paths(kind, path)
        elif isinstance(kind, tuple) and isinstance(kind[1], type) and issubclass(kind[1], BaseModel):
            paths += _field_paths(kind[1], (*path, "*"))
        else:
            paths.append(path)
    return paths


def _lookup(data, path):
    """Values at path in parsed TOML ('*' matches every key of a table)."""
    if not path:
        return [data]
    head, rest = path[0], path[1:]
    if not isinstance(data, dict):
        return []
    if head == "*":
        return [v for sub in data.values() for v in _lookup(sub, rest)]
    return _lookup(data[head], rest) if head in data else []


def test_example_loads_as_defaults(env):
    s = load_settings(EXAMPLE, env=env)
    defaults = load_settings(env=env)
    assert s.model_dump() == defaults.model_dump()


def test_example_has_every_key(env, tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")
    live = _uncomment(text)
    data = tomllib.loads(live)
    # With every optional line switched on, the example is still a valid config.
    s = load_settings(write(tmp_path / "all.toml", live), env=env)
    assert s.contexts and s.ui.keys

    paths = _field_paths(Settings)
    assert ("contexts", "*", "metrics", "dcgm_url") in paths  # the walk reaches nested models
    assert len(paths) > 30
    missing = []
    for path in paths:
        if path[-1] in SECRET_KEYS or path[-2:] in (("linkis", "token"), ("linkis", "password")):
            # Environment only: mentioned (with its variable) but never set in the file.
            if path[-1] not in text or not _lookup(data, path[:-1]):
                missing.append(".".join(path))
            assert not _lookup(data, path)
            continue
        values = _lookup(data, path)
        if not values or any(v in ({}, "") for v in values):
            missing.append(".".join(path))
    assert not missing, f"keys missing from {EXAMPLE.name}: {missing}"
    for secret in SECRET_KEYS:
        assert f"PROPHECIS_TUI_{secret.upper()}" in text
    assert "PROPHECIS_TUI_LINKIS__TOKEN" in text and "PROPHECIS_TUI_LINKIS__PASSWORD" in text


def test_every_field_is_documented():
    for path in _field_paths(Settings):
        model: type[BaseModel] = Settings
        for part in path[:-1]:
            if part == "*":
                continue
            kind = _unwrap(model.model_fields[part].annotation)
            model = kind if isinstance(kind, type) else kind[1]
        assert model.model_fields[path[-1]].description, ".".join(path)
    assert ContextSettings.model_fields["metrics"].description


# ------------------------------------------------------------------------------ layer hygiene
def test_config_imports_no_textual():
    code = ("import sys, prophecis_tui.config; "
            "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.') "
            "or m.startswith(('backends', 'widgets', 'screens'))]; print(bad); assert not bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


# --------------------------------------------------------------------------------- properties
@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_any_text_gives_settings_or_config_error(text):
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "config.toml"
        cfg.write_bytes(text.encode("utf-8"))
        try:
            s = load_settings(cfg, env={"HOME": d})
        except ConfigError as err:
            assert "\n" not in str(err) and str(err)
        else:
            assert isinstance(s, Settings)


_TOML_LINES = st.sampled_from([
    "read_only = true", "read_only = 3", 'namespace = "ns-a"', 'namespace = "Bad_NS"',
    "refresh_seconds = 0.01", "refresh_seconds = 1", 'demo_scale = "xlarge"', "[ui]",
    'theme = "nord"', "wall = true", "[ui.keys]", '"app.command" = ":"', '"x" = "ctrl+"',
    "[metrics]", 'source = "dcgm"', 'prometheus_url = "http://p:9090"', "[cmdb]",
    'source = "file"', 'path = "/x"', "[contexts.prod]", "[contexts.prod.metrics]",
    'url = "nope"', "bogus = 1", "[[contexts]]", "contexts = 1", "ui = []", "= =", "[ui",
])


@hsettings(max_examples=300, deadline=None)
@given(st.lists(_TOML_LINES, max_size=12), st.dictionaries(
    st.sampled_from(["PROPHECIS_TUI_UI__THEME", "PROPHECIS_TUI_READ_ONLY", "PROPHECIS_TUI_UI",
                     "PROPHECIS_TUI_CONTEXTS__PROD__NAMESPACE", "PROPHECIS_TUI_METRICS__SOURCE",
                     "PROPHECIS_TUI_CONTEXTS", "NO_COLOR"]),
    st.sampled_from(["", "1", "nord", "{}", "{bad", '{"theme": 3}', "ns-x", "dcgm", "[]"]),
    max_size=3,
))
def test_near_valid_configs_give_settings_or_config_error(lines, environ):
    with tempfile.TemporaryDirectory() as d:
        cfg = Path(d) / "config.toml"
        cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            s = load_settings(cfg, env={"HOME": d, **environ})
            for name in [None, *s.contexts]:
                s.for_context(name)
        except ConfigError as err:
            assert "\n" not in str(err) and str(err)

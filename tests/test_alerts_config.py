"""[alerts] in the config: defaults, the legacy alertmanager_url folded into the list, per-context overrides,
bad values named with where they came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from prophecis_tui.config import DEFAULT_TICKET_PATTERN, ConfigError, load_settings


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home)}


def config(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_defaults(env):
    a = load_settings(env=env).for_context(None).alerts
    assert a.alertmanagers == [] and a.ca_file is None
    assert (a.refresh_seconds, a.events, a.bell, a.osc9) == (10.0, True, True, True)
    assert (a.history_days, a.silence_hours, a.ticket_pattern) == (14.0, 2.0, DEFAULT_TICKET_PATTERN)
    assert (a.deployment_unavailable_minutes, a.gpu_idle_minutes, a.quota_percent, a.crashloop_restarts,
            a.node_notready_minutes, a.resolved_minutes) == (10.0, 30.0, 90.0, 3, 2.0, 30.0)


def test_the_legacy_alertmanager_url_folds_into_the_list(env, tmp_path):
    s = load_settings(config(tmp_path, """
alertmanager_url = "https://am-legacy.monitoring:9093/"
[alerts]
alertmanagers = ["https://am-0.monitoring:9093", "https://am-1.monitoring:9093/", "https://am-0.monitoring:9093"]
"""), env=env)
    eff = s.for_context(None)
    assert eff.alerts.alertmanagers == ["https://am-0.monitoring:9093", "https://am-1.monitoring:9093",
                                        "https://am-legacy.monitoring:9093"]  # duplicates and trailing / dropped
    only = load_settings(config(tmp_path, 'alertmanager_url = "http://am:9093"\n'), env=env).for_context(None)
    assert only.alerts.alertmanagers == ["http://am:9093"]  # what the simulator's --write-config writes


def test_a_context_overrides_keys_and_names_its_own_alertmanagers(env, tmp_path):
    s = load_settings(config(tmp_path, """
alertmanager_url = "http://am-dev:9093"
[alerts]
alertmanagers = ["http://am-shared:9093"]
quota_percent = 80
bell = false
[contexts.prod]
alertmanager_url = "https://am-prod:9093"
[contexts.prod.alerts]
quota_percent = 95
ticket_pattern = 'PROD-\\d+'
[contexts.prod2.alerts]
alertmanagers = ["https://am-prod2-a:9093", "https://am-prod2-b:9093"]
[contexts.staging.alerts]
node_notready_minutes = 5
"""), env=env)
    prod = s.for_context("prod").alerts
    assert prod.alertmanagers == ["https://am-prod:9093"]  # its own, not the top level's
    assert (prod.quota_percent, prod.ticket_pattern, prod.bell) == (95.0, r"PROD-\d+", False)  # bell inherited
    assert s.for_context("prod2").alerts.alertmanagers == ["https://am-prod2-a:9093", "https://am-prod2-b:9093"]
    staging = s.for_context("staging").alerts
    assert staging.alertmanagers == ["http://am-shared:9093", "http://am-dev:9093"]  # names none: the top level's
    assert (staging.node_notready_minutes, staging.quota_percent) == (5.0, 80.0)
    assert s.for_context("elsewhere").alerts.quota_percent == 80.0


def test_the_environment_sets_alerts_keys(env):
    env = {**env, "PROPHECIS_TUI_ALERTS__ALERTMANAGERS": '["http://am:9093"]', "PROPHECIS_TUI_ALERTS__OSC9": "false"}
    a = load_settings(env=env).for_context(None).alerts
    assert a.alertmanagers == ["http://am:9093"] and a.osc9 is False


@pytest.mark.parametrize("text, says", [
    ('[alerts]\nalertmanagers = ["am:9093"]', "alerts.alertmanagers.0: Value error, must be an http:// or https:// URL"),
    ('[alerts]\nalertmanagers = ["https://u:hunter2@am:9093"]', "the URL carries a password"),
    ("[alerts]\nticket_pattern = '[A-Z'", "alerts.ticket_pattern: not a valid regular expression"),
    ("[alerts]\nticket_pattern = 'OPS-\\d*|'", "alerts.ticket_pattern: the pattern matches an empty comment"),
    ("[alerts]\nquota_percent = 0", "alerts.quota_percent: Input should be greater than 0"),
    ("[alerts]\ncrashloop_restarts = 0", "alerts.crashloop_restarts: Input should be greater than or equal to 1"),
    ("[alerts]\nrefresh_seconds = 0", "alerts.refresh_seconds: Input should be greater than or equal to 0.1"),
    ("[alerts]\nsilence_hours = 1000", "alerts.silence_hours: Input should be less than or equal to 720"),
    ("[alerts]\nbel = true", "alerts.bel: Extra inputs are not permitted"),
    ("[contexts.prod.alerts]\ngpu_idle_minutes = -1", "contexts.prod.alerts.gpu_idle_minutes: Input should be greater"),
])
def test_bad_values_are_named_with_the_file(env, tmp_path, text, says):
    path = config(tmp_path, text + "\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, env=env)
    assert str(path) in str(err.value) and says.replace("Value error, ", "") in str(err.value)
    assert "hunter2" not in str(err.value)  # a password in a URL is never echoed

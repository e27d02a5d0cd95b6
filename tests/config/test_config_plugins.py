"""``plugins.<name>`` sections validated against each plugin's own settings model."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from bingo_core.config import bind_plugin_settings, load_settings
from bingo_core.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_config_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder so no config/bingo-scheduler.yaml is picked up."""
    monkeypatch.chdir(tmp_path)


class ReportSettings(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    hour: int = Field(default=2, ge=0, le=23)
    recipients: list[str] = Field(default_factory=list)
    implicit_tls: bool = False


class MailerSettings(BaseModel):
    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None

    @model_validator(mode="after")
    def _both(self) -> MailerSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bingo.yaml"
    path.write_text(text)
    return path


def test_sections_are_validated_and_kept(tmp_path: Path) -> None:
    path = config(
        tmp_path,
        """\
plugins:
  report: {hour: 5, recipients: [a@example.com], implicitTls: true}
  mailer: {host: smtp.local}
  no_model: {anything: [1, 2]}
""",
    )
    s = load_settings(path, env={})
    bound = bind_plugin_settings(s, {"report": ReportSettings, "mailer": MailerSettings})
    assert bound is s.plugin_settings
    assert s.plugin_settings["report"] == ReportSettings(
        hour=5, recipients=["a@example.com"], implicit_tls=True
    )
    assert s.plugin_settings["mailer"] == MailerSettings(host="smtp.local")
    assert s.plugin_settings["no_model"] == {"anything": [1, 2]}


def test_a_model_without_a_section_gets_its_defaults() -> None:
    s = load_settings(None, env={})
    bind_plugin_settings(s, {"report": ReportSettings})
    assert s.plugin_settings == {"report": ReportSettings()}
    with pytest.raises(ConfigError) as info:
        bind_plugin_settings(s, {"mailer": MailerSettings})
    assert str(info.value) == "config key plugins.mailer.host: required but not set"


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "report: {hour: late}",
            "config key plugins.report.hour: 'late' is not valid: expected a whole number",
        ),
        (
            "report: {hour: 24}",
            "config key plugins.report.hour: 24 is not valid: expected a number <= 23",
        ),
        (
            "report: {colour: red}",
            "config key plugins.report.colour: unknown key (known: hour, recipients, implicitTls)",
        ),
        (
            "mailer: {host: h, username: u, password: secret}\n  report: {recipients: x}",
            "config key plugins.report.recipients: 'x' is not valid: expected a list",
        ),
        (
            "mailer: {host: h, password: secret}",
            "config key plugins.mailer: section is not valid: "
            "give both username and password, or neither",
        ),
    ],
)
def test_bad_plugin_values_name_the_key(tmp_path: Path, section: str, expected: str) -> None:
    path = config(tmp_path, f"plugins:\n  {section}\n")
    s = load_settings(path, env={})
    with pytest.raises(ConfigError) as info:
        bind_plugin_settings(s, {"report": ReportSettings, "mailer": MailerSettings})
    assert str(info.value) == f"{expected} (in {path})"
    assert "secret" not in str(info.value)


def test_env_values_reach_plugin_sections() -> None:
    env = {"BINGO_PLUGINS__REPORT__HOUR": "7", "BINGO_PLUGINS__REPORT__IMPLICITTLS": "true"}
    s = load_settings(None, env=env)
    bind_plugin_settings(s, {"report": ReportSettings})
    assert s.plugin_settings["report"] == ReportSettings(hour=7, implicit_tls=True)
    s = load_settings(None, env={"BINGO_PLUGINS__REPORT__HOUR": "noon"})
    with pytest.raises(ConfigError) as info:
        bind_plugin_settings(s, {"report": ReportSettings})
    assert str(info.value) == (
        "config key plugins.report.hour: 'noon' is not valid: expected a whole number "
        "(from environment variable BINGO_PLUGINS__REPORT__HOUR)"
    )


def test_dashes_and_underscores_name_the_same_plugin(tmp_path: Path) -> None:
    s = load_settings(config(tmp_path, "plugins:\n  daily_report: {hour: 4}\n"), env={})
    bind_plugin_settings(s, {"daily-report": ReportSettings})
    assert s.plugin_settings == {"daily-report": ReportSettings(hour=4)}


def test_installed_plugin_models_are_bound(tmp_path: Path) -> None:
    from bingo_core.plugins import load_plugins

    _, registry = load_plugins()
    assert "mail_notify" in registry.settings_models
    path = config(tmp_path, "plugins:\n  mail_notify: {port: 70000}\n")
    s = load_settings(path, env={})
    with pytest.raises(ConfigError) as info:
        bind_plugin_settings(s, registry.settings_models)
    assert str(info.value).startswith("config key plugins.mail_notify.port: 70000 is not valid")

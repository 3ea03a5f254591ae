"""The nn-explainers mkdocs plugin: its typed options, its registration, and per-build state."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest
from mkdocs.config import load_config
from mkdocs.exceptions import Abort, ConfigurationError

from pipeline.site.config import ExplainersConfig
from pipeline.site.plugin import ExplainersPlugin
from tests.conftest import REPO_ROOT, tiny_recipe


def _errors(options: dict, config_file: Path | None = None) -> dict[str, str]:
    plugin = ExplainersPlugin()
    errors, _ = plugin.load_config(options, str(config_file) if config_file else None)
    return {key: str(msg) for key, msg in errors}


def test_defaults_are_the_documented_ones(tmp_path) -> None:
    plugin = ExplainersPlugin()
    assert plugin.load_config({}, str(tmp_path / "mkdocs.yml")) == ([], [])
    cfg: ExplainersConfig = plugin.config
    assert Path(cfg.build_dir) == tmp_path / "build"  # relative to mkdocs.yml, like docs_dir
    assert cfg.require_all is False and cfg.learning_path == []
    assert (cfg.hosting.page_budget_mb, cfg.hosting.max_file_mb, cfg.hosting.max_site_mb) == (
        2.0, 100.0, 1000.0)


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (1, True), ("1", True), ("yes", True), ("on", True), ("TRUE", True),
    (False, False), (0, False), (None, False), ("", False), ("off", False), ("no", False),
])
def test_require_all_accepts_what_the_environment_flag_accepts(value, expected) -> None:
    plugin = ExplainersPlugin()
    assert plugin.load_config({"require_all": value}) == ([], [])
    assert plugin.config.require_all is expected


@pytest.mark.parametrize(("options", "option", "words"), [
    ({"require_all": "maybe"}, "require_all", "expected true or false"),
    ({"hosting": {"max_file_mb": "big"}}, "hosting", "max_file_mb"),
    ({"hosting": {"page_budget_mb": -1}}, "hosting", "positive number of MB"),
    ({"learning_path": "basics"}, "learning_path", "must be a list"),
    ({"learning_path": [{"section": "a", "title": "A"}, {"title": "B"}]}, "learning_path",
     "learning_path[1]"),
])
def test_invalid_options_are_refused_naming_the_option(options, option, words) -> None:
    errors = _errors(options)
    assert option in errors and words in errors[option], errors


def test_an_unknown_option_is_a_warning_naming_it() -> None:
    """A misspelt option is reported (mkdocs fails on warnings under --strict)."""
    plugin = ExplainersPlugin()
    errors, warnings = plugin.load_config({"hosting": {"max_site_gb": 1}, "learning_paht": []})
    assert errors == []
    text = " ".join(f"{key}: {msg}" for key, msg in warnings)
    assert "max_site_gb" in text and "learning_paht" in text


def test_a_config_error_names_the_plugin_and_option_when_mkdocs_loads(tmp_path, caplog) -> None:
    config = tmp_path / "mkdocs.yml"
    config.write_text("site_name: t\ndocs_dir: docs\nplugins:\n  - nn-explainers:\n"
                      "      hosting: {max_file_mb: lots}\n")
    (tmp_path / "docs").mkdir()
    with caplog.at_level(logging.ERROR), pytest.raises(Abort):
        load_config(config_file=str(config))
    assert "Plugin 'nn-explainers' option 'hosting'" in caplog.text
    assert "max_file_mb" in caplog.text


def test_the_repository_config_reads_the_environment(monkeypatch, tmp_path) -> None:
    """mkdocs.yml names the plugin; NNX_BUILD_DIR and NNX_REQUIRE_ALL still work (``!ENV``)."""
    monkeypatch.setenv("NNX_BUILD_DIR", str(tmp_path / "store"))
    monkeypatch.setenv("NNX_REQUIRE_ALL", "1")
    cfg = load_config(config_file=str(REPO_ROOT / "mkdocs.yml"))
    plugin = cfg.plugins["nn-explainers"]
    assert isinstance(plugin, ExplainersPlugin)
    assert Path(plugin.config.build_dir) == tmp_path / "store"
    assert plugin.config.require_all is True
    assert plugin.config.learning_path[0] == ("basics", "Basics: training at a glance")
    assert "hooks" not in (REPO_ROOT / "mkdocs.yml").read_text().split("plugins:")[0]
    monkeypatch.delenv("NNX_BUILD_DIR")
    monkeypatch.delenv("NNX_REQUIRE_ALL")
    cfg = load_config(config_file=str(REPO_ROOT / "mkdocs.yml"))
    plugin = cfg.plugins["nn-explainers"]
    assert Path(plugin.config.build_dir) == REPO_ROOT / "build"
    assert plugin.config.require_all is False


def test_registered_by_entry_point_with_its_templates_packaged() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["mkdocs.plugins"]["nn-explainers"]
    module, _, name = target.partition(":")
    assert (module, name) == (ExplainersPlugin.__module__, ExplainersPlugin.__name__)
    patterns = project["tool"]["setuptools"]["package-data"]["pipeline.site"]
    templates = REPO_ROOT / "pipeline" / "site" / "templates"
    names = sorted(p.name for p in templates.iterdir())
    assert names and all(any(templates.joinpath(n).match(p) for p in patterns) for n in names)


def test_settings_left_under_extra_are_an_error_that_says_where_they_went(tmp_path) -> None:
    plugin = ExplainersPlugin()
    plugin.load_config({"build_dir": str(tmp_path / "build")})
    with pytest.raises(ConfigurationError, match=r"extra.learning_path .* 'learning_path'"):
        plugin.on_config({"docs_dir": str(tmp_path), "watch": None,
                          "extra": {"learning_path": []}})


def test_rebuilds_do_not_leak_state_between_projects(make_mini) -> None:
    """`mkdocs serve` may reuse one plugin object: each on_config starts from nothing."""
    a, b = make_mini("a"), make_mini("b")
    a.add("alpha", tiny_recipe("Alpha"), section="basics")
    b.add("beta", tiny_recipe("Beta"), section="extra")
    plugin = ExplainersPlugin()
    plugin.load_config({"build_dir": str(a.build_dir),
                        "learning_path": [{"section": "basics", "title": "Basics"}]})
    config_a: dict = {"docs_dir": str(a.content), "watch": None, "nav": None}
    plugin.on_config(config_a)
    assert set(plugin.results) == {"alpha"} and plugin.docs == a.content.resolve()
    assert config_a["nav"][0] == {"Basics": [{"Alpha": "basics/alpha.md"}]}
    plugin.config.build_dir = str(b.build_dir)
    config_b: dict = {"docs_dir": str(b.content), "watch": None, "nav": None}
    plugin.on_config(config_b)
    assert set(plugin.results) == {"beta"} and plugin.docs == b.content.resolve()
    assert plugin.bdir is not None and plugin.bdir.root == b.build_dir.resolve()
    assert config_b["nav"][0] == {"Extra": [{"Beta": "extra/beta.md"}]}

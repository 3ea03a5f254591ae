"""The folders a build uses come from the site's mkdocs.yml (pipeline/builder/site_config.py)
and the command line, never from where the package is installed."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pipeline.builder import site_config
from pipeline.builder.cli import main
from pipeline.library.errors import ConfigError


def _write(root: Path, text: str) -> Path:
    path = root / "mkdocs.yml"
    path.write_text(text)
    return path


def test_reads_docs_dir_build_dir_and_data_dir_relative_to_the_file(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("NNX_BUILD_DIR", raising=False)
    cfg = _write(tmp_path, "site_name: x\ndocs_dir: pages\nplugins:\n  - search\n"
                           "  - nn-explainers:\n      build_dir: !ENV [NNX_BUILD_DIR, out/store]\n"
                           "      data_dir: ../data\n")
    site = site_config.load(cfg)
    assert site.docs_dir == tmp_path / "pages"
    assert site.build_dir == tmp_path / "out" / "store"
    assert site.data_dir == (tmp_path.parent / "data").resolve()
    assert site.has_plugin
    monkeypatch.setenv("NNX_BUILD_DIR", str(tmp_path / "elsewhere"))  # !ENV, as mkdocs reads it
    assert site_config.load(cfg).build_dir == tmp_path / "elsewhere"


def test_defaults_and_the_mapping_form_of_plugins(tmp_path, caplog) -> None:
    site = site_config.load(_write(tmp_path, "site_name: x\nplugins:\n  nn-explainers: {}\n"))
    assert (site.docs_dir, site.build_dir, site.data_dir) == (tmp_path / "docs",
                                                              tmp_path / "build", None)
    with caplog.at_level(logging.WARNING):
        bare = site_config.load(_write(tmp_path, "site_name: x\nplugins: [search]\n"))
    assert not bare.has_plugin and "does not list the 'nn-explainers' plugin" in caplog.text


@pytest.mark.parametrize("text, needle", [
    ("site_name: [unclosed\n", "mkdocs.yml"),
    ("plugins: 3\n", "'plugins' must be a list"),
    ("plugins:\n  - nn-explainers: [a]\n", "must be a mapping"),
    ("plugins:\n  - nn-explainers:\n      build_dir: 3\n", "build_dir must be a folder name"),
])
def test_broken_config_names_the_file_and_the_field(tmp_path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match="mkdocs.yml") as exc:
        site_config.load(_write(tmp_path, text))
    assert needle in str(exc.value)


def test_missing_config_file_says_what_to_do(tmp_path) -> None:
    with pytest.raises(ConfigError, match="pipeline init DIR"):
        site_config.load(tmp_path / "mkdocs.yml")


def test_data_dir_order_flag_then_env_then_config(tmp_path, monkeypatch, caplog) -> None:
    flag, env, conf = (tmp_path / n for n in ("flag", "env", "conf"))
    for p in (flag, env, conf):
        p.mkdir()
    site = site_config.load(_write(tmp_path, "plugins:\n  - nn-explainers:\n      data_dir: conf\n"))
    monkeypatch.setenv("NNX_DATA_DIR", str(env))
    assert site_config.data_dir(flag, site) == flag
    assert site_config.data_dir(None, site) == env
    monkeypatch.delenv("NNX_DATA_DIR")
    assert site_config.data_dir(None, site) == conf
    assert site_config.data_dir(None, None) is None
    with pytest.raises(ConfigError, match="--data-dir"):
        site_config.data_dir(tmp_path / "typo", site)
    conf.rmdir()  # a fork without the data beside it: a warning, then no offline copies
    with caplog.at_level(logging.WARNING):
        assert site_config.data_dir(None, site) is None
    assert "does not exist" in caplog.text


def test_the_cli_works_from_a_sites_folder_and_not_elsewhere(tmp_path, monkeypatch, capsys) -> None:
    site = tmp_path / "site"
    (site / "pages" / "demo").mkdir(parents=True)
    _write(site, "site_name: x\ndocs_dir: pages\nplugins:\n  - nn-explainers:\n"
                 "      build_dir: store\n")
    monkeypatch.delenv("NNX_BUILD_DIR", raising=False)
    monkeypatch.chdir(site)
    assert main(["new", "first", "--section", "demo"]) == 0
    assert (site / "pages" / "demo" / "first.recipe.py").is_file()
    assert main(["build", "--dry-run"]) == 0
    assert "would run  first" in capsys.readouterr().out
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["list"]) == 2  # no mkdocs.yml here: a clear error, not site-packages
    assert main(["--config-file", str(site / "mkdocs.yml"), "build", "--dry-run"]) == 0
    assert main(["--content-dir", str(site / "pages"), "--build-dir", str(site / "store"),
                 "build", "--dry-run"]) == 0


def test_the_package_holds_no_repository_paths() -> None:
    """Nothing in the build tool finds pages, results or data beside the package any more."""
    import pipeline.builder.cli as cli

    assert not hasattr(cli, "REPO_ROOT")
    text = Path(cli.__file__).read_text() + Path(site_config.__file__).read_text()
    assert "shared" not in text and "parents[2]" not in text

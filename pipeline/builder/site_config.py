"""The folders a build uses, read from the site's ``mkdocs.yml``: one place configures them.

Why: the build tool and mkdocs must agree on where the pages are (``docs_dir``) and where the
results are stored (the ``nn-explainers`` plugin's ``build_dir``). Reading both from the same
file the site is built with means a site made by ``python -m pipeline init`` (or any mkdocs
project that switches the plugin on) works from its own folder, wherever the package is
installed; the command line's ``--content-dir`` and ``--build-dir`` override them for one run.
The data folder comes from ``--data-dir``, ``$NNX_DATA_DIR`` or the plugin's ``data_dir``, in
that order, and never from a path beside the package.

The file is read with mkdocs' own YAML loader, so ``!ENV [NAME, default]`` and ``INHERIT`` mean
what they mean to mkdocs; relative paths are relative to the file's folder, as mkdocs takes them.
Only these few keys are read: the theme and the other plugins are mkdocs' business.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.library.datasets.places import DATA_DIR_ENV
from pipeline.library.errors import ConfigError

log = logging.getLogger(__name__)

#: The plugin's name under ``plugins:`` (its entry point in pyproject.toml).
PLUGIN_NAME = "nn-explainers"
#: The file read when ``--config-file`` is not given, in the working directory.
DEFAULT_CONFIG = "mkdocs.yml"
#: mkdocs' own default for ``docs_dir``, and the plugin's for ``build_dir``.
DEFAULT_DOCS_DIR = "docs"
DEFAULT_BUILD_DIR = "build"


@dataclass(frozen=True)
class SiteConfig:
    """What the build tool takes from ``mkdocs.yml`` (absolute paths)."""

    config_file: Path
    docs_dir: Path
    build_dir: Path
    #: The plugin's ``data_dir`` option, or None when the file does not set it.
    data_dir: Path | None
    #: False when ``plugins:`` does not name the nn-explainers plugin (mkdocs would then show
    #: no results: the build tool warns).
    has_plugin: bool


def plugin_options(config: Mapping[str, Any], source: Path) -> tuple[bool, dict[str, Any]]:
    """``(listed, options)`` of the nn-explainers plugin in a loaded config's ``plugins:``.

    mkdocs accepts a list of names and ``{name: options}`` mappings, or one mapping of names to
    options; both are read here.
    """
    plugins = config.get("plugins")
    entries: list[Any]
    if plugins is None:
        return False, {}
    if isinstance(plugins, Mapping):
        entries = [{name: opts} for name, opts in plugins.items()]
    elif isinstance(plugins, list):
        entries = plugins
    else:
        raise ConfigError(f"{source}: 'plugins' must be a list, got {type(plugins).__name__}")
    for entry in entries:
        if entry == PLUGIN_NAME:
            return True, {}
        if isinstance(entry, Mapping) and PLUGIN_NAME in entry:
            options = entry[PLUGIN_NAME] or {}
            if not isinstance(options, Mapping):
                raise ConfigError(f"{source}: the options of plugin '{PLUGIN_NAME}' must be a "
                                  f"mapping (build_dir: ..., data_dir: ...), got {options!r}")
            return True, dict(options)
    return False, {}


def _path_option(value: Any, base: Path, what: str, source: Path) -> Path | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str | os.PathLike):
        raise ConfigError(f"{source}: {what} must be a folder name, got {value!r}")
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def load(config_file: Path) -> SiteConfig:
    """Read ``config_file`` (an ``mkdocs.yml``); a missing or broken file is a ConfigError."""
    from mkdocs.exceptions import ConfigurationError
    from mkdocs.utils.yaml import yaml_load

    config_file = config_file.expanduser().resolve()
    if not config_file.is_file():
        raise ConfigError(f"{config_file} does not exist: run the command in a site's folder "
                          "(one made by `python -m pipeline init DIR`), or pass --config-file")
    try:
        with open(config_file, "rb") as fh:
            config = yaml_load(fh)
    except ConfigurationError as exc:
        raise ConfigError(f"{config_file}: {exc}") from None
    if not isinstance(config, Mapping):
        raise ConfigError(f"{config_file}: expected a mapping of mkdocs settings")
    base = config_file.parent
    listed, options = plugin_options(config, config_file)
    docs = _path_option(config.get("docs_dir", DEFAULT_DOCS_DIR), base, "docs_dir", config_file)
    build = _path_option(options.get("build_dir", DEFAULT_BUILD_DIR), base,
                         f"plugins: {PLUGIN_NAME}: build_dir", config_file)
    data = _path_option(options.get("data_dir"), base, f"plugins: {PLUGIN_NAME}: data_dir",
                        config_file)
    if not listed:
        log.warning("%s does not list the '%s' plugin under plugins:, so mkdocs will show no "
                    "results of the build; add `- %s` there", config_file, PLUGIN_NAME, PLUGIN_NAME)
    return SiteConfig(config_file, docs or base / DEFAULT_DOCS_DIR,
                      build or base / DEFAULT_BUILD_DIR, data, listed)


def find(config_file: Path | None) -> SiteConfig | None:
    """The site config named by ``--config-file``, else ``./mkdocs.yml`` if there is one."""
    if config_file is not None:
        return load(config_file)
    default = Path.cwd() / DEFAULT_CONFIG
    return load(default) if default.is_file() else None


def data_dir(flag: Path | None, site: SiteConfig | None) -> Path | None:
    """The offline data folder: ``--data-dir``, else ``$NNX_DATA_DIR``, else the plugin option.

    A folder named on the command line must exist (a typo is an error); one from the
    environment is used as given, so the loaders report where they looked; one from the site
    config that does not exist (a fork of a site without its data beside it) is a warning, and
    the loaders fall back to the Keras cache, a download or a package's copy.
    """
    if flag is not None:
        if not flag.is_dir():
            raise ConfigError(f"--data-dir {flag} is not a folder")
        return flag.resolve()
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser().resolve()
    if site is not None and site.data_dir is not None:
        if site.data_dir.is_dir():
            return site.data_dir
        log.warning("data_dir %s (plugin %s in %s) does not exist: building without offline "
                    "data copies", site.data_dir, PLUGIN_NAME, site.config_file)
    return None

"""The explainers' own scripts and stylesheet, shipped with the package and injected by the plugin.

Why the plugin injects them rather than a theme override: a site that installs the package and
names the plugin in its ``mkdocs.yml`` must get working scrubbers, palette-aware pictures and
sortable tables without copying files or setting ``theme.custom_dir``. The files are package
data (``pipeline/site/assets/``), served under :data:`URI_PREFIX`, a folder no recipe's assets
can use (slugs are ``[a-z0-9-]``, ``assets/<slug>/`` holds a recipe's files).
"""

from __future__ import annotations

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

#: Where the files live inside the installed package.
SOURCE_DIR = Path(__file__).with_name("assets")
#: Where the site serves them.
URI_PREFIX = "assets/_nnx/"
#: Stylesheets, before the site's own ``extra_css`` (so a site's rules win).
STYLESHEETS = ("nnx.css",)
#: Scripts in load order, after the theme's bundle (they subscribe to its ``document$``) and
#: before the site's own ``extra_javascript``. nnx-palette.js first: the others listen to it and
#: start through its ``nnxEachPage`` (once per page, instant navigation included);
#: nnx-replay-core.js (the numbers of a live replay) before nnx-replay.js (which draws them).
SCRIPTS = ("nnx-palette.js", "nnx-scrubber.js", "nnx-replay-core.js", "nnx-replay.js",
           "nnx-embeds.js", "nnx-sort.js", "nnx-a11y.js")


def uris() -> list[str]:
    """Every injected file's site path, stylesheets first."""
    return [URI_PREFIX + name for name in (*STYLESHEETS, *SCRIPTS)]


def inject(config: MkDocsConfig) -> None:
    """Name the files in ``extra_css`` / ``extra_javascript`` (once: serve re-runs on_config)."""
    extra_css = config.setdefault("extra_css", [])
    extra_js = config.setdefault("extra_javascript", [])
    extra_css[:0] = [URI_PREFIX + n for n in STYLESHEETS if URI_PREFIX + n not in extra_css]
    present = {str(s) for s in extra_js}
    extra_js[:0] = [URI_PREFIX + n for n in SCRIPTS if URI_PREFIX + n not in present]
    if config.get("watch") is not None and str(SOURCE_DIR) not in config["watch"]:
        config["watch"].append(str(SOURCE_DIR))  # `mkdocs serve` reloads when one is edited


def add_files(files: Files, config: MkDocsConfig, file_class: type[File]) -> None:
    """Register the files from the package folder (copied as they are, never rendered).

    A missing file is an installation problem (package data left out of a wheel), so it
    raises with the path instead of publishing pages whose scripts 404.
    """
    for name in (*STYLESHEETS, *SCRIPTS):
        path = SOURCE_DIR / name
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: the nn-explainers package is missing its page asset {name}; "
                "reinstall it (`pip install --force-reinstall nn-explainers`)")
        uri = URI_PREFIX + name
        if files.get_file_from_path(uri) is None:
            files.append(file_class.generated(config, uri, abs_src_path=str(path)))

"""The page scripts and stylesheet come with the plugin, not with this site's theme override."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from pipeline.site import page_assets
from tests.conftest import tiny_recipe
from tests.sitebuild import build_site


def test_every_listed_asset_is_package_data() -> None:
    for name in (*page_assets.STYLESHEETS, *page_assets.SCRIPTS):
        assert (page_assets.SOURCE_DIR / name).is_file(), name


def test_a_site_without_custom_dir_gets_the_scripts_in_order(mini) -> None:
    (mini.content / "index.md").write_text("# Home\n\n{{ gallery() }}\n")
    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build") == 0
    site = mini.root / "site"
    result = build_site(mini.content, mini.build_dir, site)
    assert result.returncode == 0, result.stderr
    # The same site with the theme override removed: nothing the explainers need is lost.
    text = (site.parent / "mkdocs.test.yml").read_text()
    bare = re.sub(r"(?m)^\s*custom_dir: .*\n", "", text)
    assert not re.search(r"(?m)^\s*custom_dir:", bare)
    cfg = mini.root / "mkdocs.bare.yml"
    cfg.write_text(bare)
    env = dict(os.environ, NNX_BUILD_DIR=str(mini.build_dir), NO_MKDOCS_2_WARNING="1")
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(cfg)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    page = (site / "demo" / "alpha" / "index.html").read_text()
    scripts = re.findall(r'<script src="\.\./\.\./assets/_nnx/([^"]+)"', page)
    assert scripts == list(page_assets.SCRIPTS)
    assert '<link rel="stylesheet" href="../../assets/_nnx/nnx.css">' in page
    # after the theme's bundle (the scripts subscribe to its document$)
    bundle = re.search(r'<script src="[^"]*assets/javascripts/bundle[^"]*"', page)
    assert bundle and page.index(bundle.group(0)) < page.index("assets/_nnx/nnx-palette.js")
    for name in (*page_assets.STYLESHEETS, *page_assets.SCRIPTS):
        served = site / "assets" / "_nnx" / name
        assert served.read_bytes() == (page_assets.SOURCE_DIR / name).read_bytes()

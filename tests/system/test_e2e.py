"""The real explainers, built with the quick profile, and the real site built with --strict.

Uses the repository's own ``build/`` folder, so after `nox -s build` (or an earlier run) only
changed recipes execute. Marked slow: the first run trains every quick-profile model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pipeline.library.precision import ONEDNN_DEFAULT
from tests.conftest import REPO_ROOT
from tests.sitebuild import build_site

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_build():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS=ONEDNN_DEFAULT)
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "build", "--profile", "quick"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=3600,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    from pipeline.builder.recipes import discover
    from pipeline.builder.store import BuildDir

    bdir = BuildDir(REPO_ROOT / "build")
    recipes = discover(REPO_ROOT / "content")
    return bdir, recipes


def test_every_recipe_has_a_verified_current_entry(real_build) -> None:
    bdir, recipes = real_build
    assert len(recipes) >= 1
    for recipe in recipes:
        current = bdir.current_entry(recipe.slug)
        assert current is not None, recipe.slug
        entry, manifest = current
        assert manifest["profile"] == "quick"
        assert manifest["data"] or not recipe.header.datasets, f"{recipe.slug} records no data"
        for out in manifest["outputs"]:
            assert (entry / "assets" / out["name"]).is_file()
            if out["kind"] in ("image", "video", "gif", "iframe"):
                assert len(out["alt"]) > 10, f"{recipe.slug}/{out['name']} needs real alt text"


def test_second_build_executes_nothing(real_build) -> None:
    result = subprocess.run([sys.executable, "-m", "pipeline", "build", "--profile", "quick"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0
    report = json.loads((REPO_ROOT / "build" / "reports" / "last-build.json").read_text())
    assert {o["status"] for o in report["outcomes"]} == {"cached"}


def test_real_site_builds_strict(real_build, tmp_path) -> None:
    _, recipes = real_build
    site = tmp_path / "site"
    result = build_site(REPO_ROOT / "content", REPO_ROOT / "build", site)
    assert result.returncode == 0, result.stderr[-4000:]
    for recipe in recipes:
        section = recipe.rel_path.rsplit("/", 1)[0]
        page = site / section / recipe.slug / "index.html"
        assert page.exists(), page
        html = page.read_text()
        assert "How this page was built" in html
        assert (site / "notebooks" / recipe.slug / "index.html").exists()


def test_boston_explainer_matches_the_seed(real_build) -> None:
    bdir, _ = real_build
    entry, manifest = bdir.current_entry("training-at-a-glance")
    assert manifest["data"][0]["n_train"] == 404 and manifest["data"][0]["n_test"] == 102
    assert 1.5 < manifest["metrics"]["boston_test_mae"] < 5.0
    html = (entry / "assets" / "boston-hiplot.html").read_text()
    assert '\\"epoch\\": 18' in html or '"epoch": 18' in html
    assert "@import\\\"https://fonts.googleapis" not in html

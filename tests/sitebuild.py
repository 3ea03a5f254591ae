"""Build a mkdocs site for a MiniProject with the real mkdocs.yml (paths made absolute)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pipeline.library.precision import ONEDNN_DEFAULT
from tests.conftest import REPO_ROOT


def write_config(content: Path, site: Path, dest: Path) -> Path:
    text = (REPO_ROOT / "mkdocs.yml").read_text()
    text = text.replace("docs_dir: content", f"docs_dir: {content}")
    text = text.replace("site_dir: site", f"site_dir: {site}")
    text = text.replace("custom_dir: site_overrides", f"custom_dir: {REPO_ROOT / 'site_overrides'}")
    dest.write_text(text)
    return dest


def build_site(content: Path, build_dir: Path, site: Path, strict: bool = True,
               ) -> subprocess.CompletedProcess[str]:
    cfg = write_config(content, site, site.parent / "mkdocs.test.yml")
    env = dict(os.environ, NNX_BUILD_DIR=str(build_dir), NO_MKDOCS_2_WARNING="1")
    cmd = [sys.executable, "-m", "mkdocs", "build", "-f", str(cfg)]
    if strict:
        cmd.append("--strict")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)


#: Set by ``nox -s tests``, which builds the real site into ``build/`` before pytest runs: the
#: recipe tests then build into that same store, where every recipe is a verified cache hit of
#: the same key (same recipe, library, profile, data, versions), instead of training all seven
#: again in private folders. Unset, each test module builds into its own temporary folder.
SHARED_BUILD_ENV = "NNX_TEST_BUILD_DIR"


def real_build_dir(private: Path) -> Path:
    """Where the real-recipe tests build: the shared build store if one is named, else ``private``."""
    shared = os.environ.get(SHARED_BUILD_ENV, "").strip()
    return Path(shared) if shared else private


def build_real_recipes(build_dir: Path, slugs: tuple[str, ...] | list[str], data_dir: Path,
                       timeout: int = 1800) -> dict[str, tuple[Path, dict]]:
    """Build the repository's own recipes ``slugs`` offline (quick profile) into ``build_dir``.

    Returns ``{slug: (assets folder, manifest)}`` of each verified current entry, so the slow
    recipe tests can recompute every picture from the model it claims to show.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS=ONEDNN_DEFAULT, NNX_OFFLINE="1")
    cmd = [sys.executable, "-m", "pipeline", "--build-dir", str(build_dir), "build",
           "--profile", "quick", "--data-dir", str(data_dir)]
    for slug in slugs:
        cmd += ["--only", slug]
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-6000:]
    from pipeline.builder.store import BuildDir

    bdir = BuildDir(build_dir)
    entries = {}
    for slug in slugs:
        current = bdir.current_entry(slug)
        assert current is not None, f"{slug} has no verified build entry"
        entry, manifest = current
        entries[slug] = (entry / "assets", manifest)
    return entries

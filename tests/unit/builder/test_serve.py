"""`python -m pipeline serve`: saving a recipe re-executes only that recipe and the served page
changes; a prose edit reloads without re-executing anything."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.builder.serve import RecipeWatcher, build_command
from tests.conftest import REPO_ROOT


def test_watcher_reports_saved_recipes_once(tmp_path) -> None:
    (tmp_path / "s").mkdir()
    a = tmp_path / "s" / "a.recipe.py"
    a.write_text("x = 1\n")
    (tmp_path / "s" / "b.recipe.py").write_text("y = 1\n")
    watcher = RecipeWatcher(tmp_path, rebuild=lambda slug: None)
    assert watcher.changed() == []
    a.write_text("x = 22\n")
    (tmp_path / "s" / "a.md").write_text("prose\n")  # pages are not recipes
    (tmp_path / "s" / "c.recipe.py").write_text("z = 1\n")
    assert watcher.changed() == ["a", "c"]
    assert watcher.changed() == []


def test_build_command_is_the_normal_build_of_one_recipe(tmp_path) -> None:
    cmd = build_command("a", tmp_path / "c", tmp_path / "b", "quick", None)
    assert cmd[1:3] == ["-m", "pipeline"] and cmd[cmd.index("--only") + 1] == "a"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read().decode("utf-8")
    except OSError:
        return None


def _wait_for(predicate, timeout: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if predicate():
            return time.perf_counter() - start
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout} s")


def _slope(html: str | None) -> float | None:
    match = re.search(r"slope is (-?[0-9.]+)", html or "")
    return float(match.group(1)) if match else None


@pytest.mark.slow
def test_saving_a_recipe_rebuilds_only_it_and_the_page_changes(mini, tmp_path) -> None:
    from tests.sitebuild import write_config

    for slug in ("edited", "other"):
        assert mini.cli("new", slug, "--section", "demo") == 0
    assert mini.cli("build") == 0
    other_state = mini.state("other")
    config = write_config(mini.content, tmp_path / "site", tmp_path / "mkdocs.serve.yml")
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), NNX_OFFLINE="1")
    cmd = [sys.executable, "-m", "pipeline", "--content-dir", str(mini.content), "--build-dir",
           str(mini.build_dir), "serve", "--dev-addr", f"127.0.0.1:{port}", "--config-file",
           str(config), "--data-dir", str(mini.data_dir)]
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed in finally
    server = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/demo/edited/"
    try:
        _wait_for(lambda: "The fitted slope is" in (_get(url) or ""), 120)
        assert _slope(_get(url)) == pytest.approx(0.8, abs=0.15)
        recipe = mini.content / "demo" / "edited.recipe.py"
        # Prose: the page changes, nothing is re-executed.
        state_before = mini.state("edited")
        page = mini.content / "demo" / "edited.md"
        page.write_text(page.read_text().replace("The fitted slope", "The prose-edited slope"))
        _wait_for(lambda: "The prose-edited slope" in (_get(url) or ""), 60)
        assert mini.state("edited") == state_before
        # Recipe: only it re-executes; the page shows the new result.
        recipe.write_text(recipe.read_text().replace("y = 0.8 * x", "y = -0.5 * x"))
        seconds = _wait_for(lambda: _slope(_get(url)) is not None and _slope(_get(url)) < 0, 180)
        assert mini.state("edited")["current"] != state_before["current"]
        assert mini.state("other") == other_state
        Path(os.environ.get("NNX_SERVE_TIMING", os.devnull)).write_text(json.dumps({"seconds": seconds}))
        print(f"save -> page updated: {seconds:.1f} s")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
        print(Path(tmp_path / "serve.log").read_text()[-3000:])

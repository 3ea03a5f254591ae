"""Past a GitHub Pages limit the preview keeps serving and says so; builds and deploys still fail.

Issue 24: a recipe that wrote a 185 MB replay ended ``pipeline serve`` (the hosting-limit error
aborted mkdocs' first build), so the author lost the page that would have shown what was wrong.
Now ``mkdocs serve`` warns in its log and on the page that owns the file, while ``mkdocs build``
(``--strict`` or not) and ``mkdocs gh-deploy`` (what ``nox -s deploy`` runs) fail as before.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.site.config import HostingConfig
from pipeline.site.extras import check_hosting_limits
from pipeline.site.hosting_limits import file_problem, hosting_banner, oversized
from tests.conftest import REPO_ROOT


def _hosting(max_file_mb: float) -> HostingConfig:
    config = HostingConfig()
    config.load_dict({"max_file_mb": max_file_mb})
    errors, _ = config.validate()
    assert not errors
    return config


def test_serving_warns_where_building_aborts(tmp_path: Path, caplog) -> None:
    from mkdocs.exceptions import Abort

    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "replay.npz").write_bytes(b"x" * 3000)
    log = logging.getLogger("test.hosting")
    with pytest.raises(Abort, match=r"assets/replay.npz is 0.0 MB; GitHub Pages refuses"):
        check_hosting_limits(tmp_path, _hosting(0.001), log)
    with caplog.at_level(logging.WARNING, logger="test.hosting"):
        check_hosting_limits(tmp_path, _hosting(0.001), log, serving=True)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "assets/replay.npz is 0.0 MB; GitHub Pages refuses files over 0 MB" in said
    assert "the preview keeps serving" in said
    check_hosting_limits(tmp_path, _hosting(1), log)  # within the limit: nothing to say


def test_page_banner_names_the_files() -> None:
    assert hosting_banner([]) == ""
    files = [("assets/a/small.png", 10), ("assets/a/replay.npz", 185_000_000),
             ("assets/a/big.mp4", 120_000_000)]
    over = oversized(files, 100_000_000)
    assert [name for name, _ in over] == ["assets/a/replay.npz", "assets/a/big.mp4"]
    banner = hosting_banner([file_problem(n, b, 100_000_000) for n, b in over])
    assert banner.startswith("!!! danger")
    assert "assets/a/replay.npz is 185.0 MB; GitHub Pages refuses files over 100 MB" in banner
    assert "`mkdocs build` (with or without `--strict`) and the deploy" in banner


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_serve_keeps_serving_past_a_limit_and_build_and_deploy_fail(mini, tmp_path) -> None:
    from tests.sitebuild import write_config
    from tests.unit.builder.test_serve import _free_port, _get, _wait_for

    assert mini.cli("new", "line", "--section", "demo") == 0
    assert mini.cli("build") == 0
    config = write_config(mini.content, tmp_path / "site", tmp_path / "mkdocs.limits.yml")
    text = config.read_text()
    assert "max_file_mb: 100" in text
    config.write_text(text.replace("max_file_mb: 100", "max_file_mb: 0.001"))  # 1 kB
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), NNX_OFFLINE="1",
               NNX_BUILD_DIR=str(mini.build_dir), NO_MKDOCS_2_WARNING="1")

    port = _free_port()
    cmd = [sys.executable, "-m", "pipeline", "--content-dir", str(mini.content), "--build-dir",
           str(mini.build_dir), "serve", "--dev-addr", f"127.0.0.1:{port}", "--config-file",
           str(config), "--data-dir", str(mini.data_dir)]
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}/demo/line/"
            _wait_for(lambda: "Over GitHub Pages" in (_get(url) or ""), 120)
            page = _get(url) or ""
            assert "assets/line/" in page and "refuses files over 0 MB" in page
            assert server.poll() is None, "the preview stopped"
            said = log_path.read_text()
            assert "Hosting limits:" in said and "the preview keeps serving" in said
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()

    built = _run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)],
                 REPO_ROOT, env)
    assert built.returncode != 0
    assert "does not fit GitHub Pages" in built.stdout + built.stderr

    # `nox -s deploy` runs `mkdocs gh-deploy --strict --force`: in a repository of its own it
    # builds first and fails there, before any push.
    repo = tmp_path / "repo"
    repo.mkdir()
    assert _run(["git", "init", "-q"], repo, env).returncode == 0
    deploy = _run([sys.executable, "-m", "mkdocs", "gh-deploy", "--strict", "--force", "-f",
                   str(config)], repo, env)
    assert deploy.returncode != 0
    assert "does not fit GitHub Pages" in deploy.stdout + deploy.stderr, deploy.stderr[-3000:]

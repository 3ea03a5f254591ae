"""The package as a user gets it: a wheel installed into a fresh venv, a new site made with
``init``, built and published offline, read in Chromium.

One module fixture does the user's steps once, outside this checkout (the checkout is never on
the venv's ``sys.path``, and the commands run in the new site's folder):

1. ``python -m build --wheel`` on a copy of the package's sources (pyproject, README,
   ``pipeline/``), so the checkout's own ``build/`` store is never touched;
2. ``uv venv`` + ``uv pip install 'nn_explainers-*.whl[cpu]'`` from uv's cache (TensorFlow
   included: seconds when the cache is warm, as in CI after the tests session's own install);
3. ``nn-explainers init site`` (the console script), ``python -m pipeline build`` (quick, all
   four example templates, offline), ``python -m mkdocs build --strict`` with every recipe
   required: the hosting limits (file, site, page budget) are warnings there, so they hold.

The tests then check the wheel's contents, that the installed package ran (not this checkout),
the examples' numbers against their own replay files, and each example page in Chromium: no
console errors, no request to another host, and the replay's epoch scrubber moving every panel.
Measured on the 2-core development machine (busy): about 2.5-3 minutes, most of it the four
recipes' quick builds.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser]

EXAMPLES = ("a-first-page", "replay-an-mlp", "inside-a-cnn", "your-model-fit")
#: Files a site needs from the wheel, beyond the Python modules.
PACKAGE_DATA = ("pipeline/site/assets/nnx-scrubber.js", "pipeline/site/assets/nnx.css",
                "pipeline/site/templates/video.html", "pipeline/builder/scaffold/cnn.recipe.py",
                "pipeline/builder/scaffold/keras-fit.md",
                "pipeline/builder/site_template/mkdocs.yml",
                "pipeline/builder/site_template/github/workflows/pages.yml",
                "pipeline/builder/site_template/gitignore")


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 900
         ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, (f"{' '.join(cmd)} failed ({result.returncode}):\n"
                                    f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell has: no PYTHONPATH into this checkout, no build store or
    data folder of this repository, offline."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "NNX_BUILD_DIR", "NNX_DATA_DIR", "NNX_TEST_BUILD_DIR",
                        "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")}
    env.update({"NNX_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "NO_MKDOCS_2_WARNING": "1"})
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    import time

    from tests.browser_support import StaticServer

    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, src / name)
    shutil.copytree(REPO_ROOT / "pipeline", src / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = _clean_env()
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    _run([sys.executable, "-m", "build", "--wheel", "--installer", "uv", "--outdir",
          str(root / "dist"), str(src)], root, env)
    seconds["wheel"] = time.perf_counter() - t
    wheel = next((root / "dist").glob("nn_explainers-*.whl"))
    venv = root / "venv"
    t = time.perf_counter()
    _run([sys.executable, "-m", "uv", "venv", "--python", sys.executable, str(venv)], root, env)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "uv", "pip", "install", "--python", str(python),
          f"{wheel}[cpu]"], root, env)
    seconds["install"] = time.perf_counter() - t
    t = time.perf_counter()
    _run([str(venv / "bin" / "nn-explainers"), "init", "site"], root, env)
    site = root / "site"
    build = _run([str(python), "-m", "pipeline", "build", "--profile", "quick"], site, env)
    seconds["build"] = time.perf_counter() - t
    (site / "site").mkdir()
    with StaticServer(site / "site") as server:
        t = time.perf_counter()
        # SITE_URL as the Pages workflow sets it: instant loading needs the real address
        _run([str(python), "-m", "mkdocs", "build", "--strict"], site,
             _clean_env(NNX_REQUIRE_ALL="1", SITE_URL=server.base))
        seconds["mkdocs"] = time.perf_counter() - t
        print("wheel test seconds:", {k: round(v, 1) for k, v in seconds.items()})  # with -s
        yield {"root": root, "wheel": wheel, "python": python, "site": site,
               "base": server.base, "build_log": build.stderr + build.stdout}


def test_the_wheel_holds_the_page_scripts_templates_and_scaffolds(user) -> None:
    names = set(zipfile.ZipFile(user["wheel"]).namelist())
    for name in PACKAGE_DATA:
        assert name in names, f"{name} is not in the wheel"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(user["wheel"]).read(entry_points).decode()
    assert "nn-explainers = pipeline.site.plugin:ExplainersPlugin" in text
    assert "nn-explainers = pipeline.builder.cli:main" in text


def test_the_installed_package_ran_not_this_checkout(user) -> None:
    out = subprocess.run([str(user["python"]), "-c", "import pipeline, sys; "
                          "print(pipeline.__file__); print(sys.path)"],
                         cwd=user["site"], env=_clean_env(), capture_output=True, text=True,
                         check=True).stdout
    location = Path(out.splitlines()[0]).resolve()
    assert location.is_relative_to(user["root"] / "venv"), location
    assert str(REPO_ROOT) not in out
    # the store the site shows is the one the build wrote, beside the site's mkdocs.yml
    state = json.loads((user["site"] / "build" / "reports" / "last-build.json").read_text())
    assert sorted(o["slug"] for o in state["outcomes"]) == sorted(EXAMPLES)
    assert all(o["status"] == "ran" for o in state["outcomes"])


def _assets(user: dict[str, Any], slug: str) -> Path:
    return user["site"] / "site" / "assets" / slug


def test_the_examples_numbers_are_their_models(user) -> None:
    """The keras-fit example's replay file rebuilds the model: its recorded loss is what Keras
    computes from the recorded weights (an end-to-end check of the recorder under model.fit)."""
    script = f"""
import json, sys
import keras, numpy as np
from pipeline.library.replay import Replay
r = Replay.load({str(_assets(user, "your-model-fit") / "replay.npz")!r})
out = {{}}
for epoch in (0, int(r.epochs[-1])):
    m = keras.models.model_from_json(json.dumps(r.model_config))
    w = r.weights(epoch)
    m.set_weights([w[f"{{ly.name}}/{{v.name}}"] for ly in m.layers for v in ly.weights])
    m.compile(loss=r.loss_name)
    got = m.evaluate(r.probe_x, r.probe_y, batch_size=len(r.probe_x), verbose=0, return_dict=True)
    out[epoch] = [float(got["loss"]), float(r.metrics["probe_loss"][r.index(epoch)])]
print(json.dumps(out))
"""
    result = subprocess.run([str(user["python"]), "-c", script], cwd=user["site"],
                            env=_clean_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for computed, recorded in json.loads(result.stdout.strip().splitlines()[-1]).values():
        assert computed == pytest.approx(recorded, rel=1e-4, abs=1e-6)
    index = json.loads((_assets(user, "inside-a-cnn") / "replay-frames" / "index.json")
                       .read_text())
    assert index["epochs"][0] == 0 and len(index["files"]) == len(index["epochs"])
    cnn = np.load(_assets(user, "inside-a-cnn") / "replay.npz")
    # the CNN's recorder kept only what its replay draws: the hidden layer, no weights
    assert [k for k in cnn.files if k.startswith("output/")] == ["output/hidden"]
    assert not [k for k in cnn.files if k.startswith("weight/")]


def test_example_pages_in_chromium_load_offline_and_scrub(user) -> None:
    from playwright.sync_api import sync_playwright

    from tests.browser_support import (
        CHROMIUM,
        CHROMIUM_ARGS,
        UrlChecker,
        console_problems,
        external_request_problems,
        http_problems,
        open_page,
        resource_problems,
        scrubber_problems,
    )

    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: apt-get install chromium"
    base, checker = user["base"], UrlChecker(user["base"])
    problems: list[str] = []
    scrubbed = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for path in ("", *(f"examples/{slug}/" for slug in EXAMPLES)):
                with open_page(browser, base + path, base) as (page, visit):
                    problems += http_problems(visit) + resource_problems(page, checker)
                    if page.locator("[data-nnx-frames]").count():
                        found = scrubber_problems(page, checker)
                        problems += found
                        if not found:
                            scrubbed.append(path)
                    problems += console_problems(visit) + external_request_problems(visit, base)
        finally:
            browser.close()
    assert not problems, "\n".join(problems)
    assert scrubbed == [f"examples/{s}/" for s in ("replay-an-mlp", "inside-a-cnn",
                                                   "your-model-fit")]

"""Same seed, profile and hardware: a rebuild gives the same numbers and the same pictures.

A real recipe (the cheapest with images: training-at-a-glance, ~10 s) is built twice into two
separate build folders, the second time with ``--force`` through the process pool
(``--jobs 2``), so the check also covers "--jobs 2 publishes what --jobs 1 publishes" for a
TensorFlow recipe. Metrics must be equal; every image must look the same. The three builds
start the recipe's kernel three ways (each notebook's metadata says which): cold (started for
the recipe), forked from a zygote that imported TensorFlow and Keras before (the default,
:mod:`pipeline.builder.kernel_zygote`), and warm (started ahead as a new process,
``NNX_FORK_KERNELS=0``).

Tolerance (``benchmarks.bench_build.IMAGE_TOLERANCE``): same size and frame count, at most
0.1 % of the pixels may differ and none by more than 2/255 in any channel. In practice the
images are pixel-identical on one machine; the tolerance only absorbs an anti-aliasing step
should a library round differently, while a different curve or prediction changes far more.
Other files are not compared byte for byte: ``*.keras`` archives carry a time stamp and the
HiPlot page a random element id.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from benchmarks.bench_build import IMAGE_SUFFIXES, compare_builds
from pipeline.library.precision import ONEDNN_DEFAULT
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

RECIPE = ("basics", "training-at-a-glance")


def _build(content, build_dir, *extra: str, env_extra: dict[str, str] | None = None) -> None:
    # the defaults: threads pinned from the machine, warm kernels importing TensorFlow
    env = {k: v for k, v in os.environ.items()
           if k not in ("NNX_KERNEL_THREADS", "NNX_WARM_IMPORTS", "NNX_WARM_KERNELS",
                        "NNX_FORK_KERNELS")}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS=ONEDNN_DEFAULT, **(env_extra or {}))
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "--content-dir", str(content), "--build-dir",
         str(build_dir), "build", "--profile", "quick", *extra],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-6000:]


def test_rebuild_gives_the_same_metrics_and_pictures(tmp_path) -> None:
    section, slug = RECIPE
    content = tmp_path / "content" / section
    content.mkdir(parents=True)
    for suffix in (".recipe.py", ".md"):
        shutil.copy2(REPO_ROOT / "content" / section / f"{slug}{suffix}", content)

    _build(tmp_path / "content", tmp_path / "first", "--no-warm-kernels")
    assert _kernel(tmp_path / "first", slug) == "cold"
    # Forked from a zygote that imported TensorFlow and Keras before the recipe seeds and runs
    _build(tmp_path / "content", tmp_path / "second", "--force", "--jobs", "2")
    assert _kernel(tmp_path / "second", slug) == "forked"
    _same(tmp_path / "first", tmp_path / "second", slug)

    # A warm kernel started as a new process: a tiny recipe ordered first makes the real one
    # take the kernel started ahead.
    from tests.conftest import tiny_recipe

    (content / "aaa-first.recipe.py").write_text(tiny_recipe("First", extra_header="order: 0"))
    _build(tmp_path / "content", tmp_path / "third", "--jobs", "1",
           env_extra={"NNX_FORK_KERNELS": "0"})
    assert _kernel(tmp_path / "third", slug) == "warm"
    _same(tmp_path / "first", tmp_path / "third", slug)


def _kernel(build_dir, slug: str) -> str:
    """How the recipe's kernel started, from the executed notebook's metadata."""
    import json

    from pipeline.builder.store import BuildDir

    current = BuildDir(build_dir).current_entry(slug)
    assert current is not None
    notebook = json.loads((current[0] / "notebook" / f"{slug}.ipynb").read_text())
    return str(notebook["metadata"]["nnx"]["kernel"])


def _same(first, second, slug: str) -> None:
    result = compare_builds(first, second, [slug])["recipes"][slug]
    assert result["same_key"], "same recipe, profile, data and versions must give the same key"
    assert result["metrics_equal"], result["metric_differences"]
    assert result["missing"] == [], "both builds must write the same files"
    assert result["images"] >= 2, "the recipe should have written its figures"
    assert result["different_images"] == [], result["worst_image"]
    assert result["different_arrays"] == []
    images = [n for n in result.get("bytes_differ", []) if n.lower().endswith(IMAGE_SUFFIXES)]
    assert images == []

"""Shared fixtures: a miniature project (content + build dirs) with tiny, TensorFlow-free recipes."""

from __future__ import annotations

import importlib
import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

from pipeline.library.precision import ONEDNN_DEFAULT

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The verified offline datasets: ``$NNX_DATA_DIR`` when set (as for the builds), else the
#: checkout's ``../shared/datasets``.
SHARED_DATA = Path(os.environ.get("NNX_DATA_DIR") or REPO_ROOT.parent / "shared" / "datasets"
                   ).expanduser().resolve()

#: Set by ``nox -s tests`` (and so by CI): a test whose TensorFlow/Keras, other required
#: package, offline data or Chromium is missing fails instead of skipping, so a suite cannot
#: pass green without them. Plain ``pytest`` (``nox -s unit``) still skips. Optional Keras
#: backends (JAX, PyTorch) always skip: a machine need not have them.
REQUIRE_DEPS_ENV = "NNX_REQUIRE_TEST_DEPS"


def deps_required() -> bool:
    return os.environ.get(REQUIRE_DEPS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def missing(what: str, fix: str) -> NoReturn:
    """Skip (the module too, when called at import), or fail under :data:`REQUIRE_DEPS_ENV`."""
    message = f"{what} is missing; {fix}"
    if deps_required():
        pytest.fail(f"{message} ({REQUIRE_DEPS_ENV} is set: this run may not skip it)",
                    pytrace=False)
    pytest.skip(message, allow_module_level=True)


def need_module(name: str) -> ModuleType:
    """``pytest.importorskip`` that fails under :data:`REQUIRE_DEPS_ENV` (the one place the
    suite decides that a required package may be absent)."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"the package {name!r} ({exc})",
                "install the test environment (`nox -s tests --install-only`)")


def need_data(*parts: str) -> Path:
    """``SHARED_DATA / parts``, which must exist (skip, or fail under :data:`REQUIRE_DEPS_ENV`)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        missing(f"the offline data {path}",
                "put the verified datasets in ../shared/datasets or set NNX_DATA_DIR")
    return path


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.needs_data("mnist")``: the test needs that folder of the offline data."""
    for mark in item.iter_markers("needs_data"):
        need_data(*mark.args)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", ONEDNN_DEFAULT)
os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
os.environ.setdefault("NNX_OFFLINE", "1")
os.environ.setdefault("NNX_WARM_IMPORTS", "numpy,matplotlib.pyplot")  # the recipes here skip TF


def recipe_header(title: str, description: str, datasets: str, quick_n: int, full_n: int,
                  extra_header: str = "", thumbnail: str | None = None) -> str:
    """The ``# ---`` YAML header of a test recipe (``extra_header``: more ``explainer`` fields)."""
    header = f"# ---\n# explainer:\n#   title: {title}\n#   description: {description}\n"
    header += f"#   datasets: {datasets}\n"
    if thumbnail:
        header += f"#   thumbnail: {thumbnail}\n"
    header += f"#   profiles:\n#     quick: {{n: {quick_n}}}\n#     full: {{n: {full_n}}}\n"
    header += "".join(f"#   {line}\n" for line in extra_header.splitlines())
    return header + "# ---\n"


def tiny_recipe(title: str = "Tiny", datasets: str = "[]", body: str = "", n: int = 3,
                extra_header: str = "") -> str:
    """A recipe that draws a line with numpy/matplotlib (no TensorFlow: fast to execute)."""
    header = recipe_header(title, "A tiny recipe for tests.", datasets, n, n * 2, extra_header,
                           thumbnail="line.png")
    return header + textwrap.dedent("""
        # %% [markdown]
        # A tiny explainer.

        # %% tags=["parameters"]
        profile = "quick"
        seed = 0
        asset_dir = "_assets"
        data_dir = None
        sizes = {"n": 3}

        # %%
        import matplotlib.pyplot as plt
        import numpy as np
        from pipeline.library.runtime import Explainer
        ex = Explainer(asset_dir=asset_dir, profile=profile, seed=seed, data_dir=data_dir, sizes=sizes)
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot(np.arange(sizes["n"]) ** 2)
        ex.save_figure(fig, "line.png", alt="a parabola drawn from the sizes")
        ex.metric("n", sizes["n"])
        """) + textwrap.dedent(body) + "\n# %%\nex.finish()\n"


TINY_PAGE = """# {title}

Some prose.

{{{{ figure("line.png") }}}}

The size was {{{{ metric("n") }}}}.
"""


class MiniProject:
    """A content folder and build folder in tmp_path, built through the real CLI."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.content = root / "content"
        self.build_dir = root / "build"
        self.data_dir = root / "data"
        self.content.mkdir()
        self.data_dir.mkdir()

    def add(self, slug: str, recipe: str, section: str = "demo", page: str | None = None) -> Path:
        folder = self.content / section
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{slug}.recipe.py"
        path.write_text(recipe)
        (folder / f"{slug}.md").write_text(page if page is not None else TINY_PAGE.format(title=slug))
        return path

    def cli(self, *args: str) -> int:
        from pipeline.builder.cli import main

        common = ["--content-dir", str(self.content), "--build-dir", str(self.build_dir)]
        command, rest = args[0], list(args[1:])
        if command == "build" and "--data-dir" not in rest:
            rest += ["--data-dir", str(self.data_dir)]
        return main([*common, command, *rest])

    def state(self, slug: str) -> dict:
        """The recipe's state record as its JSON dict (read through the typed reader)."""
        from pipeline.builder.store import BuildDir

        return BuildDir(self.build_dir).read_state(slug).to_dict()

    def current(self, slug: str):
        from pipeline.builder.store import BuildDir

        return BuildDir(self.build_dir).current_entry(slug)

    def report(self) -> dict:
        import json

        return json.loads((self.build_dir / "reports" / "last-build.json").read_text())

    def statuses(self) -> dict[str, str]:
        return {o["slug"]: o["status"] for o in self.report()["outcomes"]}


@pytest.fixture
def mini(tmp_path: Path) -> MiniProject:
    return MiniProject(tmp_path)


@pytest.fixture
def make_mini(tmp_path: Path) -> Callable[[str], MiniProject]:
    def factory(name: str) -> MiniProject:
        root = tmp_path / name
        root.mkdir()
        return MiniProject(root)

    return factory

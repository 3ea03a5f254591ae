"""Recipes written for an earlier layout fail with where the module went, not a bare
``No module named ...`` (pipeline/_moved.py)."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

#: The names issue 25 found failing without help; the table must keep them.
NAMED = {"pipeline.datasets": "pipeline.library.datasets",
         "pipeline.replay": "pipeline.library.replay",
         "pipeline.runtime": "pipeline.library.runtime",
         "pipeline.training": "pipeline.library.training",
         "pipeline.errors": "pipeline.library.errors"}


@pytest.mark.parametrize(("old", "new"), sorted(NAMED.items()))
def test_old_top_level_names_say_where_they_moved(old: str, new: str) -> None:
    """In a fresh interpreter, as a recipe's kernel would import it."""
    code = f"from {old} import something"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: ")
    assert f"`{old}` moved to `{new}`" in last and f"from {new} import" in last


def test_every_moved_name_points_at_a_module_that_exists_and_is_gone_itself() -> None:
    from pipeline._moved import MOVED

    assert set(NAMED.items()) <= set(MOVED.items())
    for old, new in MOVED.items():
        assert importlib.util.find_spec(new) is not None, f"{old} -> {new}: no such module"
        with pytest.raises(ModuleNotFoundError, match=f"`{old}` moved to `{new}`"):
            importlib.import_module(old)


def test_a_submodule_of_a_moved_package_names_the_package() -> None:
    with pytest.raises(ModuleNotFoundError, match="`pipeline.build` moved to `pipeline.builder`"):
        importlib.import_module("pipeline.build.cache")
    with pytest.raises(ModuleNotFoundError, match="`pipeline.replay` moved"):
        importlib.import_module("pipeline.replay.recorder")


def test_names_that_never_existed_still_fail_plainly() -> None:
    with pytest.raises(ModuleNotFoundError) as info:
        importlib.import_module("pipeline.no_such_module")
    assert "moved" not in str(info.value)

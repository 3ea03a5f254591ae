"""One error tree: every user-facing error lives in pipeline.library.errors."""

from __future__ import annotations

import ast
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.library import errors
from pipeline.library.errors import PipelineError, user_error_names, user_errors

PACKAGE = Path(__file__).resolve().parents[3] / "pipeline"


def _classes_deriving_from_errors(path: Path) -> list[str]:
    """Classes in ``path`` whose bases name an exception (``...Error``, ``Exception``, ...)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
            if any(b.endswith(("Error", "Exception")) or b in ("CorruptEntry", "DatasetCorrupt",
                                                               "UnsafeInclude", "RecipeFailed")
                   for b in bases):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.name}")
    return found


def test_no_error_class_is_defined_outside_the_errors_module() -> None:
    outside = [c for p in sorted(PACKAGE.rglob("*.py")) if p.name != "errors.py"
               for c in _classes_deriving_from_errors(p)]
    assert outside == [], "define user-facing errors in pipeline/library/errors.py"


def test_every_error_class_is_a_pipeline_error() -> None:
    defined = [v for v in vars(errors).values()
               if isinstance(v, type) and issubclass(v, BaseException)]
    assert defined and all(issubclass(cls, PipelineError) for cls in defined)
    assert set(user_errors()) >= set(defined)


def test_user_error_names_walk_the_subclasses() -> None:
    names = user_error_names()
    for name in ("PipelineError", "HeaderError", "TrainingDiverged", "DatasetCorrupt",
                 "PanelError", "ReplayFileError", "CorruptEntry", "PackError", "RecipeFailed",
                 "ShortcodeUsageError", "UnsafeInclude", "HostingLimitError"):
        assert name in names
    assert "ValueError" not in names and "Exception" not in names

    class LaterError(errors.PanelError):  # a subclass defined later is found too
        pass

    assert "LaterError" in user_error_names()


def test_old_import_paths_give_the_same_classes() -> None:
    from pipeline.builder.executor import RecipeFailed
    from pipeline.builder.store import CorruptEntry
    from pipeline.builder.store_pack import PackError
    from pipeline.library.datasets import DatasetCorrupt
    from pipeline.library.replay.forward import UnsupportedModel
    from pipeline.library.replay.panels import PanelError
    from pipeline.library.replay.store import ReplayFileError
    from pipeline.library.replay.task import TaskError
    from pipeline.site.hosting_limits import HostingLimitError
    from pipeline.site.pages import ShortcodeError, ShortcodeUsageError, UnsafeInclude

    assert (RecipeFailed, CorruptEntry, PackError, DatasetCorrupt, UnsupportedModel, PanelError,
            ReplayFileError, TaskError, HostingLimitError, ShortcodeError, ShortcodeUsageError,
            UnsafeInclude) == (
        errors.RecipeFailed, errors.CorruptEntry, errors.PackError, errors.DatasetCorrupt,
        errors.UnsupportedModel, errors.PanelError, errors.ReplayFileError, errors.TaskError,
        errors.HostingLimitError, errors.ShortcodeError, errors.ShortcodeUsageError,
        errors.UnsafeInclude)


def test_errors_keep_the_builtin_bases_callers_catch() -> None:
    assert issubclass(errors.ShortcodeError, ValueError)
    assert issubclass(errors.UnsafeInclude, ValueError)
    assert issubclass(errors.HostingLimitError, RuntimeError)


@pytest.mark.parametrize("exc", [
    errors.DatasetCorrupt("a/b.npz", "truncated"),
    errors.ReplayFileError("run.nnxreplay", "not a zip file"),
    errors.ReplayFileError(None, "empty"),
    errors.HeaderError("x.recipe.py", "no title"),
    errors.PanelError("boundary needs 2 inputs"),
])
def test_errors_pickle_with_their_message(exc) -> None:
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and str(back) == str(exc)


def test_recipe_failed_carries_its_failure() -> None:
    from pipeline.builder.records import Failure

    failure = Failure("a.recipe.py", 3, 2, "x = 1/0", "ZeroDivisionError", "division", "tb")
    exc = pickle.loads(pickle.dumps(errors.RecipeFailed(failure)))
    assert exc.failure == failure and str(exc) == failure.summary
    assert str(exc) == "a.recipe.py, cell 3 (line 2): ZeroDivisionError: division"


def test_errors_module_imports_only_the_standard_library() -> None:
    code = ("import sys; import pipeline.library.errors; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'tensorflow', 'keras', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent)
    assert out.stdout.strip() == "[]"

"""One error tree under PipelineError, one module per room: pipeline.library.errors holds what a
recipe's kernel raises (it is in every recipe's key), pipeline.builder.errors and
pipeline.site.errors what only the build tool or the site raise (in no key)."""

from __future__ import annotations

import ast
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.builder import errors as builder_errors
from pipeline.library import errors
from pipeline.library.errors import PipelineError, user_error_names, user_errors
from pipeline.site import errors as site_errors

PACKAGE = Path(__file__).resolve().parents[3] / "pipeline"
ROOMS = {"library": errors, "builder": builder_errors, "site": site_errors}


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
    assert outside == [], "define user-facing errors in the errors.py of the room that raises them"
    assert sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("errors.py")) == [
        "builder/errors.py", "library/errors.py", "site/errors.py"]


def _defined(module) -> list[type]:
    return [v for v in vars(module).values() if isinstance(v, type)
            and issubclass(v, BaseException) and v.__module__ == module.__name__]


def test_every_error_class_is_a_pipeline_error() -> None:
    for module in ROOMS.values():
        defined = _defined(module)
        assert defined and all(issubclass(cls, PipelineError) for cls in defined)
        assert set(user_errors()) >= set(defined)


def _names_used(room: str) -> set[str]:
    """Every name the modules of ``pipeline/<room>/`` use, apart from its errors.py."""
    used: set[str] = set()
    for path in (PACKAGE / room).rglob("*.py"):
        if path.name != "errors.py":
            tree = ast.parse(path.read_text(encoding="utf-8"))
            used |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
            used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
            used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                     for a in n.names}
    return used


def test_each_room_keeps_the_errors_it_raises() -> None:
    """The library's module holds only errors the library (a kernel) uses: a builder or site
    message there would be in every recipe's key, so rewording it would retrain everything."""
    library_uses = _names_used("library")
    kernel_only = [cls.__name__ for cls in _defined(errors)
                   if cls.__name__ not in library_uses]
    assert kernel_only == [], "errors the library never uses: move them to their room"
    for room in ("builder", "site"):
        strays = [cls.__name__ for cls in _defined(ROOMS[room]) if cls.__name__ in library_uses]
        assert strays == [], f"the library uses {strays}: they belong in pipeline/library/errors.py"


def test_user_error_names_walk_the_subclasses() -> None:
    names = user_error_names()
    for name in ("PipelineError", "HeaderError", "TrainingDiverged", "DatasetCorrupt",
                 "PanelError", "ReplayFileError", "CorruptEntry", "PackError", "RecipeFailed",
                 "ShortcodeUsageError", "UnsafeInclude", "HostingLimitError"):
        # (the builder's and the site's are found once imported, as they are here)
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
        builder_errors.RecipeFailed, builder_errors.CorruptEntry, builder_errors.PackError,
        errors.DatasetCorrupt, errors.UnsupportedModel, errors.PanelError,
        errors.ReplayFileError, errors.TaskError, site_errors.HostingLimitError,
        site_errors.ShortcodeError, site_errors.ShortcodeUsageError, site_errors.UnsafeInclude)


def test_errors_keep_the_builtin_bases_callers_catch() -> None:
    assert issubclass(site_errors.ShortcodeError, ValueError)
    assert issubclass(site_errors.UnsafeInclude, ValueError)
    assert issubclass(site_errors.HostingLimitError, RuntimeError)


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
    exc = pickle.loads(pickle.dumps(builder_errors.RecipeFailed(failure)))
    assert exc.failure == failure and str(exc) == failure.summary
    assert str(exc) == "a.recipe.py, cell 3 (line 2): ZeroDivisionError: division"


def test_errors_module_imports_only_the_standard_library() -> None:
    code = ("import sys; import pipeline.library.errors; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('numpy', 'tensorflow', 'keras', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent)
    assert out.stdout.strip() == "[]"

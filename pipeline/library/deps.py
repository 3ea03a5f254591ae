"""The kernel's recorder: what a running recipe used, like a compiler's depfile (``deps.json``).

The build cannot know before a run which library modules, data files and packages a recipe
will use (imports can be conditional, loaders pick among copies). So the kernel records them
while the recipe runs and :meth:`pipeline.library.runtime.Explainer.finish` writes them next to
``outputs.json``; the build copies the record into the manifest and keys the *next* build on
exactly those files and versions. Editing a module re-executes only the recipes that imported
it; the recipe's own text is in the key too, so a recipe edited to import something new runs.

Recorded:

- ``modules``: the repository's own modules in ``sys.modules`` (``pipeline/library/**`` and
  ``pipeline/__init__.py``), as repository-relative paths. What :data:`NOT_KEYED` lists (the
  build tool, the site) never changes a result, so it is left out even if imported.
- ``data``: files read while recording (an audit hook on ``open``, so every loader is covered
  without registering by hand) below the data roots, as ``ROOT:relative/path`` with ROOT one
  of ``data`` (the data directory), ``keras`` (Keras's home: its dataset and weight caches) and
  ``recipe`` (the recipe's folder). A reader that opens files in C (h5py, TensorFlow's file
  system) is invisible to the hook: call :func:`record_data_file` for it.
- ``packages``: the versions of the installed distributions behind the top-level modules in
  ``sys.modules`` (standard library, the project itself and the kernel's own machinery excluded).

Only the standard library is imported here. The build tool reads the record back with
:mod:`pipeline.builder.depfiles` (which resolves the tokens under the same :func:`data_roots`);
this module only records. :data:`NOT_KEYED` is the one list of what no key covers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEPFILE = "deps.json"
DEPS_SCHEMA = 1

#: The repository checkout: the parent of the ``pipeline`` package.
_PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = _PACKAGE_DIR.parent
#: What no cache key covers, as repository-relative path prefixes: the rooms that never run in a
#: recipe's kernel (the build tool, the site, with their own errors) and the table of moved
#: module names (it only words an import that fails anyway). The one list: the recorder leaves
#: these out of a run's record, and the build out of its module snapshot and of every key
#: (``pipeline.builder.cache.library_sources``, ``pipeline.builder.depfiles.hash_record``).
NOT_KEYED = ("pipeline/builder/", "pipeline/site/", "pipeline/_moved.py")

#: Distributions that run the kernel rather than the recipe: they are in every kernel's
#: ``sys.modules`` but never change a result (an ipykernel upgrade must not retrain everything).
KERNEL_DISTRIBUTIONS = frozenset({
    "appnope", "asttokens", "comm", "debugpy", "decorator", "executing", "ipykernel", "ipython",
    "jedi", "jupyter-client", "jupyter-core", "matplotlib-inline", "nest-asyncio", "parso",
    "pexpect", "platformdirs", "prompt-toolkit", "ptyprocess", "pure-eval", "pygments", "pyzmq",
    "stack-data", "tornado", "traitlets", "wcwidth", "rich", "markdown-it-py", "mdurl",
    "typing-extensions", "setuptools", "pip", "wheel",
})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | getattr(os, "O_DIRECTORY", 0)


def canonical_name(distribution: str) -> str:
    """PEP 503 name: ``Typing_Extensions`` and ``typing-extensions`` are one distribution
    (``packaging``'s rule, which pip and the build's version lookup also use)."""
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(distribution))


def data_roots(data_dir: str | os.PathLike[str] | None,
               recipe_dir: str | os.PathLike[str] | None) -> dict[str, Path]:
    """The folders whose files count as a recipe's data, by token (same in kernel and build)."""
    from pipeline.library.datasets import default_data_dir, keras_home

    roots: dict[str, Path] = {}
    data = Path(data_dir).expanduser() if data_dir else default_data_dir()
    if data is not None:
        roots["data"] = Path(os.path.abspath(data))
    roots["keras"] = Path(os.path.abspath(keras_home()))
    if recipe_dir:
        roots["recipe"] = Path(os.path.abspath(recipe_dir))
    return roots


class _Recorder:
    """The files opened for reading below the roots, while a recipe runs."""

    def __init__(self, roots: Mapping[str, Path], exclude: tuple[Path, ...]) -> None:
        # Both spellings of each root: a loader may open through a symbolic link or not.
        pairs: list[tuple[str, str]] = []
        for token, root in roots.items():
            for spelling in {os.path.abspath(root), os.path.realpath(root)}:
                pairs.append((spelling.rstrip(os.sep) + os.sep, token))
        self.roots = sorted(pairs, key=lambda p: -len(p[0]))  # most specific root first
        self.exclude = tuple({os.path.abspath(p).rstrip(os.sep) + os.sep for p in exclude}
                             | {os.path.realpath(p).rstrip(os.sep) + os.sep for p in exclude})
        self.files: set[str] = set()

    def consider(self, path: str) -> None:
        if path.startswith(self.exclude) or "__pycache__" in path or path.endswith(".recipe.py"):
            return
        for prefix, token in self.roots:
            if path.startswith(prefix):
                self.files.add(f"{token}:{Path(path[len(prefix):]).as_posix()}")
                return


_recorder: _Recorder | None = None
_hook_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """``sys.addaudithook`` callback: note files opened for reading (never raises)."""
    if event != "open" or _recorder is None:
        return
    try:
        path, mode, flags = args
        if path is None or isinstance(path, int):
            return
        if mode is not None:
            if any(ch in mode for ch in "wax+"):
                return
        elif flags & _WRITE_FLAGS:
            return
        _recorder.consider(os.path.abspath(os.fsdecode(path)))
    except Exception:  # noqa: BLE001 - an audit hook that raises would break the open() call
        return


def start_recording(data_dir: str | os.PathLike[str] | None,
                    recipe_dir: str | os.PathLike[str] | None,
                    exclude: tuple[Path, ...] = ()) -> None:
    """Record from now on which data files this process reads (files in ``exclude`` never).

    Audit hooks cannot be removed, so the hook is installed once per process and only records
    while a recorder is active; a new call starts a new, empty record.
    """
    global _recorder, _hook_installed
    try:
        roots = data_roots(data_dir, recipe_dir)
    except Exception:  # noqa: BLE001 - without roots there is nothing to record, but a run goes on
        log.warning("cannot tell where data lives; data files are not recorded", exc_info=True)
        return
    _recorder = _Recorder(roots, exclude)
    if not _hook_installed:
        sys.addaudithook(_audit)
        _hook_installed = True


def record_data_file(path: str | os.PathLike[str]) -> None:
    """Record a data file read by code the audit hook cannot see (a C library such as h5py)."""
    if _recorder is not None:
        _recorder.consider(os.path.abspath(os.fsdecode(os.fspath(path))))


def recorded_modules() -> list[str]:
    """Repository-relative paths of the project's modules this process imported."""
    found: set[str] = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not file:
            continue
        with contextlib.suppress(ValueError, OSError):
            rel = Path(os.path.abspath(file)).relative_to(REPO_ROOT).as_posix()
            if rel.startswith("pipeline/") and not rel.startswith(NOT_KEYED):
                found.add(rel)
    return sorted(found)


def recorded_packages() -> dict[str, str]:
    """``{distribution: version}`` for the third-party top-level modules in ``sys.modules``."""
    from importlib import metadata

    tops = {name.partition(".")[0] for name in list(sys.modules)}
    tops -= set(sys.stdlib_module_names) | {"pipeline", "__main__", "__mp_main__"}
    owners = metadata.packages_distributions()
    versions: dict[str, str] = {}
    for top in sorted(tops):
        for dist in owners.get(top, ()):
            name = canonical_name(dist)
            if name in KERNEL_DISTRIBUTIONS or name in versions:
                continue
            try:
                versions[name] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                continue
    return dict(sorted(versions.items()))


def collect() -> dict[str, Any]:
    """The record of this run so far: modules, data files, packages and Python's version."""
    import platform

    return {
        "schema": DEPS_SCHEMA,
        "modules": recorded_modules(),
        "data": sorted(_recorder.files) if _recorder is not None else [],
        "packages": recorded_packages(),
        "python": platform.python_version(),
    }


def write_depfile(folder: Path) -> Path:
    """Write :func:`collect`'s record as ``folder/deps.json`` (atomically)."""
    from pipeline.library import atomic

    path = folder / DEPFILE
    atomic.write_json(path, collect())
    return path

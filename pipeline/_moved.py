"""Module names of earlier layouts, and where each module lives now.

Until the house got its three rooms, every module sat at the top of the package
(``pipeline.datasets``, ``pipeline.replay``, ``pipeline.runtime``, ...), and the build tool was
``pipeline.build`` before it became ``pipeline.builder``. A recipe written then fails at its
first import. Python would say only ``No module named 'pipeline.datasets'``; this finder says
where the module went, so the fix is one edited line.

Chosen over serving the old names for a release with a deprecation warning: an alias would give
each moved module two names (two module objects, two ``isinstance`` worlds) and hide from the
cache which file a recipe used. The table is the complete list from git history
(``git log --diff-filter=D --name-only``, ``git log -M --name-status``).

It only answers for a name that nothing else can import (it is the last finder asked), so it
never changes what an existing module is, and it is left out of every cache key
(:data:`pipeline.library.deps.NOT_KEYED`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

_LIBRARY = ("atomic", "attribution", "backends", "datasets", "errors", "hiplot_export",
            "inspection", "open_data", "palette", "replay", "runtime", "tables", "training")
_BUILDER = ("accelerator", "cache", "cli", "distributed", "doctor", "executor", "kernel_sockets",
            "locking", "notebook_export", "parallel", "progress", "recipes", "resources",
            "scaffolding", "serve", "store", "store_pack", "warm_kernels")

#: ``{old module name: its module now}``.
MOVED: dict[str, str] = {
    **{f"pipeline.{name}": f"pipeline.library.{name}" for name in _LIBRARY},
    **{f"pipeline.{name}": f"pipeline.builder.{name}" for name in _BUILDER},
    "pipeline.cifar_views": "pipeline.library.explainers.cifar_views",
    "pipeline.cnn_views": "pipeline.library.explainers.cnn_views",
    "pipeline.build": "pipeline.builder",  # build.py, later the build/ package
    "pipeline.build_report": "pipeline.site.build_report",
    "pipeline.hosting_limits": "pipeline.site.hosting_limits",
    "pipeline.thumbnails": "pipeline.site.thumbnails",
    "pipeline.site_extras": "pipeline.site.extras",
    "pipeline.site_nav": "pipeline.site.nav",
    "pipeline.site_pages": "pipeline.site.pages",
    "pipeline.mkdocs_hook": "pipeline.site.plugin",
}

#: Where a name the library's error module no longer defines went (errors of one room only).
_NOTES = {
    "pipeline.errors": " (errors only the build tool or the site raise are in "
                       "pipeline.builder.errors and pipeline.site.errors)",
    "pipeline.notebook_export": " (it stores the executed notebook; the notebook page is "
                                "made by pipeline.site.notebook_page)",
}


def moved_message(name: str) -> str | None:
    """What to tell a recipe that imports ``name`` (None: the name never moved)."""
    new = MOVED.get(name)
    if new is None:
        return None
    return (f"`{name}` moved to `{new}`{_NOTES.get(name, '')}: change the import to "
            f"`from {new} import ...` (CONTRIBUTING.md, \"Moved modules\")")


class MovedModuleFinder:
    """A meta path finder that raises ``ModuleNotFoundError`` naming a moved module's new home."""

    @classmethod
    def find_spec(cls, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        message = moved_message(fullname)
        if message is None:
            return None
        raise ModuleNotFoundError(message, name=fullname)


def install() -> None:
    """Put the finder last on ``sys.meta_path`` (once): only names nothing else finds reach it."""
    if not any(finder is MovedModuleFinder for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder)

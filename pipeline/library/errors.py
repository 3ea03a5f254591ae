"""Every error a recipe's kernel can raise for the user to fix, in one tree under :class:`PipelineError`.

Every message names the file, field, cell or dataset involved and says what to do, because the
person reading it is usually looking at a build log, not at our source.
Exceptions keep their arguments picklable so they cross process boundaries (parallel builds).

Why one module: the build tool shortens the kernel traceback of a *user* error (the message
says what to do; the library's frames would only bury it), so it must know every user error's
name. It imports this module and walks :class:`PipelineError`'s subclasses
(:func:`user_error_names`); this module imports nothing beyond the standard library, so the
build tool and the site can import it without TensorFlow. The classes stay importable from the
modules that raise them (``pipeline.library.replay.panels.PanelError``, ...).

Only errors a kernel raises live here: every recipe imports this module, so its text is in
every recipe's cache key. Errors only the build tool or the site raise live in their rooms
(:mod:`pipeline.builder.errors`, :mod:`pipeline.site.errors`), where rewording one re-executes
nothing. ``HeaderError`` and ``ConfigError`` stay: the library raises them too (``open_data``,
the dataset loaders).
"""

from __future__ import annotations

import os
from typing import Any


class PipelineError(Exception):
    """Base class: an error caused by input the user can fix (not a bug in the pipeline)."""


class HeaderError(PipelineError):
    """A recipe's YAML header is missing, malformed, or has unknown / invalid fields."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.detail = message

    def __reduce__(self) -> tuple[Any, ...]:  # keep pickling simple across processes
        return (type(self), (self.path, self.detail))


class ConfigError(PipelineError):
    """Bad command-line arguments or configuration values."""


class AssetPathError(PipelineError):
    """An asset name that is empty, absolute, or would escape the asset directory."""


class DatasetUnavailable(PipelineError):
    """A dataset could not be found in any of the places it is looked for."""

    def __init__(self, name: str, looked_in: list[str], how_to_fix: str) -> None:
        places = "\n".join(f"  - {p}" for p in looked_in) or "  (nowhere)"
        super().__init__(
            f"dataset {name!r} is not available offline.\nLooked in:\n{places}\nTo fix: {how_to_fix}"
        )
        self.name = name
        self.looked_in = list(looked_in)
        self.how_to_fix = how_to_fix

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.name, self.looked_in, self.how_to_fix))


class TrainingDiverged(PipelineError):
    """Training produced a non-finite loss; carries the epoch and learning rate for the page."""

    def __init__(self, epoch: int, learning_rate: float | None, loss: float) -> None:
        lr = "unknown" if learning_rate is None else f"{learning_rate:g}"
        super().__init__(
            f"training diverged at epoch {epoch}: loss became {loss} with learning rate {lr}. "
            "Lower the learning rate or check the input scaling."
        )
        self.epoch = epoch
        self.learning_rate = learning_rate
        self.loss = loss

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.epoch, self.learning_rate, self.loss))


class DatasetCorrupt(PipelineError):
    """An offline copy exists but is damaged (truncated, wrong header, wrong shape).

    Raised instead of falling back to another source, because a silently different dataset would
    make the page's provenance box wrong.
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(
            f"{path}: {problem}. This offline copy is damaged: restore it from the data "
            "directory's source (its README and SHA256SUMS say where each file comes from; "
            "build_and_verify.py re-checks them), or remove it so another source is used."
        )
        self.path = path
        self.problem = problem

    def __reduce__(self) -> tuple[Any, ...]:  # keep pickling simple across processes
        return (type(self), (self.path, self.problem))


class TaskError(PipelineError):
    """The replay does not say which kind of task its model solves."""


class PanelError(PipelineError):
    """A panel cannot draw this replay (wrong layer, missing data, unsupported model)."""


class UnsupportedModel(PipelineError):
    """The stored model contains a layer or activation the numpy forward pass cannot evaluate."""


class ReplayDataTooLarge(PipelineError):
    """A replay's data for the page is over its size cap; the message says what to thin."""


class ReplayFileError(PipelineError):
    """A replay file is missing, truncated, corrupted, or not a replay file at all."""

    def __init__(self, path: str | os.PathLike[str] | None, message: str) -> None:
        where = str(path) if path is not None else "<in-memory replay>"
        super().__init__(f"{where}: {message}")
        self.path = None if path is None else str(path)
        self.detail = message

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.detail))


class ReplayBudgetError(ReplayFileError):
    """A replay file published for readers is over its size budget; the message says what
    takes the space and what to thin (points, epochs, layers)."""


def user_errors() -> list[type[PipelineError]]:
    """:class:`PipelineError` and every subclass of it, found by walking ``__subclasses__``."""
    found: list[type[PipelineError]] = []
    todo: list[type[PipelineError]] = [PipelineError]
    while todo:
        cls = todo.pop()
        if cls not in found:
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return found


def user_error_names() -> frozenset[str]:
    """The class names of :func:`user_errors` (what a kernel's ``ename`` is compared with)."""
    return frozenset(cls.__name__ for cls in user_errors())

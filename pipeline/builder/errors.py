"""Errors only the build tool raises: a locked build folder, a damaged store entry or pack file,
a failed recipe.

Why here and not in :mod:`pipeline.library.errors`: every recipe imports the library's error
module, so its text is part of every recipe's cache key. An error no kernel ever raises lives in
the room that raises it, where rewording its message re-executes nothing. They still derive from
:class:`~pipeline.library.errors.PipelineError`, so the command line catches every user error
with one ``except``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.library.errors import PipelineError

if TYPE_CHECKING:
    from pipeline.builder.records import Failure


class BuildLocked(PipelineError):
    """Another build holds the lock on this build directory."""


class CorruptEntry(PipelineError):
    """A store entry failed verification; the message says what is wrong (it is rebuilt)."""


class PackError(PipelineError):
    """A pack file that cannot be used; the message names the file and the member."""


class RecipeFailed(PipelineError):
    """A recipe's notebook failed; carries the failure record (cell, source, traceback)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.summary)
        self.failure = failure

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.failure,))

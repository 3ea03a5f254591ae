"""Exception types for errors a user can fix.

Every message names the file, field, cell or dataset involved and says what to do, because the
person reading it is usually looking at a build log, not at our source.
Exceptions keep their arguments picklable so they cross process boundaries (parallel builds).
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base class: an error caused by input the user can fix (not a bug in the pipeline)."""


class HeaderError(PipelineError):
    """A recipe's YAML header is missing, malformed, or has unknown / invalid fields."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.detail = message

    def __reduce__(self):  # keep pickling simple across processes
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

    def __reduce__(self):
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

    def __reduce__(self):
        return (type(self), (self.epoch, self.learning_rate, self.loss))


class BuildLocked(PipelineError):
    """Another build holds the lock on this build directory."""

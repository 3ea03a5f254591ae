"""The build's records, typed: what a run produced, how it ended, what each recipe's state is.

Every record the build writes as JSON (a store entry's ``manifest.json``, ``state/<slug>.json``
with its last attempt and failure, a run's :class:`Outcome`) is a dataclass here, converted from
and to JSON in exactly one place: its ``from_dict`` / ``to_dict``. The build tool and the site
read records only through these classes, so a field is spelled once and a garbled or
hand-edited value is handled once (dropped with a warning, never trusted).

The JSON written to disk is unchanged (the same keys as before): sealed manifests still verify
(:func:`pipeline.builder.store.seal_manifest`). Standard library only and no TensorFlow: the site
imports this module (models: nox's ``Status``/``Result``, jupyter-cache's records,
mkdocs-gallery's ``gen_data_model.py``).
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: A full cache key (sha256 hex); ``state/<slug>.json``'s ``current`` must be one.
KEY_RE = re.compile(r"[0-9a-f]{64}")


class OutcomeStatus(enum.StrEnum):
    """How one recipe's run in a build ended (``"ran"`` etc. in JSON and in the report)."""

    RAN = "ran"
    CACHED = "cached"
    FAILED = "failed"


class ResultState(enum.StrEnum):
    """What the recipe itself said about its result (``outputs.json``'s ``status.state``)."""

    OK = "ok"
    DIVERGED = "diverged"


class FailureKind(enum.StrEnum):
    """Why a run failed; the site words each kind for readers (``pages.FAILURE_WORDS``)."""

    ERROR = "error"
    TIMEOUT = "timeout"
    KERNEL_DIED = "kernel-died"
    DIVERGED = "diverged"
    SETUP = "setup"
    INTERNAL = "internal"


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _enum(kind: type[enum.StrEnum], value: Any) -> Any:
    try:
        return kind(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Failure:
    """Where and why a recipe failed: the failing cell, its source and the kernel's traceback.

    The one record of a failure: the executor and the job runners build it, it rides in
    :class:`pipeline.builder.errors.RecipeFailed` and in a ``jobs.Outcome`` across worker
    processes (plain, frozen data, so it pickles), the state file keeps it in the last attempt,
    and the build's summary and the page's stale banner show it.

    ``summary`` is the one-line headline. A new failure computes it from the other fields; one
    read back from a state file keeps the line as written (a file without one gets it computed,
    or "" when the file says nothing at all, so the page falls back to a generic wording).
    """

    recipe: str = ""
    cell_index: int | None = None
    line: int | None = None
    source: str = ""
    ename: str = ""
    evalue: str = ""
    traceback: str = ""
    kind: FailureKind = FailureKind.ERROR
    summary: str = ""

    def __post_init__(self) -> None:
        if not self.summary:
            object.__setattr__(self, "summary", self._headline())

    def _headline(self) -> str:
        """``<recipe>, cell <n> (line <m>): <ename>: <evalue>``; "" for an empty record."""
        if not (self.recipe or self.ename or self.evalue):
            return ""
        where = f"cell {self.cell_index}" if self.cell_index is not None else "setup"
        if self.line:
            where += f" (line {self.line})"
        return f"{self.recipe}, {where}: {self.ename}: {self.evalue}".strip()

    @classmethod
    def read(cls, failure: Any) -> Failure:
        """What a :class:`~pipeline.builder.errors.RecipeFailed` carries, as a :class:`Failure`.

        Anything else with a ``to_dict`` (a failure record from another version of this class,
        unpickled across processes) is converted through its dict.
        """
        return failure if isinstance(failure, Failure) else cls.from_dict(failure.to_dict())

    @classmethod
    def from_dict(cls, data: Any) -> Failure:
        """Read a failure as written by :meth:`to_dict`; a garbled field gets its default.

        An unknown or missing ``kind`` reads as :attr:`FailureKind.ERROR`, the generic kind the
        site words as plainly "failed".
        """
        d = _dict(data)
        return cls(
            recipe=_str(d.get("recipe")),
            cell_index=_opt_int(d.get("cell_index")), line=_opt_int(d.get("line")),
            source=_str(d.get("source")), ename=_str(d.get("ename")),
            evalue=_str(d.get("evalue")), traceback=_str(d.get("traceback")),
            kind=_enum(FailureKind, d.get("kind")) or FailureKind.ERROR,
            summary=_str(d.get("summary")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe, "cell_index": self.cell_index, "line": self.line,
            "source": self.source, "ename": self.ename, "evalue": self.evalue,
            "traceback": self.traceback, "kind": str(self.kind), "summary": self.summary,
        }

    def report(self) -> str:
        """The human report: summary, the cell's source, the recipe's own traceback."""
        lines = [self.summary]
        if self.source:
            lines += ["", "Cell source:"] + ["    " + ln for ln in self.source.splitlines()]
        if self.traceback:
            lines += ["", "Traceback (from the recipe's kernel):"]
            lines += ["    " + ln for ln in self.traceback.rstrip().splitlines()]
        return "\n".join(lines)


@dataclass(frozen=True)
class ResultStatus:
    """The recipe's own verdict on its result (``Explainer.diverged`` and the non-finite check).

    ``raw`` is the dict as the recipe wrote it; it is what the manifest stores.
    """

    state: ResultState = ResultState.OK
    epoch: int | None = None
    learning_rate: float | None = None
    loss: Any = None
    message: str = ""
    detected: str = ""
    #: the notebook cell (its execution count) in which a non-finite value was detected
    cell: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_dict(cls, data: Any) -> ResultStatus:
        d = _dict(data)
        state = ResultState.DIVERGED if d.get("state") == ResultState.DIVERGED else ResultState.OK
        return cls(state=state, epoch=_opt_int(d.get("epoch")), learning_rate=d.get("learning_rate"),
                   loss=d.get("loss"), message=str(d.get("message") or ""),
                   detected=_str(d.get("detected")), cell=_opt_int(d.get("cell")), raw=d)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)

    @property
    def diverged(self) -> bool:
        return self.state is ResultState.DIVERGED

    @property
    def untrusted_from_cell(self) -> int | None:
        """Notebook cells from this execution count on show pictures of a diverged run that the
        recipe did not handle itself (the non-finite check, not ``Explainer.diverged``); 0 means
        every cell (the run was found out only at the end). None: nothing to withhold."""
        if not self.diverged or self.detected != "non-finite":
            return None
        return self.cell if self.cell is not None and self.epoch is not None else 0


@dataclass(frozen=True)
class Attempt:
    """The last time a build tried a recipe (``state/<slug>.json``'s ``last_attempt``)."""

    status: OutcomeStatus | None = None
    key: str | None = None
    at: str | None = None
    seconds: float | None = None
    failure: Failure | None = None

    @classmethod
    def from_dict(cls, data: Any) -> Attempt:
        d = _dict(data)
        failure = d.get("failure")
        return cls(status=_enum(OutcomeStatus, d.get("status")), key=_opt_str(d.get("key")),
                   at=_opt_str(d.get("at")), seconds=_opt_float(d.get("seconds")),
                   failure=Failure.from_dict(failure) if isinstance(failure, Mapping) else None)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key, "status": None if self.status is None else str(self.status),
            "at": self.at, "seconds": self.seconds,
            "failure": None if self.failure is None else self.failure.to_dict(),
        }
        return {k: v for k, v in out.items() if v is not None}

    @property
    def failed(self) -> bool:
        return self.status is OutcomeStatus.FAILED


@dataclass(frozen=True)
class RecipeState:
    """Which store entry of a recipe is current (its last good result), and its last attempt.

    Only a pointer: losing it costs nothing (the next build finds the entry for the current key
    and rewrites it), while trusting a bad value could point the site outside the store, so
    :meth:`from_dict` drops any field that is not what it should be.
    """

    current: str | None = None
    last_attempt: Attempt | None = None

    @classmethod
    def from_dict(cls, data: Any, where: str | Path = "state") -> RecipeState:
        if not isinstance(data, Mapping):
            log.warning("state file %s is not a JSON object; ignoring it", where)
            return cls()
        current = data.get("current")
        if current is not None and not (isinstance(current, str) and KEY_RE.fullmatch(current)):
            log.warning("state file %s: 'current' is not a cache key; ignoring it", where)
            current = None
        attempt = data.get("last_attempt")
        if attempt is not None and not (
            isinstance(attempt, Mapping) and isinstance(attempt.get("failure") or {}, Mapping)
        ):
            log.warning("state file %s: 'last_attempt' is malformed; ignoring it", where)
            attempt = None
        return cls(current=current,
                   last_attempt=None if attempt is None else Attempt.from_dict(attempt))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.current is not None:
            out["current"] = self.current
        if self.last_attempt is not None:
            out["last_attempt"] = self.last_attempt.to_dict()
        return out

    @property
    def stale(self) -> bool:
        """True when the latest build of the recipe failed (older results, if any, are shown)."""
        return self.last_attempt is not None and self.last_attempt.failed


@dataclass(frozen=True)
class Manifest:
    """A store entry's ``manifest.json``: what one run of a recipe produced, and how.

    A typed view for reading; ``raw`` is the JSON as sealed (every field, also the ones this
    view does not name), which is what the integrity hash covers.
    """

    slug: str = ""
    recipe: str = ""
    page: str | None = None
    title: str = ""
    description: str = ""
    section: str = ""
    seed_article: str = ""
    order: int | None = None
    thumbnail: str | None = None
    datasets: tuple[str, ...] = ()
    key: str = ""
    profile: str | None = None
    seed: int | None = None
    sizes: dict[str, Any] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, Any] = field(default_factory=dict)
    data: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status: ResultStatus = field(default_factory=ResultStatus)
    hardware: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, Any] = field(default_factory=dict)
    built_at: str | None = None
    notebook: str | None = None
    files: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        d = _dict(data)
        return cls(
            slug=_str(d.get("slug")), recipe=_str(d.get("recipe")), page=_opt_str(d.get("page")),
            title=_str(d.get("title")), description=_str(d.get("description")),
            section=_str(d.get("section")), seed_article=_str(d.get("seed_article")),
            order=_opt_int(d.get("order")), thumbnail=_opt_str(d.get("thumbnail")),
            datasets=tuple(str(x) for x in _list(d.get("datasets"))), key=_str(d.get("key")),
            profile=_opt_str(d.get("profile")), seed=_opt_int(d.get("seed")),
            sizes=_dict(d.get("sizes")),
            outputs=[dict(o) for o in _list(d.get("outputs")) if isinstance(o, Mapping)],
            metrics=_dict(d.get("metrics")), timings=_dict(d.get("timings")),
            data=[dict(x) for x in _list(d.get("data")) if isinstance(x, Mapping)],
            notes=[str(n) for n in _list(d.get("notes"))],
            status=ResultStatus.from_dict(d.get("status")), hardware=_dict(d.get("hardware")),
            resources=_dict(d.get("resources")), versions=_dict(d.get("versions")),
            built_at=_opt_str(d.get("built_at")), notebook=_opt_str(d.get("notebook")),
            files=_dict(d.get("files")), raw=d,
        )

    @classmethod
    def read(cls, manifest: Manifest | Mapping[str, Any] | None) -> Manifest | None:
        """``manifest`` as a :class:`Manifest` (a dict is converted; None stays None)."""
        if manifest is None or isinstance(manifest, Manifest):
            return manifest
        return cls.from_dict(manifest)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)

    def output(self, name: str) -> dict[str, Any] | None:
        """The ``outputs`` record of the asset called ``name`` (None if the run wrote none)."""
        return next((o for o in self.outputs if o.get("name") == name), None)

    def has_file(self, rel: str) -> bool:
        """True when the entry's file table lists ``rel`` (e.g. ``assets/fig.png``)."""
        return rel in self.files

    @property
    def diverged(self) -> bool:
        return self.status.diverged


def read_state(state: RecipeState | Mapping[str, Any] | None) -> RecipeState:
    """``state`` as a :class:`RecipeState` (a dict is converted; None is "never built")."""
    if isinstance(state, RecipeState):
        return state
    return RecipeState.from_dict(state or {})

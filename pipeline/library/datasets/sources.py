"""The source order every loader follows: try each place in turn, remember why each failed,
and raise one :class:`~pipeline.library.errors.DatasetUnavailable` listing them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from pipeline.library.datasets.places import DATA_DIR_ENV
from pipeline.library.datasets.registry import SOURCES, DatasetSpec, check_source, stages_for
from pipeline.library.errors import DatasetUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

_STAGE_LABELS = {
    "verified": "verified copy",
    "keras-cache": "Keras cache",
    "keras-download": "Keras download",
    "package": "package copy",
}


class Trail:
    """The places tried so far, each with why it did not work (for DatasetUnavailable)."""

    def __init__(self) -> None:
        self.places: list[str] = []

    def add(self, where: str, why: str) -> None:
        self.places.append(f"{where}: {why}")
        log.debug("dataset source not used: %s: %s", where, why)


def run_stages(
    spec: DatasetSpec,
    source: str,
    stages: Mapping[str, Callable[[Trail], T | None]],
    allowed: Sequence[str] = SOURCES,
) -> T:
    """Try each stage of ``source``'s order; the first non-None result wins."""
    check_source(source, allowed)
    trail = Trail()
    for stage in stages_for(source, spec.auto_order):
        fn = stages.get(stage)
        if fn is None:
            trail.add(_STAGE_LABELS[stage], "there is none for this dataset")
            continue
        result = fn(trail)
        if result is not None:
            return result
    raise DatasetUnavailable(spec.name, trail.places, spec.how_to_fix)


def verified_files(trail: Trail, data: Path | None, rels: Sequence[str]) -> list[Path] | None:
    """The verified files ``rels`` in ``data``, or None (recording why) if any is missing."""
    if data is None:
        trail.add(
            "verified copy",
            f"no data directory (data_dir=None and {DATA_DIR_ENV} unset: pass --data-dir, set "
            f"{DATA_DIR_ENV}, or set data_dir of the nn-explainers plugin in mkdocs.yml)",
        )
        return None
    if not data.is_dir():
        trail.add(f"verified copy in {data}", "the data directory does not exist")
        return None
    paths = [data / rel for rel in rels]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        trail.add(f"verified copy {', '.join(missing)}", "missing")
        return None
    return paths

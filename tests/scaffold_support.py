"""The replay scaffold as a test helper: what ``pipeline new`` writes, and its data/model cells
swapped for a fixture's (the cells an author is meant to change)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO_ROOT

SCAFFOLD = REPO_ROOT / "pipeline" / "scaffold"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "explainers"
EDITABLE_TAGS = ("data", "model")
"""Cells an author is meant to change (tagged in the template); every other cell stays."""

_MARKER = re.compile(r"^# %%.*$", re.MULTILINE)


def scaffold(template: str, *, slug: str, section: str, title: str, description: str
             ) -> tuple[str, str]:
    """``(recipe, page)`` of ``pipeline/builder/scaffold/<template>.recipe.py`` / ``.md``, substituted."""
    import tempfile

    from pipeline.builder.scaffolding import create

    with tempfile.TemporaryDirectory() as content:  # exactly what `pipeline new` writes
        made = create(Path(content), slug, section, template=template, title=title,
                      description=description)
        return made.recipe.read_text(), made.page.read_text()


def cells(text: str) -> list[tuple[str, str]]:
    """``[(marker line, cell text)]``; the header before the first marker has marker ``""``."""
    starts = [m.start() for m in _MARKER.finditer(text)]
    out = [("", text[: starts[0]] if starts else text)]
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        chunk = text[start:end]
        marker = chunk.split("\n", 1)[0]
        out.append((marker, chunk))
    return out


def tags(marker: str) -> set[str]:
    """The ``tags=[...]`` of a ``# %%`` marker line."""
    found = re.search(r"tags=\[([^\]]*)\]", marker)
    return {t.strip().strip("\"'") for t in found.group(1).split(",")} if found else set()


def editable(marker: str) -> bool:
    return bool(tags(marker) & set(EDITABLE_TAGS))


def edited_cells(recipe: str, template: str) -> list[str]:
    """Markers of the cells where ``recipe`` differs from ``template``; raises AssertionError
    when the two do not have the same cells in the same order."""
    a, b = cells(recipe), cells(template)
    assert [m for m, _ in a] == [m for m, _ in b], "the cells differ in number, order or tags"
    return [ma for (ma, ta), (_, tb) in zip(a, b, strict=True) if ta != tb]


def with_cells_of(fresh: str, edited: str) -> str:
    """``fresh`` (a recipe ``pipeline new`` just wrote) with its editable cells replaced by
    those of ``edited``; every other cell stays as ``pipeline new`` wrote it."""
    a, b = cells(fresh), cells(edited)
    assert [m for m, _ in a] == [m for m, _ in b], "the cells differ in number, order or tags"
    return "".join(tb if editable(ma) else ta for (ma, ta), (_, tb) in zip(a, b, strict=True))

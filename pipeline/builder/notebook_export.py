"""Store the executed notebook in the build's entry (``notebook/<slug>.ipynb``), as it ran.

Only the notebook is stored: the "Notebook" page is made from it by the site at every site build
(:mod:`pipeline.site.notebook_page`), so a change to how that page looks never waits for a
recipe to retrain, and nothing of the page's format needs to be in a cache key. The notebook
keeps everything the page needs, the inline figures' dark twins included
(:data:`pipeline.library.inline_dark.DARK_PNG_MIME`); the download the site publishes leaves the
twins out. A run that the recipe's non-finite check marked diverged keeps no picture drawn from
it, in the notebook either (:func:`withhold_pictures`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pipeline.library.inline_dark import DARK_PNG_MIME

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: Output mimetypes that are pictures (the dark twin included).
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif", DARK_PNG_MIME)
WITHHELD_TEXT = ("[picture not published: drawn after training diverged, from numbers that are "
                 "not finite]\n")


def write_notebook(nb: Any, notebook_dir: Path, slug: str) -> Path:
    """Write the executed notebook ``nb`` as ``notebook_dir/<slug>.ipynb``; return its path."""
    import nbformat

    notebook_dir.mkdir(parents=True, exist_ok=True)
    path = notebook_dir / f"{slug}.ipynb"
    nbformat.write(nb, path)
    return path


def withhold_pictures(nb: Any, from_cell: int | None) -> int:
    """Replace the image outputs of cells executed at or after ``from_cell`` (0: every cell)
    by a line saying why, in place; return how many were replaced (None: withhold nothing).

    ``from_cell`` is :attr:`pipeline.builder.records.ResultStatus.untrusted_from_cell`: the
    cell where the recipe's non-finite check found the run diverged.
    """
    if from_cell is None:
        return 0
    import nbformat

    n = 0
    for cell in nb.get("cells", []):
        count = cell.get("execution_count")
        if cell.get("cell_type") != "code" or (from_cell and (count is None or count < from_cell)):
            continue
        outputs = []
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            if any(mime in data for mime in IMAGE_MIMES):
                n += 1
                outputs.append(nbformat.v4.new_output("stream", name="stdout", text=WITHHELD_TEXT))
            else:
                outputs.append(output)
        cell["outputs"] = outputs
    return n


def withhold_in_stored(path: Path, from_cell: int | None) -> int:
    """:func:`withhold_pictures` on the stored notebook at ``path`` (rewritten if it changed)."""
    if from_cell is None or not path.is_file():
        return 0
    import nbformat

    nb = nbformat.read(path, as_version=4)
    n = withhold_pictures(nb, from_cell)
    if n:
        nbformat.write(nb, path)
    return n

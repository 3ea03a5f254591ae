"""The executed notebook as a page of the site: Markdown, its images, and the download.

Made from the notebook the build stored (``notebook/<slug>.ipynb`` in the store entry) every
time the site is built, and never stored itself. How a notebook page looks is the site's
choice, like every other page: a change here (or to nbconvert's template, or to the sanitiser)
changes every notebook page at the next ``mkdocs build``, and no recipe re-executes, because
nothing of the site is in a cache key. (Until this moved here the builder wrote the page into
the store, where a new format waited for each recipe to retrain.) Exporting a stored notebook
takes about 0.03-0.09 s.

What the page gets, and why:

- **Sanitised HTML.** ``text/html`` outputs (and ``text/markdown``, rendered to HTML first) go
  through :mod:`pipeline.site.sanitize`, wrapped in one ``<div>`` so that Markdown leaves them
  alone (a bare ``[x](javascript:...)`` would otherwise become a link). An output that needed
  something removed shows its ``text/plain`` version when it has one; every removal is
  reported with the cell it came from.
- **Plain text for console-style HTML.** ``rich`` (Keras' ``model.summary()``) displays a
  ``<pre style=...>`` coloured for a dark terminal, which fails contrast checks and makes a
  scrollable block keyboard users cannot reach; its plain text becomes a code block instead.
- **Sanitised SVG.** ``image/svg+xml`` outputs become files of the site's origin; they go
  through :mod:`pipeline.site.sanitize_svg`, and what was removed is reported per file.
- **Dark twins.** The kernel adds a dark version to each inline figure
  (:mod:`pipeline.library.inline_dark`); it is written next to the light image as
  ``<slug>_<cell>_<output>.dark.png``, which is how the page pairs them. An entry stored before
  the page moved here has a stripped notebook and the twins as files: those are used.
- **Nothing of a diverged run.** When the recipe's non-finite check marked the run diverged
  (:attr:`pipeline.builder.records.ResultStatus.untrusted_from_cell`), the pictures of the cell
  where it happened and of every later one are withheld, from the page and the download alike
  (the build already left them out of the stored notebook; this covers older entries).
- **The download** is the notebook as a reader runs it: its figures once, without the twins.
"""

from __future__ import annotations

import base64
import copy
import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.builder.notebook_export import withhold_pictures
from pipeline.library.inline_dark import DARK_PNG_MIME
from pipeline.site.errors import SvgRejected
from pipeline.site.sanitize import describe, one_block, sanitize
from pipeline.site.sanitize_svg import sanitize_svg

log = logging.getLogger("mkdocs.plugins.nnx")

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass
class NotebookPage:
    """One exported notebook: Markdown (images as ``<slug>_files/...``), the files it links to
    (relative to the notebook's folder), the download, and what the export changed."""

    markdown: str
    files: dict[str, bytes]
    download: bytes
    removed: list[str] = field(default_factory=list)  # warnings: "cell 7: a <script> element"
    notes: list[str] = field(default_factory=list)  # inert markup dropped
    withheld: int = 0  # pictures not published (a diverged run)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _cell_label(cell: Any, index: int) -> str:
    first = next((line.strip() for line in _text(cell.get("source", "")).splitlines()
                  if line.strip()), "")
    count = cell.get("execution_count")
    where = f"cell {index}" + (f" (In [{count}])" if count else "")
    return f"{where}, `{first[:60]}`" if first else where


def _markdown_to_html(text: str) -> str:
    import markdown

    return str(markdown.markdown(text, extensions=["tables", "fenced_code"]))


def sanitize_outputs(nb: Any) -> tuple[list[str], list[str]]:
    """Make every HTML output of ``nb`` safe to inline (in place); return (removed, notes).

    Console-style HTML falls back to its plain text; ``text/markdown`` is rendered to HTML and
    cleaned like HTML; ``text/latex`` (shown verbatim by the Markdown template) shows its plain
    text, or is escaped.
    """
    removed: list[str] = []
    notes: list[str] = []
    for index, cell in enumerate(nb.get("cells", [])):
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not data:
                continue
            plain = "text/plain" in data
            if "text/markdown" in data:
                markdown_html = _markdown_to_html(_text(data.pop("text/markdown")))
                data.setdefault("text/html", markdown_html)
            if "text/latex" in data:
                latex = _text(data.pop("text/latex"))
                if not plain and "text/html" not in data:
                    data["text/html"] = f"<pre>{html.escape(latex)}</pre>"
            if "text/html" not in data:
                continue
            source = _text(data["text/html"])
            if plain and source.lstrip().startswith("<pre"):
                del data["text/html"]  # rich's console HTML: the plain text reads better
                continue
            clean = sanitize(source)
            where = _cell_label(cell, index)
            if clean.removed:
                fallback = " (its plain text is shown instead)" if plain else ""
                removed.append(f"{where}: removed {describe(clean.removed)}{fallback}")
            if clean.inert:
                notes.append(f"{where}: dropped {describe(clean.inert)}")
            if clean.removed and plain:
                del data["text/html"]
            else:
                data["text/html"] = f'<div class="nnx-output">{one_block(clean.html)}</div>'
    return removed, notes


def sanitize_svg_files(files: dict[str, bytes]) -> list[str]:
    """Clean the extracted ``image/svg+xml`` outputs in place (:mod:`pipeline.site.sanitize_svg`);
    return what was removed, per file (its name holds the cell: ``<slug>_<cell>_<output>.svg``).
    One that cannot be cleaned is dropped (its picture is then missing from the page)."""
    removed: list[str] = []
    for name in sorted(files):
        if not name.lower().endswith(".svg"):
            continue
        try:
            clean = sanitize_svg(files[name])
        except SvgRejected as exc:
            del files[name]
            removed.append(f"{name}: not published: {exc}")
            continue
        if clean.changed:
            removed.append(f"{name}: removed {describe(clean.removed)}")
        files[name] = clean.data
    return removed


def dark_twins(nb: Any, slug: str, extracted: dict[str, bytes],
               stored: Callable[[str], bytes | None] | None = None) -> dict[str, bytes]:
    """``{dark image path: PNG}`` for the extracted light images that have a dark twin.

    nbconvert names the light file ``<slug>_files/<slug>_<cell>_<output>.png``; the twin goes
    next to it as ``....dark.png`` (``palette.variant_name``). It comes from the output's
    :data:`DARK_PNG_MIME`, or, for an entry stored before this export moved to the site,
    from the file ``stored(path)`` returns.
    """
    from pipeline.library.palette import variant_name

    twins: dict[str, bytes] = {}
    for cell_index, cell in enumerate(nb.get("cells", [])):
        for index, output in enumerate(cell.get("outputs", [])):
            light = f"{slug}_files/{slug}_{cell_index}_{index}.png"
            if light not in extracted:
                continue
            name = variant_name(light, "dark")
            dark = (output.get("data") or {}).get(DARK_PNG_MIME)
            if dark:
                twins[name] = base64.b64decode(_text(dark))
            elif stored is not None and (old := stored(name)) is not None:
                twins[name] = old
    return twins


def without_dark_twins(nb: Any) -> Any:
    """A copy of ``nb`` without the dark twins (Jupyter would ignore the extra mimetype, but it
    would double every figure's bytes in the download)."""
    nb = copy.deepcopy(nb)
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            (output.get("data") or {}).pop(DARK_PNG_MIME, None)
    return nb


def export_page(nb: Any, slug: str, *, untrusted_from_cell: int | None = None,
                stored: Callable[[str], bytes | None] | None = None) -> NotebookPage:
    """The notebook page of the executed notebook ``nb`` (not changed).

    ``untrusted_from_cell``: withhold the pictures of the cells from this execution count on
    (0: all; None: none). ``stored``: reads a file the store entry keeps under ``notebook/``
    (the dark twins of an entry exported by the builder).
    """
    import nbformat
    from nbconvert import MarkdownExporter

    nb = copy.deepcopy(nb)
    withheld = withhold_pictures(nb, untrusted_from_cell)
    download = nbformat.writes(without_dark_twins(nb)).encode("utf-8")
    removed, notes = sanitize_outputs(nb)
    resources: dict[str, Any] = {"output_files_dir": f"{slug}_files", "unique_key": slug}
    body, resources = MarkdownExporter().from_notebook_node(nb, resources=resources)
    files: dict[str, bytes] = dict(resources.get("outputs") or {})
    removed += sanitize_svg_files(files)
    files.update(dark_twins(nb, slug, files, stored))
    return NotebookPage(markdown=ANSI_RE.sub("", body), files=files, download=download,
                        removed=removed, notes=notes, withheld=withheld)


def read_notebook(data: bytes) -> Any:
    """A stored ``.ipynb`` as a notebook node."""
    import nbformat

    return nbformat.reads(data.decode("utf-8"), as_version=4)

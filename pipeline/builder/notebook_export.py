"""Export an executed notebook as the explainer's "Notebook" page (Markdown + images + .ipynb).

A module of its own, outside the cache's build-tool list (pipeline/builder/cache.py): the exported page
is stored in each build entry, so a change here must re-export, which a new cache key does.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pipeline.library.inline_dark import DARK_PNG_MIME

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain_text_for_rich_output(nb: Any) -> Any:
    """A copy of ``nb`` where console-style HTML outputs fall back to their plain text.

    Why: ``rich`` (Keras' ``model.summary()``) displays a ``<pre style=...>`` with inline
    colours chosen for a dark terminal; on the site they fail contrast checks and make a
    scrollable block that keyboard users cannot reach. The plain-text version of the same
    output becomes an ordinary code block, styled by the theme. The downloadable ``.ipynb``
    keeps the original.
    """
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data") or {}
            html_text = data.get("text/html")
            if isinstance(html_text, list):
                html_text = "".join(html_text)
            if html_text and "text/plain" in data and html_text.lstrip().startswith("<pre"):
                del data["text/html"]
    return nb


def dark_twins(nb: Any, slug: str, extracted: dict[str, bytes]) -> dict[str, bytes]:
    """``{light image path: dark PNG}`` for the outputs that carry a dark twin.

    The kernel adds the twin to a figure's display output (``pipeline.library.inline_dark``).
    nbconvert names the light file it extracts ``<slug>_files/<slug>_<cell>_<output>.png``; the
    twin goes next to it as ``....dark.png`` (``palette.variant_name``), which is how the site
    pairs them. A twin whose light file was not extracted is dropped: nothing would show it.
    """
    import base64

    from pipeline.library.palette import variant_name

    twins: dict[str, bytes] = {}
    for cell_index, cell in enumerate(nb.get("cells", [])):
        for index, output in enumerate(cell.get("outputs", [])):
            dark = (output.get("data") or {}).get(DARK_PNG_MIME)
            if not dark:
                continue
            light = f"{slug}_files/{slug}_{cell_index}_{index}.png"
            if light in extracted:
                text = "".join(dark) if isinstance(dark, list) else dark
                twins[variant_name(light, "dark")] = base64.b64decode(text)
    return twins


def without_dark_twins(nb: Any) -> Any:
    """A copy of ``nb`` without the dark twins: the download is the notebook as a reader runs it
    (Jupyter would ignore the extra mimetype, but it would double every figure's bytes)."""
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            (output.get("data") or {}).pop(DARK_PNG_MIME, None)
    return nb


def export_markdown(nb: Any, notebook_dir: Path, slug: str) -> Path:
    """Export the executed notebook as ``<slug>.md`` + ``<slug>_files/`` for the "Notebook" page.

    The ``.ipynb`` is written next to it, for the page's download link.
    """
    import nbformat
    from nbconvert import MarkdownExporter

    notebook_dir.mkdir(parents=True, exist_ok=True)
    exporter = MarkdownExporter()
    resources: dict[str, Any] = {"output_files_dir": f"{slug}_files", "unique_key": slug}
    body, resources = exporter.from_notebook_node(plain_text_for_rich_output(nb),
                                                  resources=resources)
    outputs: dict[str, bytes] = dict(resources.get("outputs") or {})
    outputs.update(dark_twins(nb, slug, outputs))
    for rel, data in outputs.items():
        out = notebook_dir / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
    body = ANSI_RE.sub("", body)
    path = notebook_dir / f"{slug}.md"
    path.write_text(body, encoding="utf-8")
    nbformat.write(without_dark_twins(nb), notebook_dir / f"{slug}.ipynb")
    return path

"""pipeline.builder.notebook_export: the Notebook page's Markdown, images and dark twins."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import nbformat
import numpy as np

from pipeline.builder.notebook_export import export_markdown
from pipeline.library.inline_dark import DARK_PNG_MIME


def _png(rgb: tuple[int, int, int]) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((4, 6, 3), rgb, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _output(light: bytes, dark: bytes | None) -> nbformat.NotebookNode:
    data = {"text/plain": "<Figure>", "image/png": base64.b64encode(light).decode()}
    if dark is not None:
        data[DARK_PNG_MIME] = base64.b64encode(dark).decode()
    return nbformat.v4.new_output("display_data", data=data)


def test_a_dark_twin_is_written_next_to_its_light_image(tmp_path: Path) -> None:
    light, dark, other = _png((255, 255, 255)), _png((30, 32, 41)), _png((10, 200, 10))
    nb = nbformat.v4.new_notebook()
    shown = nbformat.v4.new_code_cell("plt.show()")
    shown.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n"),
                     _output(light, dark)]
    saved = nbformat.v4.new_code_cell('ex.save_figure(fig, "a.png", alt="A")')
    saved.outputs = [_output(other, None)]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), shown, saved]
    md = export_markdown(nb, tmp_path, "demo").read_text()
    files = tmp_path / "demo_files"
    assert "![png](demo_files/demo_1_1.png)" in md and "![png](demo_files/demo_2_0.png)" in md
    assert (files / "demo_1_1.png").read_bytes() == light
    assert (files / "demo_1_1.dark.png").read_bytes() == dark
    assert (files / "demo_2_0.png").read_bytes() == other
    assert sorted(p.name for p in files.iterdir()) == ["demo_1_1.dark.png", "demo_1_1.png",
                                                       "demo_2_0.png"]
    assert DARK_PNG_MIME not in md
    # the downloadable notebook is the one a reader runs: its figures once, without the twins
    kept = nbformat.read(tmp_path / "demo.ipynb", as_version=4)
    assert sorted(kept.cells[1].outputs[1]["data"]) == ["image/png", "text/plain"]
    assert DARK_PNG_MIME in nb.cells[1].outputs[1]["data"]  # the caller's notebook is untouched

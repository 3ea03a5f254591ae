"""pipeline.site.notebook_page: the Notebook page made from the stored notebook at site build
time: Markdown, images and dark twins, sanitised HTML outputs, withheld pictures, the download."""

from __future__ import annotations

import base64
import io

import nbformat
import numpy as np
import pytest

from pipeline.builder.notebook_export import WITHHELD_TEXT
from pipeline.library.inline_dark import DARK_PNG_MIME
from pipeline.site.notebook_page import export_page, read_notebook


def _png(rgb: tuple[int, int, int] = (255, 255, 255)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((4, 6, 3), rgb, dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _output(light: bytes, dark: bytes | None = None) -> nbformat.NotebookNode:
    data = {"text/plain": "<Figure>", "image/png": base64.b64encode(light).decode()}
    if dark is not None:
        data[DARK_PNG_MIME] = base64.b64encode(dark).decode()
    return nbformat.v4.new_output("display_data", data=data)


def _html(html: str, plain: str | None = None) -> nbformat.NotebookNode:
    data = {"text/html": html}
    if plain is not None:
        data["text/plain"] = plain
    return nbformat.v4.new_output("display_data", data=data)


def _cell(source: str, outputs: list, count: int | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = outputs
    cell.execution_count = count
    return cell


def test_a_dark_twin_is_written_next_to_its_light_image() -> None:
    light, dark, other = _png((255, 255, 255)), _png((30, 32, 41)), _png((10, 200, 10))
    nb = nbformat.v4.new_notebook()
    shown = _cell("plt.show()", [nbformat.v4.new_output("stream", name="stdout", text="hi\n"),
                                 _output(light, dark)])
    saved = _cell('ex.save_figure(fig, "a.png", alt="A")', [_output(other)])
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), shown, saved]
    page = export_page(nb, "demo")
    assert "![png](demo_files/demo_1_1.png)" in page.markdown
    assert "![png](demo_files/demo_2_0.png)" in page.markdown
    assert page.files == {"demo_files/demo_1_1.png": light, "demo_files/demo_1_1.dark.png": dark,
                          "demo_files/demo_2_0.png": other}
    assert DARK_PNG_MIME not in page.markdown
    # the downloadable notebook is the one a reader runs: its figures once, without the twins
    kept = read_notebook(page.download)
    assert sorted(kept.cells[1].outputs[1]["data"]) == ["image/png", "text/plain"]
    assert DARK_PNG_MIME in nb.cells[1].outputs[1]["data"]  # the caller's notebook is untouched


def test_an_entry_stored_by_the_builder_keeps_its_dark_twin_files() -> None:
    """Entries from before the site made the page hold a stripped notebook and twin files."""
    light, dark = _png(), _png((30, 32, 41))
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell("plt.show()", [_output(light)])]
    stored = {"demo_files/demo_0_0.dark.png": dark}
    page = export_page(nb, "demo", stored=stored.get)
    assert page.files == {"demo_files/demo_0_0.png": light, "demo_files/demo_0_0.dark.png": dark}


def test_markdown_images_ansi_and_sources() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"),
                _cell("show()", [_output(_png()), nbformat.v4.new_output(
                    "stream", name="stdout", text="\x1b[31mred\x1b[0m\n")])]
    page = export_page(nb, "demo")
    assert "# Title" in page.markdown and "demo_files/" in page.markdown
    assert "\x1b[" not in page.markdown and "red" in page.markdown
    assert read_notebook(page.download).cells[1].source == "show()"


def test_console_style_html_falls_back_to_plain_text_and_real_html_is_kept_clean() -> None:
    """rich's coloured <pre> (model.summary()) becomes a code block; real HTML stays, cleaned."""
    rich_html = ('<pre style="white-space:pre;overflow-x:auto"><span style="color: #5f5f5f">'
                 'Total params: 17</span>\n</pre>\n')
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell("model.summary()", [
        _html(rich_html, "Total params: 17\n"),
        _html("<table><tr><td>7</td></tr></table>", "a table")])]
    page = export_page(nb, "demo")
    text = page.markdown
    assert "Total params: 17" in text and "<pre style" not in text and "#5f5f5f" not in text
    assert '<div class="nnx-output"><table><tbody><tr><td>7</td></tr></tbody></table></div>' in text
    assert page.removed == []
    saved = read_notebook(page.download)
    assert saved.cells[0].outputs[0].data["text/html"] == rich_html  # the download keeps it


def test_html_outputs_are_sanitised_and_the_cell_is_named() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell("display(HTML(table))", [
        _html('<table><tr><td><img src=x onerror="alert(1)">7</td></tr></table>'),
        _html("<b>ok</b><script>alert(2)</script>", "plain words"),
        _html("[click](javascript:alert(3))"),
    ], count=4)]
    page = export_page(nb, "demo")
    text = page.markdown
    for bad in ("onerror", "<script", "alert(2)"):
        assert bad not in text
    assert "<td><img src=\"x\">7</td>" in text
    assert "plain words" in text  # what needed cleaning shows its plain text when it has one
    # no Markdown link is made from text inside an HTML output
    assert '<div class="nnx-output">[click](javascript:alert(3))</div>' in text
    assert page.removed == [
        "cell 0 (In [4]), `display(HTML(table))`: removed onerror= on <img>",
        "cell 0 (In [4]), `display(HTML(table))`: removed a <script> element "
        "(its plain text is shown instead)"]


def test_markdown_and_latex_outputs_become_clean_html() -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell("display(Markdown(x))", [
        nbformat.v4.new_output("display_data", data={
            "text/markdown": "**bold** [x](javascript:alert(1)) <img src=y onerror=alert(2)>"}),
        nbformat.v4.new_output("display_data", data={"text/latex": "$<script>alert(3)</script>$"}),
    ])]
    page = export_page(nb, "demo")
    assert "<strong>bold</strong>" in page.markdown
    for bad in ("javascript", "onerror", "<script"):
        assert bad not in page.markdown
    assert "&lt;script&gt;" in page.markdown  # the LaTeX, shown as text
    assert len(page.removed) == 1 and "javascript: URL" in page.removed[0]


@pytest.mark.parametrize(("from_cell", "kept"), [(None, {1, 2, 3}), (0, set()), (2, {1})])
def test_pictures_of_a_diverged_run_are_withheld_from_the_page_and_the_download(
        from_cell, kept) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [_cell(f"plot({i})", [_output(_png((i, i, i)), _png((9, 9, i)))], count=i)
                for i in (1, 2, 3)]
    page = export_page(nb, "demo", untrusted_from_cell=from_cell)
    assert page.withheld == 3 - len(kept)
    assert {i + 1 for i in range(3) if f"demo_files/demo_{i}_0.png" in page.files} == kept
    assert {i + 1 for i in range(3) if f"demo_files/demo_{i}_0.dark.png" in page.files} == kept
    assert page.markdown.count(WITHHELD_TEXT.strip()) == 3 - len(kept)
    download = read_notebook(page.download)
    images = [i + 1 for i, c in enumerate(download.cells) if "image/png" in c.outputs[0].get(
        "data", {})]
    assert set(images) == kept

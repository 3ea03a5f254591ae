"""pipeline.site.pages shortcodes without mkdocs: include() and the deferred iframe."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.library.tables import html_table
from pipeline.site.pages import (
    INCLUDE_MAX_BYTES,
    PageContext,
    expand_shortcodes,
    notebook_image_alts,
    sc_iframe,
)


def _ctx(folder: Path, manifest: dict | None = None) -> PageContext:
    def url_for(name: str) -> str | None:
        return f"../../assets/demo/{name}" if (folder / name).exists() else None

    def path_for(name: str) -> str | None:
        return str(folder / name) if (folder / name).exists() else None

    return PageContext(slug="demo", manifest=manifest or {"outputs": []}, state={},
                       url_for=url_for, path_for=path_for, page="inside/demo.md")


def test_include_inlines_an_html_table(tmp_path: Path) -> None:
    (tmp_path / "table.html").write_text(
        html_table(["Layer", "Params"], [["conv1", "1,792"]], numeric=[1], caption="Layers"))
    ctx = _ctx(tmp_path)
    out = expand_shortcodes('Before.\n\n{{ include("table.html") }}\n\nAfter.\n', ctx)
    assert ctx.warnings == []
    block = out.split("\n\n")[1]
    assert block.startswith('<div class="nnx-include" data-nnx-asset="table.html">\n<table>')
    assert block.endswith("</table>\n</div>")
    assert '<th scope="col">Layer</th>' in block and '<th scope="row">conv1</th>' in block


def test_include_drops_blank_lines_so_markdown_keeps_one_block(tmp_path: Path) -> None:
    (tmp_path / "list.htm").write_text("<ul>\n\n<li>a</li>\n\n<li>b</li>\n</ul>\n")
    ctx = _ctx(tmp_path)
    out = expand_shortcodes('{{ include("list.htm") }}', ctx)
    assert ctx.warnings == [] and "\n\n" not in out and "<li>b</li>" in out


@pytest.mark.parametrize("name, content, message", [
    ("table.md", "| a |\n|---|\n| 1 |\n", "not an HTML fragment"),
    ("table.csv", "a,b\n1,2\n", "not an HTML fragment"),
    ("evil.html", "<table><tr><td>x</td></tr></table><script>alert(1)</script>",
     "contains a <script> element"),
    ("evil.html", "<TABLE><tr><td>x</td></tr></TABLE>< SCRIPT src=x.js></script>",
     "contains a <script> element"),
    ("evil.html", '<img src="x.png" alt="x" onerror="alert(1)">', "event-handler attribute"),
    ("evil.html", '<a href="javascript:alert(1)">x</a>', "javascript: URL"),
    ("page.html", "<!doctype html><html><body><table></table></body></html>",
     "whole HTML document"),
])
def test_include_refuses_what_is_not_a_static_fragment(tmp_path: Path, name: str, content: str,
                                                       message: str) -> None:
    (tmp_path / name).write_text(content)
    ctx = _ctx(tmp_path)
    out = expand_shortcodes(f'{{{{ include("{name}") }}}}', ctx)
    assert len(ctx.warnings) == 1, ctx.warnings
    warning = ctx.warnings[0]
    assert message in warning
    assert "'inside/demo.md'" in warning and repr(name) in warning and "'demo'" in warning
    assert out.startswith('<p class="nnx-missing">') and "<script>" not in out


def test_include_text_mentioning_on_or_script_words_is_fine(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text(
        html_table(["note"], [["depends on x = 3; one=1; the word javascript"]]))
    ctx = _ctx(tmp_path)
    expand_shortcodes('{{ include("t.html") }}', ctx)
    assert ctx.warnings == []


def test_include_refuses_a_huge_fragment_and_a_missing_asset(tmp_path: Path) -> None:
    (tmp_path / "big.html").write_text("<p>" + "x" * INCLUDE_MAX_BYTES + "</p>")
    ctx = _ctx(tmp_path)
    expand_shortcodes('{{ include("big.html") }}\n{{ include("nope.html") }}', ctx)
    assert len(ctx.warnings) == 2
    assert "include() inlines at most" in ctx.warnings[0]
    assert "'nope.html' is not among the outputs of recipe 'demo'" in ctx.warnings[1]


def test_include_refusal_is_reported_even_when_training_diverged(tmp_path: Path) -> None:
    (tmp_path / "evil.html").write_text("<script></script>")
    manifest = {"outputs": [], "status": {"state": "diverged", "epoch": 3}}
    ctx = _ctx(tmp_path, manifest)
    out = expand_shortcodes('{{ include("evil.html") }}\n{{ include("later.html") }}', ctx)
    assert len(ctx.warnings) == 1 and "<script>" in ctx.warnings[0]  # refusal still reported
    assert "training diverged" in out  # the missing table of a diverged run is expected


def test_iframe_is_deferred_lazy_and_says_how_much_it_loads(tmp_path: Path) -> None:
    (tmp_path / "plot.html").write_text('<script src="lib.bundle.js"></script>' + "x" * 1000)
    (tmp_path / "lib.bundle.js").write_bytes(b"x" * 1_500_000)
    ctx = _ctx(tmp_path, {"outputs": [{"name": "plot.html", "alt": "A plot"}]})
    out = sc_iframe(ctx, "plot.html", height=300)
    frame = out.split("<noscript>")[0]
    assert 'data-nnx-src="../../assets/demo/plot.html"' in frame and " src=" not in frame
    assert 'loading="lazy"' in frame and 'title="A plot"' in frame
    assert '<button type="button" class="md-button nnx-embed-load" hidden>' in frame
    assert "(1.5 MB)" in frame  # the page and the script it loads
    assert '<noscript><iframe class="nnx-iframe" src="../../assets/demo/plot.html"' in out


def test_notebook_images_get_alt_text_lazy_loading_and_size() -> None:
    md = ('```python\nex.save_figure(fig, "loss.png", alt="x")\n```\n\n![png](nb_files/a.png)\n\n'
          "```python\nplt.show()\n```\n\n![png](nb_files/b.png)\n")
    outputs = [{"name": "loss.png", "alt": "The loss [log scale]"}]
    out = notebook_image_alts(md, outputs, size_of=lambda src: (640, 480) if "a.png" in src else None)
    assert '![The loss (log scale)](nb_files/a.png){ loading=lazy width="640" height="480" }' in out
    assert ("![Figure 2 of the notebook, drawn by the code cell above](nb_files/b.png)"
            "{ loading=lazy }") in out

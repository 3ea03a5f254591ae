"""pipeline.site.pages shortcodes without mkdocs: include() and the deferred iframe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.builder.records import Attempt, Failure, FailureKind, OutcomeStatus, RecipeState
from pipeline.library.tables import html_table
from pipeline.site.pages import (
    FAILURE_WORDS,
    INCLUDE_MAX_BYTES,
    PageContext,
    expand_shortcodes,
    notebook_image_alts,
    sc_iframe,
    stale_banner,
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
    ("page.html", "<!doctype html><html><body><table></table></body></html>",
     "whole HTML document"),
])
def test_include_refuses_what_is_not_a_fragment(tmp_path: Path, name: str, content: str,
                                                message: str) -> None:
    (tmp_path / name).write_text(content)
    ctx = _ctx(tmp_path)
    out = expand_shortcodes(f'{{{{ include("{name}") }}}}', ctx)
    assert len(ctx.warnings) == 1, ctx.warnings
    warning = ctx.warnings[0]
    assert message in warning
    assert "'inside/demo.md'" in warning and repr(name) in warning and "'demo'" in warning
    assert out.startswith('<p class="nnx-missing">') and "<script>" not in out


@pytest.mark.parametrize("content, removed", [
    ("<table><tr><td>x</td></tr></table><script>alert(1)</script>", "a <script> element"),
    ("<TABLE><tr><td>x</td></tr></TABLE>< SCRIPT src=x.js></script><script src=x.js></script>",
     "a <script> element"),
    ('<table><tr><td>x</td></tr></table><img src="x.png" alt="x" onerror="alert(1)">',
     "onerror= on <img>"),
    ('<table><tr><td>x</td></tr></table><a href="javascript:alert(1)">x</a>',
     "a javascript: URL in href= on <a>"),
    ('<table><tr><td>x</td></tr></table><svg/onload=alert(1)>', "a <svg> element"),
    ('<table><tr><td>x</td></tr></table><a href="&#106;avascript:alert(1)">x</a>',
     "a javascript: URL in href= on <a>"),
    ('<table><tr><td>x</td></tr></table><iframe srcdoc="<script>alert(1)</script>"></iframe>',
     "a <iframe> element"),
    ('<table><tr><td>x</td></tr></table><meta http-equiv="refresh" content="0;url=/x">',
     "a <meta> element"),
    ('<table><tr><td>x</td></tr></table><base href="https://example.org/">', "a <base> element"),
    ('<table><tr><td style="position:fixed;inset:0">x</td></tr></table>',
     "CSS inset, position in style= on <td>"),
])
def test_include_removes_what_could_run_and_says_what(tmp_path: Path, content: str,
                                                      removed: str) -> None:
    (tmp_path / "evil.html").write_text(content)
    ctx = _ctx(tmp_path)
    out = expand_shortcodes('{{ include("evil.html") }}', ctx)
    assert len(ctx.warnings) == 1, ctx.warnings
    warning = ctx.warnings[0]
    assert f"removed: {removed}" in warning, warning
    assert "'inside/demo.md'" in warning and "'evil.html'" in warning and "'demo'" in warning
    assert "<td" in out and ">x</td>" in out  # the rest is shown
    for bad in ("<script", "onerror", "javascript", "<svg", "<iframe", "srcdoc", "<meta",
                "<base", "position"):
        assert bad not in out.lower(), (bad, out)


def test_include_keeps_tables_lists_links_and_palette_images(tmp_path: Path) -> None:
    fragment = (html_table(["Layer", "Params"], [["conv<1>", "1,792"]], numeric=[1],
                           caption="Layers")
                + '<ul><li><a href="https://keras.io/">Keras</a> <em>and</em> <code>x</code>'
                '</li></ul><img data-nnx-light="a.png" data-nnx-dark="a.dark.png" alt="A" '
                'loading="lazy" width="4" height="3"><picture><source srcset="b.dark.png" '
                'media="(prefers-color-scheme: dark)"><img src="b.png" alt="B"></picture>')
    (tmp_path / "ok.html").write_text(fragment)
    ctx = _ctx(tmp_path)
    out = expand_shortcodes('{{ include("ok.html") }}', ctx)
    assert ctx.warnings == []
    for kept in ('<th scope="row">conv&lt;1&gt;</th>', "<caption>Layers</caption>",
                 'style="text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap"',
                 'href="https://keras.io/"', "<em>and</em>", "<code>x</code>",
                 'data-nnx-light="a.png"', 'data-nnx-dark="a.dark.png"', 'loading="lazy"',
                 '<source srcset="b.dark.png" media="(prefers-color-scheme: dark)">'):
        assert kept in out, kept


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


def test_every_notebook_image_with_a_dark_twin_gets_palette_markup(tmp_path: Path) -> None:
    """A saved figure pairs with the recipe's .dark.png asset, a shown one with the kernel's twin
    next to it; only an image without any twin stays a plain Markdown image."""
    from pipeline.builder.records import Manifest
    from pipeline.site.plugin import _dark_twin_in

    files = {f"nb_files/{name}": b"png"
             for name in ("nb_1_0.png", "nb_2_0.png", "nb_2_0.dark.png", "nb_3_0.png")}
    md = ('```python\nex.save_figure(fig, "loss.png", alt="x")\n```\n\n![png](nb_files/nb_1_0.png)\n\n'
          "```python\nplt.show()\n```\n\n![png](nb_files/nb_2_0.png)\n\n"
          "```python\ndisplay(Image('x.png'))\n```\n\n![png](nb_files/nb_3_0.png)\n")
    outputs = [{"name": "loss.png", "alt": "The loss", "kind": "image",
                "extra": {"dark": "loss.dark.png"}}]
    manifest = Manifest(slug="demo", outputs=outputs,
                        files={"assets/loss.png": {}, "assets/loss.dark.png": {}})
    dark_of = _dark_twin_in("demo", manifest, files, "notebooks/demo/")
    out = notebook_image_alts(md, outputs, size_of=lambda src: (640, 480), dark_of=dark_of)
    imgs = re.findall(r"<img [^>]*>", out.replace("<noscript><img", "<noscript>"))
    assert len(imgs) == 2  # the two with a dark twin; the third has none
    saved, shown = imgs
    assert 'data-nnx-light="../nb_files/nb_1_0.png"' in saved
    assert 'data-nnx-dark="../../assets/demo/loss.dark.png"' in saved
    assert 'data-nnx-light="../nb_files/nb_2_0.png"' in shown
    assert 'data-nnx-dark="../nb_files/nb_2_0.dark.png"' in shown
    for img in imgs:  # no src: the script fetches only the palette shown; lazy, sized
        assert " src=" not in img and 'loading="lazy"' in img
        assert 'width="640" height="480"' in img
    assert 'alt="The loss"' in saved and 'alt="Figure 2 of the notebook' in shown
    assert out.count("<noscript>") == 2 and "\n" not in out.split("nb_1_0.png", 1)[1].split("</noscript>")[0]
    assert '![Figure 3 of the notebook, drawn by the code cell above](nb_files/nb_3_0.png)' in out
    # a twin the store entry does not list is not used (nothing unlisted reaches the site)
    manifest_without = Manifest(slug="demo", outputs=outputs, files={"assets/loss.png": {}})
    out = notebook_image_alts(md, outputs, dark_of=_dark_twin_in("demo", manifest_without, files,
                                                                 "notebooks/"))
    assert "loss.dark.png" not in out and 'data-nnx-dark="nb_files/nb_2_0.dark.png"' in out


@pytest.mark.parametrize("kind", list(FailureKind))
def test_the_stale_banner_words_each_kind_of_failure(kind: FailureKind) -> None:
    """The build's failure record, through the state file's dict, to the page's wording."""
    failure = Failure("s/a.recipe.py", 2, 5, "fit()", "OSError", "disk full", "tb", kind=kind)
    state = RecipeState(last_attempt=Attempt(status=OutcomeStatus.FAILED, at="then",
                                             failure=failure))
    banner = stale_banner(state.to_dict(), None)
    words = FAILURE_WORDS.get(kind, "failed")
    assert f"The latest build of this explainer {words}, and no earlier results exist." in banner
    assert "`s/a.recipe.py, cell 2 (line 5): OSError: disk full`" in banner
    assert banner == stale_banner(state, None)
    assert (kind in FAILURE_WORDS) is (kind is not FailureKind.ERROR)

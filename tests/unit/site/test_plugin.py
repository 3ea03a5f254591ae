"""The site: generated assets reach mkdocs, notebook pages exist, --strict catches problems."""

from __future__ import annotations

import json
import re

from tests.conftest import tiny_recipe
from tests.sitebuild import build_site

INDEX = "# Home\n\n{{ gallery() }}\n"


def _built(mini):
    (mini.content / "index.md").write_text(INDEX)
    mini.add("alpha", tiny_recipe("Alpha"))
    assert mini.cli("build") == 0
    return mini


def test_site_builds_strict_with_assets_and_notebook(mini) -> None:
    _built(mini)
    site = mini.root / "site"
    result = build_site(mini.content, mini.build_dir, site)
    assert result.returncode == 0, result.stderr
    page = (site / "demo" / "alpha" / "index.html").read_text()
    assert 'src="../../assets/alpha/line.png"' in page
    assert 'alt="a parabola drawn from the sizes"' in page
    assert (site / "assets" / "alpha" / "line.png").exists()
    assert "How this page was built" in page and "quick" in page
    notebook = site / "notebooks" / "alpha" / "index.html"
    assert notebook.exists()
    nb_html = notebook.read_text()
    assert "Explainer(asset_dir=asset_dir" in re.sub(r"<[^>]+>", "", nb_html)  # the code
    assert re.search(r'<img[^>]+alpha_files/', nb_html)  # and its outputs
    assert re.search(r'<img(?=[^>]+alpha_files/)(?=[^>]+loading="lazy")(?=[^>]+width="\d+")',
                     nb_html)  # deferred, with its size reserved
    home = (site / "index.html").read_text()
    assert 'class="nnx-gallery"' in home and "Alpha" in home
    # The card shows a small WebP made from the thumbnail asset, not the full-size figure.
    assert 'src="assets/_gallery/alpha.webp"' in home and "assets/alpha/line.png" not in home
    from PIL import Image

    thumb = site / "assets" / "_gallery" / "alpha.webp"
    with Image.open(thumb) as img, Image.open(site / "assets" / "alpha" / "line.png") as full:
        assert img.format == "WEBP" and img.width == min(full.width, 480)
        assert abs(img.height / img.width - full.height / full.width) < 0.01


def test_strict_fails_on_missing_asset(mini) -> None:
    _built(mini)
    page = mini.content / "demo" / "alpha.md"
    page.write_text(page.read_text() + '\n{{ figure("nope.png") }}\n')
    result = build_site(mini.content, mini.build_dir, mini.root / "site")
    assert result.returncode != 0
    assert "nope.png" in result.stderr and "alpha.md" in result.stderr


def test_failed_build_marks_page_stale(mini) -> None:
    _built(mini)
    recipe = mini.content / "demo" / "alpha.recipe.py"
    recipe.write_text(tiny_recipe("Alpha", body="\n# %%\n1/0\n"))
    assert mini.cli("build") == 1
    site = mini.root / "site"
    result = build_site(mini.content, mini.build_dir, site)
    assert result.returncode == 0, result.stderr
    page = (site / "demo" / "alpha" / "index.html").read_text()
    assert "Stale: the latest build failed" in page and "ZeroDivisionError" in page
    assert "line.png" in page  # the last good result is still shown


def test_no_external_urls_in_pages(mini) -> None:
    _built(mini)
    site = mini.root / "site"
    assert build_site(mini.content, mini.build_dir, site).returncode == 0
    html = (site / "demo" / "alpha" / "index.html").read_text()
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert [u for u in external if "127.0.0.1" not in u] == []
    assert "fonts.googleapis" not in html


TABLE_BODY = """
# %%
print("{{ metric('n') }} is printed text, not a shortcode")
from pipeline.library.tables import html_table
ex.save_text("summary.md", "# Not a page\\n\\nA recipe's Markdown asset.\\n", kind="data")
ex.save_text("table.html", html_table(["Layer", "Params"], [["conv<1>", "1,792"]], numeric=[1],
                                      caption="Layers"), kind="html")
ex.save_text("evil.html", "<table><tr><td>x</td></tr></table><script>alert(1)</script>",
             kind="html")
"""


def test_markdown_asset_is_copied_not_rendered_and_include_inlines_tables(mini) -> None:
    (mini.content / "index.md").write_text(INDEX)
    page = mini.content / "demo" / "alpha.md"
    mini.add("alpha", tiny_recipe("Alpha", body=TABLE_BODY))
    page.write_text(page.read_text() + '\n{{ include("table.html") }}\n\nAfter the table.\n')
    assert mini.cli("build") == 0
    site = mini.root / "site"
    result = build_site(mini.content, mini.build_dir, site)
    assert result.returncode == 0, result.stderr
    # the .md asset is a file served as it is, not a page (no HTML, not in nav or search)
    copied = site / "assets" / "alpha" / "summary.md"
    assert copied.read_text() == "# Not a page\n\nA recipe's Markdown asset.\n"
    assert not (site / "assets" / "alpha" / "summary").exists()
    index = json.loads((site / "search" / "search_index.json").read_text())
    assert not [d["location"] for d in index["docs"] if "summary" in d["location"]]
    # notebook pages are reached from their explainer, not from search (a lighter first load)
    assert not [d["location"] for d in index["docs"] if d["location"].startswith("notebooks/")]
    assert [d["location"] for d in index["docs"] if d["location"].startswith("demo/alpha")]
    assert "assets/alpha/summary" not in (site / "index.html").read_text()
    # the table is inlined, escaped, with scoped headers, inside the prose
    html = (site / "demo" / "alpha" / "index.html").read_text()
    block = html[html.index('<div class="nnx-include"'):html.index("After the table.")]
    assert '<th scope="col">Layer</th>' in block and '<th scope="row">conv&lt;1&gt;</th>' in block
    assert "<caption>Layers</caption>" in block and "<p>" not in block.split("</div>")[0]
    # the notebook page shows what a cell printed, shortcode-like text included, as text
    notebook = (site / "notebooks" / "alpha" / "index.html").read_text()
    assert "{{ metric(&#39;n&#39;) }} is printed text" in notebook or \
        "{{ metric('n') }} is printed text" in notebook

    # a fragment with a script, or a non-HTML asset, fails --strict naming the page and asset
    for name, message in (("evil.html", "removed: a <script> element"),
                          ("summary.md", "not an HTML fragment")):
        page.write_text(TINY_PAGE_WITH(name))
        result = build_site(mini.content, mini.build_dir, site)
        assert result.returncode != 0
        assert message in result.stderr and "demo/alpha.md" in result.stderr
        assert repr(name) in result.stderr


def TINY_PAGE_WITH(name: str) -> str:  # noqa: N802 - reads like the constant it stands for
    return f'# Alpha\n\n{{{{ include("{name}") }}}}\n'


SVG_BODY = """
# %%
from IPython.display import SVG, display
drawing = ('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" onload="alert(1)">'
           '<rect width="20" height="20" fill="teal"/><script>alert(2)</script></svg>')
ex.save_text("drawing.svg", drawing, kind="data")
ex.save_text("broken.svg", "<svg onload=alert(3)>", kind="data")
display(SVG(data=drawing))
"""


def test_recipe_svg_files_are_published_cleaned_and_the_build_says_what_went(mini) -> None:
    """An SVG asset and an ``image/svg+xml`` output become files of the site's origin: cleaned,
    each removal a warning naming the file (so --strict fails); an unreadable one stays out."""
    (mini.content / "index.md").write_text(INDEX)
    mini.add("alpha", tiny_recipe("Alpha", body=SVG_BODY))
    assert mini.cli("build") == 0
    site = mini.root / "site"
    strict = build_site(mini.content, mini.build_dir, site)
    assert strict.returncode != 0
    assert "assets/alpha/drawing.svg: removed onload= on <svg>, a <script> element" in strict.stderr
    assert "assets/alpha/broken.svg: not published: it is not well-formed XML" in strict.stderr
    assert re.search(r"notebooks/alpha\.md: alpha_files/alpha_\d+_\d+\.svg: removed onload= on "
                     r"<svg>, a <script> element", strict.stderr), strict.stderr
    result = build_site(mini.content, mini.build_dir, site, strict=False)
    assert result.returncode == 0, result.stderr
    published = (site / "assets" / "alpha" / "drawing.svg").read_text()
    assert "teal" in published and "alert" not in published and "onload" not in published
    assert not (site / "assets" / "alpha" / "broken.svg").exists()
    notebook_svgs = list((site / "notebooks").rglob("*.svg"))
    assert len(notebook_svgs) == 1
    assert "teal" in notebook_svgs[0].read_text() and "alert" not in notebook_svgs[0].read_text()

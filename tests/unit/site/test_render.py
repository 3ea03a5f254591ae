"""pipeline.site.render: the site's fragments come from templates, escaped unless said otherwise."""

from __future__ import annotations

import markdown
import pytest
from jinja2 import UndefinedError

from pipeline.site.pages import header_error_banner, stale_banner
from pipeline.site.render import environment, md_cell, md_code, md_fence, render


def test_html_fragments_are_one_line_and_escaped() -> None:
    out = render("iframe.html", url="a.html?x=1&y=2", height=300, label='A "plot" <b>',
                 weight=None)
    assert "\n" not in out  # a line break could end Markdown's raw-HTML block
    assert 'data-nnx-src="a.html?x=1&amp;y=2"' in out
    assert "A &#34;plot&#34; &lt;b&gt;" in out and "<b>" not in out


def test_a_misspelt_variable_fails_instead_of_rendering_nothing() -> None:
    with pytest.raises(UndefinedError):
        render("notebook_link.html", link="x")


def test_markdown_verbatim_text_is_not_escaped_twice() -> None:
    """Markdown shows code spans and fences verbatim: an entity there would be shown as is."""
    assert md_code("KeyError: 'a' <b> `x`") == "`KeyError: 'a' <b> x`"
    assert md_fence("a < b\n```") == "    ~~~~text\n    a < b\n    ```\n    ~~~~\n\n"
    assert md_cell("a | b") == "a / b"
    banner = stale_banner({"last_attempt": {"status": "failed", "failure": {
        "summary": "it's <broken>", "ename": "KeyError", "evalue": "'a' <x>"}}}, None)
    html = markdown.markdown(banner, extensions=["admonition", "pymdownx.superfences"])
    assert "<code>it's &lt;broken&gt;</code>" in html and "&amp;lt;" not in html
    assert "<code>KeyError: 'a' &lt;x&gt;\n</code>" in html


def test_banners_keep_markdown_structure() -> None:
    text = header_error_banner("basics/x.recipe.py", "line 3: bad <key>")
    assert text.startswith('!!! failure "Stale: the recipe header is invalid"\n\n    `basics/x')
    assert text.endswith("    line 3: bad <key>\n    ```\n\n")


def test_every_template_compiles() -> None:
    env = environment()
    names = env.list_templates()
    assert "figure.html" in names and "provenance.md" in names
    for name in names:
        env.get_template(name)

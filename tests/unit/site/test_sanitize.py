"""pipeline.site.sanitize: an allowlist, and an honest report of what it removed.

Whether a cleaned vector can still run anything is decided by a browser
(tests/browser/test_sanitize_browser.py); here: what is kept, what is reported, and that every
known vector of the corpus is reported as unsafe (so the build warns about each)."""

from __future__ import annotations

import pytest

from pipeline.library.tables import html_table
from pipeline.site.sanitize import describe, one_block, sanitize
from tests.xss_vectors import VECTORS, with_payload


@pytest.mark.parametrize("index", range(len(VECTORS) - 1))
def test_every_known_vector_is_reported(index: int) -> None:
    clean = sanitize(with_payload(index))
    assert clean.unsafe, (VECTORS[index], clean.html)
    assert f"nnxRan({index})" not in clean.html or 'alt="' in clean.html  # only as text


def test_clobbering_names_are_dropped_and_ids_prefixed() -> None:
    clean = sanitize(with_payload(len(VECTORS) - 1))
    assert 'name="' not in clean.html and 'id="nnx-user-nnxClobbered2"' in clean.html
    assert clean.inert == ("name= on <img>",) and not clean.unsafe


def test_a_pipeline_table_passes_unchanged_in_meaning() -> None:
    table = html_table(["Layer", "Params"], [["conv<1>", "1,792"]], numeric=[1], caption="L",
                       foot=["total", "1,792"])
    clean = sanitize(table)
    assert clean.removed == () and clean.inert == ()
    assert '<th scope="row">conv&lt;1&gt;</th>' in clean.html
    assert 'style="text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap"' in clean.html


def test_pandas_html_loses_only_inert_markup() -> None:
    pandas = ('<div>\n<style scoped>\n    .dataframe tbody tr th:only-of-type {\n'
              '        vertical-align: middle;\n    }\n\n    .dataframe thead th {\n'
              '        text-align: right;\n    }\n</style>\n<table border="1" class="dataframe">'
              '<thead><tr style="text-align: right;"><th></th><th>a</th></tr></thead><tbody>'
              "<tr><th>0</th><td>1</td></tr></tbody></table>\n</div>")
    clean = sanitize(pandas)
    assert not clean.unsafe
    assert describe(clean.inert) == ("pandas' <style scoped> for its dataframe class, "
                                     "border= on <table>, class= on <table>")
    assert "<style" not in clean.html and "<td>1</td>" in clean.html
    # another <style> is not pandas': it could restyle the page
    assert sanitize("<style>.md-header{display:none}</style><p>x</p>").removed == (
        "a <style> element",)


def test_links_get_rel_and_urls_keep_only_safe_schemes() -> None:
    clean = sanitize('<a href="https://x.org/" target="_blank">x</a><a href="mailto:a@b">m</a>'
                     '<a href="page.html#s">r</a><a href="vbscript:x">v</a>')
    assert 'href="https://x.org/"' in clean.html and 'rel="noopener noreferrer"' in clean.html
    assert 'href="mailto:a@b"' in clean.html and 'href="page.html#s"' in clean.html
    assert "vbscript" not in clean.html and clean.removed == ("a vbscript: URL in href= on <a>",)


def test_one_block_has_no_blank_line() -> None:
    assert one_block("\n<ul>\n\n<li>a</li>\n  \n</ul>\n") == "<ul>\n<li>a</li>\n</ul>"

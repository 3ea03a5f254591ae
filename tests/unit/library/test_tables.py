"""pipeline.library.tables: accessible, escaped HTML table fragments for the include() shortcode."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from pipeline.library.tables import NUMERIC_STYLE, html_table


class _Cells(HTMLParser):
    """(tag, attrs, text) of every th/td, and whether the markup is balanced."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, dict[str, str | None], str]] = []
        self.stack: list[str] = []
        self._text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)
        if tag in ("th", "td"):
            self.cells.append((tag, dict(attrs), ""))
            self._text = []

    def handle_endtag(self, tag):
        assert self.stack.pop() == tag
        if tag in ("th", "td") and self._text is not None:
            t, a, _ = self.cells[-1]
            self.cells[-1] = (t, a, "".join(self._text))
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def test_table_markup_is_accessible_and_balanced():
    text = html_table(["Layer", "Params"], [["conv1", "1,792"], ["fc1", "102,764,544"]],
                      numeric=[1], caption="Two layers", foot=["Total", "102,766,336"])
    assert text.startswith("<table><caption>Two layers</caption><thead>") and text.endswith("</table>\n")
    assert "\n" not in text.rstrip("\n")  # one line: one raw-HTML block in Markdown
    parser = _Cells()
    parser.feed(text)
    assert parser.stack == []
    head, body, foot = parser.cells[:2], parser.cells[2:6], parser.cells[6:]
    assert [(t, a.get("scope"), x) for t, a, x in head] == [("th", "col", "Layer"),
                                                             ("th", "col", "Params")]
    assert [(t, a.get("scope"), x) for t, a, x in body[::2]] == [("th", "row", "conv1"),
                                                                  ("th", "row", "fc1")]
    assert all(a.get("style") == NUMERIC_STYLE for _, a, _ in (head[1], body[1], body[3], foot[1]))
    assert body[0][1].get("style") is None
    assert foot[0] == ("th", {"scope": "row"}, "Total")
    assert "class=" not in text.split(">", 1)[0]  # material styles only table:not([class])


def test_text_is_escaped_and_none_is_empty():
    text = html_table(["a", "b"], [['<script>alert("x")</script>', None]], row_headers=False)
    assert "<script>" not in text and "&lt;script&gt;alert(&quot;x&quot;)" in text
    assert "<td></td>" in text and 'scope="row"' not in text


def test_nowrap_columns_keep_shapes_on_one_line():
    text = html_table(["Layer", "Output shape"], [["conv1", "(None, 224, 224, 64)"]], nowrap=[1])
    assert '<td style="white-space:nowrap">(None, 224, 224, 64)</td>' in text
    assert '<th scope="col">Output shape</th>' in text  # the header may wrap


@pytest.mark.parametrize("kwargs, message", [
    ({"columns": [], "rows": []}, "at least one column"),
    ({"columns": ["a"], "rows": [["x", "y"]]}, r"row 0 has 2 cells for 1 columns \(a\)"),
    ({"columns": ["a"], "rows": [], "numeric": [1]}, r"numeric column index\(es\) \[1\]"),
    ({"columns": ["a"], "rows": [], "nowrap": [-1]}, r"nowrap column index\(es\) \[-1\]"),
    ({"columns": ["a", "b"], "rows": [], "foot": ["x"]}, "the foot row has 1 cells"),
])
def test_shape_errors_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        html_table(**kwargs)


def test_inspection_and_cnn_views_tables_use_it():
    from pipeline.library.explainers.cnn_views import weight_stats_html
    from pipeline.library.inspection import LayerRow, WeightRow, rows_to_html

    summary = rows_to_html([LayerRow("fc1", "Dense", "(None, 4096)", 10, 10, 0, True)],
                           caption="VGG16")
    assert summary.startswith("<table><caption>VGG16</caption>")
    assert len(re.findall(r'<th scope="col"', summary)) == 6
    assert '<tfoot><tr><th scope="row">Total</th><td></td><td style="white-space:nowrap"></td>' in summary
    weights = weight_stats_html([WeightRow("fc1", "kernel", (2, 3), 6, 0.0, 1.0, -1.0, 1.0, 0.0,
                                           True)])
    assert len(re.findall(r'<th scope="col"', weights)) == 9 and "(2, 3)" in weights

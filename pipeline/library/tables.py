"""HTML table fragments that a page can inline: accessible markup, escaped text, aligned numbers.

A recipe that computes a table (a model's layers, weight statistics) writes it as an HTML
fragment asset with :func:`html_table`; the page inlines it with ``{{ include("table.html") }}``
(``pipeline.site.pages``), where mkdocs-material styles it as it styles Markdown tables.

Why these choices:

* header cells are ``<th scope="col">`` and, with ``row_headers``, each row's first cell is a
  ``<th scope="row">``: a screen reader then announces "Params, block1_conv1: 1,792" instead of
  a bare number;
* every cell's text is escaped (layer names come from user code and could hold ``<``);
* the ``<table>`` has no ``class``: material styles (and wraps in its scrolling container) only
  ``table:not([class])``, so a class would drop the site's table styling;
* numeric columns are right-aligned with an inline ``style`` (material left-aligns every cell
  without an ``align`` attribute), and use tabular figures so the digits line up.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

NUMERIC_STYLE = "text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap"
NOWRAP_STYLE = "white-space:nowrap"


def _cell(tag: str, value: Any, style: str | None, scope: str | None = None) -> str:
    text = "" if value is None else html.escape(str(value), quote=True)
    attrs = f' scope="{scope}"' if scope else ""
    if style:
        attrs += f' style="{style}"'
    return f"<{tag}{attrs}>{text}</{tag}>"


def html_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    numeric: Iterable[int] = (),
    nowrap: Iterable[int] = (),
    caption: str | None = None,
    foot: Sequence[Any] | None = None,
    row_headers: bool = True,
) -> str:
    """An HTML ``<table>`` fragment (one line, ending in a newline) for ``include(...)``.

    ``columns`` are the header labels; ``rows`` are sequences of cell values (formatted with
    ``str``, so format numbers before: ``f"{n:,}"``); ``numeric`` are the indexes of columns to
    right-align; ``nowrap`` are columns whose cells must not break (shapes such as
    ``(None, 224, 224, 64)``; numeric columns never break); ``caption`` names the table for assistive technology; ``foot`` is an optional
    totals row (``None`` cells stay empty). With ``row_headers`` the first cell of each body and
    foot row is a row header.
    """
    columns = [str(c) for c in columns]
    if not columns:
        raise ValueError("html_table needs at least one column")
    num, keep = set(numeric), set(nowrap)
    for what, idx in (("numeric", num), ("nowrap", keep)):
        bad = sorted(i for i in idx if not 0 <= i < len(columns))
        if bad:
            raise ValueError(f"html_table: {what} column index(es) {bad} outside "
                             f"0..{len(columns) - 1}")
    styles = [NUMERIC_STYLE if i in num else NOWRAP_STYLE if i in keep else None
              for i in range(len(columns))]

    def row_html(values: Sequence[Any], what: str) -> str:
        values = list(values)
        if len(values) != len(columns):
            raise ValueError(f"html_table: {what} has {len(values)} cells for {len(columns)} "
                             f"columns ({', '.join(columns)}): {values!r}")
        cells = []
        for i, v in enumerate(values):
            if i == 0 and row_headers:
                cells.append(_cell("th", v, styles[i], scope="row"))
            else:
                cells.append(_cell("td", v, styles[i]))
        return "<tr>" + "".join(cells) + "</tr>"

    head = "".join(_cell("th", c, NUMERIC_STYLE if i in num else None, scope="col")
                   for i, c in enumerate(columns))
    body = "".join(row_html(r, f"row {n}") for n, r in enumerate(rows))
    parts = ["<table>"]
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    parts.append(f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>")
    if foot is not None:
        parts.append(f"<tfoot>{row_html(foot, 'the foot row')}</tfoot>")
    parts.append("</table>\n")
    return "".join(parts)

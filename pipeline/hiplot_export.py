"""Interactive HiPlot parallel-coordinates pages that work offline.

HiPlot's standalone HTML inlines its JavaScript bundle, but its CSS ``@import``s a Google font;
that is the only request it makes to another host, so we remove it (the page falls back to the
system font). The result is one self-contained HTML file for an ``<iframe>``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pipeline import atomic

log = logging.getLogger(__name__)

_FONT_IMPORT = re.compile(r'@import\s*(?:url\()?\\?["\']?https?://fonts\.googleapis\.com[^"\'\\)]*\\?["\']?\)?;?')
_EXTERNAL_LOAD = re.compile(r'<(?:link|script)[^>]+(?:href|src)=["\']https?://', re.IGNORECASE)


def offline_html(html: str) -> str:
    """Strip HiPlot's remote font import; fail loudly if anything else would load remotely."""
    cleaned = _FONT_IMPORT.sub("", html)
    if "fonts.googleapis.com/css" in cleaned.replace("$web-font-path", ""):
        # Only a SCSS source-map string mentions the font path; make sure nothing else does.
        remaining = [m.start() for m in re.finditer(r"@import[^;]{0,20}fonts\.googleapis", cleaned)]
        if remaining:
            raise RuntimeError("HiPlot HTML still imports a remote font; update offline_html()")
    if _EXTERNAL_LOAD.search(cleaned):
        raise RuntimeError("HiPlot HTML loads a remote script or stylesheet; update offline_html()")
    return cleaned


def parallel_coordinates(
    rows: Iterable[dict[str, Any]],
    path: str | Path,
    order: Sequence[str] | None = None,
    color_by: str | None = None,
) -> Path:
    """Write an offline HiPlot page with one line per row (e.g. one per epoch)."""
    import hiplot as hip

    rows = list(rows)
    if not rows:
        raise ValueError("parallel_coordinates needs at least one row")
    exp = hip.Experiment.from_iterable(rows)
    exp.display_data(hip.Displays.PARALLEL_PLOT).update(
        {"order": list(order or rows[0].keys())}
    )
    exp.display_data(hip.Displays.TABLE).update({"hide": ["uid", "from_uid"]})
    if color_by:
        exp.colorby = color_by
    path = Path(path)
    with atomic.atomic_path(path) as tmp:
        exp.to_html(str(tmp))
        tmp.write_text(offline_html(tmp.read_text(encoding="utf-8")), encoding="utf-8")
    log.info("wrote HiPlot page %s (%d rows)", path, len(rows))
    return path

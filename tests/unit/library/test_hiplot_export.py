"""pipeline.library.hiplot_export: a small offline page per plot and one shared, versioned script."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tests.conftest import need_module

hiplot = need_module("hiplot")

from pipeline.library import hiplot_export as HX  # noqa: E402

ROWS = [{"epoch": e, "loss": 1.0 / (e + 1), "val_loss": 1.2 / (e + 1)} for e in range(1, 19)]


def _scripts(page: str) -> list[str]:
    return re.findall(r"<script\b[^>]*\bsrc=\"([^\"]+)\"", page)


def test_page_is_small_and_loads_the_shared_bundle(tmp_path: Path) -> None:
    page_path = HX.parallel_coordinates(ROWS, tmp_path / "plot.html", order=["epoch", "loss"],
                                        color_by="epoch")
    bundle = tmp_path / HX.bundle_name()
    assert bundle.name.startswith("hiplot-") and bundle.name.endswith(".bundle.js")
    page = page_path.read_text()
    assert page_path.stat().st_size < 100_000  # was 1.6 MB with the bundle inlined
    assert _scripts(page) == [bundle.name]  # relative, next to the page: works offline
    assert bundle.stat().st_size > 1_000_000  # the real bundle, not a stub
    assert '"epoch": 18' in page or '\\"epoch\\": 18' in page  # the data is in the page
    assert '<html lang="en">' in page and 'rel="icon"' not in page and "static/" not in page
    for text in (page, bundle.read_text()):
        assert not re.search(r"@import[^;]{0,20}fonts\.googleapis", text)
        assert not re.search(r"<(?:link|script)[^>]+(?:href|src)=[\"']https?://", text)
    for f in (page_path, bundle):
        assert stat.S_IMODE(f.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["plot.html", bundle.name])


def test_plots_in_one_folder_share_one_bundle(tmp_path: Path) -> None:
    HX.parallel_coordinates(ROWS, tmp_path / "a.html")
    bundle = tmp_path / HX.bundle_name()
    before = bundle.stat()
    HX.parallel_coordinates(ROWS[:5], tmp_path / "b.html")
    after = bundle.stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)  # reused
    assert len(list(tmp_path.glob("*.js"))) == 1


def test_a_damaged_bundle_is_replaced(tmp_path: Path) -> None:
    bundle = tmp_path / HX.bundle_name()
    bundle.write_text("half a scr")
    HX.write_bundle(tmp_path)
    assert bundle.stat().st_size > 1_000_000 and "hiplot" in bundle.read_text()[:2000]


def test_offline_html_refuses_remote_scripts() -> None:
    with pytest.raises(RuntimeError, match="remote script"):
        HX.offline_html('<script src="https://cdn.example/x.js"></script>')
    assert HX.offline_html('<style>@import url("https://fonts.googleapis.com/css?family=Lato");'
                           "</style>") == "<style></style>"


def test_empty_rows_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one row"):
        HX.parallel_coordinates([], tmp_path / "x.html")


def test_the_same_rows_give_the_same_bytes(tmp_path: Path) -> None:
    """HiPlot's random root-element id is replaced by one derived from the content."""
    rows = [{"epoch": e, "loss": 1.0 / (e + 1)} for e in range(5)]
    a = HX.parallel_coordinates(rows, tmp_path / "a" / "plot.html").read_bytes()
    b = HX.parallel_coordinates(rows, tmp_path / "b" / "plot.html").read_bytes()
    assert a == b
    ids = set(re.findall(rb'id="(hiplot_[0-9a-f]+)"', a))
    assert len(ids) == 1 and rb'getElementById("' + ids.pop() + b'")' in a
    other = HX.parallel_coordinates(rows[:4], tmp_path / "c" / "plot.html").read_bytes()
    assert re.findall(rb'id="(hiplot_[0-9a-f]+)"', other) != re.findall(rb'id="(hiplot_[0-9a-f]+)"', a)


def test_the_page_asks_hiplot_for_the_sites_palette(tmp_path: Path) -> None:
    """HiPlot's own ``dark`` option is set from the site's palette before the plot is drawn
    (the browser test checks the theme it gives, in both palettes and on a toggle)."""
    page = HX.parallel_coordinates(ROWS, tmp_path / "plot.html").read_text()
    head = page[: page.index("</head>")]
    assert 'getAttribute("data-md-color-scheme")' in head and "__palette" in head
    assert "window.location.reload()" in head  # a toggle on the embedding page redraws it
    option = page.index('options.dark = window.nnxHiplotPalette === "dark";')
    assert page.index("window.nnxHiplotPalette = shown") < option < page.index("hiplot.render(")
    assert 'html[data-nnx-palette="dark"]' in head
    assert not re.search(r"<(?:link|script)[^>]+(?:href|src)=[\"']https?://", page)

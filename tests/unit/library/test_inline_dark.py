"""pipeline.library.inline_dark: a dark twin for the figures a notebook shows inline."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from tests.conftest import need_module

need_module("IPython")

from IPython.core.formatters import DisplayFormatter  # noqa: E402

from pipeline.library import inline_dark  # noqa: E402
from pipeline.library.palette import THEME  # noqa: E402


class _Shell:
    """The one part of an IPython shell :func:`inline_dark.install` uses."""

    def __init__(self) -> None:
        self.display_formatter = DisplayFormatter()


def _png_pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def _figure() -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(5, 2.5), dpi=80)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.imshow(np.linspace(0, 1, 100).reshape(10, 10), cmap="viridis")
    ax1.set_title("image")
    ax2.plot([0, 1, 2], [0, 1, 4], color="C0", linewidth=3)
    ax2.set_xlabel("epoch")
    return fig


def _light_png(fig: Figure) -> bytes:
    buf = io.BytesIO()  # as IPython's inline PNG: tight box, the figure's dpi and facecolor
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    return buf.getvalue()


def test_a_shown_figure_gets_a_dark_twin_that_changes_the_theme_not_the_data() -> None:
    shell = _Shell()
    assert inline_dark.install(shell) is True
    fig = _figure()
    light = _png_pixels(_light_png(fig))
    bundle, _md = shell.display_formatter.format(fig)
    dark = _png_pixels(base64.b64decode(bundle[inline_dark.DARK_PNG_MIME]))
    assert light.shape == dark.shape
    # the figure background (a corner) follows the theme
    bg = np.array([int(THEME["dark"]["background"][i:i + 2], 16) for i in (1, 3, 5)])
    assert (light[1, 1] == 255).all() and np.abs(dark[1, 1] - bg).max() <= 1
    # text: the light version has near-black text pixels, the dark one near-foreground ones
    fg = np.array([int(THEME["dark"]["foreground"][i:i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(light - 0).max(axis=2) <= 40).sum() > 50
    assert (np.abs(dark - fg).max(axis=2) <= 40).sum() > 50
    assert (np.abs(dark - 0).max(axis=2) <= 40).sum() < 0.1 * (np.abs(light - 0).max(axis=2) <= 40).sum()
    # data: the colormapped image is the same pixels, the C0 line the same colour
    # (the image is the block of saturated pixels in the left half; its box, shrunk by 3 px)
    left = light[:, : light.shape[1] // 2]
    rows, cols = np.nonzero(left.max(axis=2) - left.min(axis=2) > 60)
    box = (slice(rows.min() + 3, rows.max() - 2), slice(cols.min() + 3, cols.max() - 2))
    assert np.abs(light[box] - dark[box]).max() <= 2
    assert np.abs(light[box] - dark[box]).size > 1000
    c0 = np.array([31, 119, 180])
    on_light = np.abs(light - c0).max(axis=2) <= 3
    on_dark = np.abs(dark - c0).max(axis=2) <= 3
    assert on_light.sum() > 50 and (on_light & on_dark).sum() >= 0.8 * on_light.sum()
    # the background changed a lot overall, and the shown figure itself was not restyled
    assert np.abs(light - dark).mean() > 100
    assert fig.get_facecolor()[:3] == (1.0, 1.0, 1.0)
    assert (_png_pixels(_light_png(fig)) == light).all()


def test_saved_figures_and_other_objects_get_no_inline_twin() -> None:
    shell = _Shell()
    inline_dark.install(shell)
    with inline_dark.skip_dark():  # save_figure: its twin is the recipe's .dark.png asset
        bundle, _ = shell.display_formatter.format(_figure())
    assert inline_dark.DARK_PNG_MIME not in bundle
    bundle, _ = shell.display_formatter.format("just text")
    assert inline_dark.DARK_PNG_MIME not in bundle
    bundle, _ = shell.display_formatter.format(_figure())
    assert inline_dark.DARK_PNG_MIME in bundle  # skip_dark ended with its block


def test_install_outside_ipython_is_a_no_op() -> None:
    assert inline_dark.install() is False  # no running shell in pytest


def test_an_image_shown_from_a_file_pairs_with_its_dark_file(tmp_path: Path) -> None:
    from IPython.display import Image

    shell = _Shell()
    inline_dark.install(shell)
    light = _light_png(_figure())
    fig = _figure()
    fig.patch.set_facecolor("black")
    dark = _light_png(fig)
    (tmp_path / "still.png").write_bytes(light)
    (tmp_path / "still.dark.png").write_bytes(dark)
    (tmp_path / "alone.png").write_bytes(light)
    bundle, _ = shell.display_formatter.format(Image(filename=str(tmp_path / "still.png")))
    assert base64.b64decode(bundle[inline_dark.DARK_PNG_MIME]) == dark
    assert base64.b64decode(bundle["image/png"]) == light
    bundle, _ = shell.display_formatter.format(Image(filename=str(tmp_path / "alone.png")))
    assert inline_dark.DARK_PNG_MIME not in bundle  # no dark file: no twin

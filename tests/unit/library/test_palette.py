"""Light and dark versions of generated pictures: same data, theme colours only."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from pipeline.library.palette import THEME, map_color, rc_context, restyle_figure, variant_name
from pipeline.library.runtime import Explainer

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _pixels(fig: Figure) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)


def test_variant_names() -> None:
    assert variant_name("loss.png", "light") == "loss.png"
    assert variant_name("loss.png", "dark") == "loss.dark.png"
    assert variant_name("sub/replay.mp4", "dark") == "sub/replay.dark.mp4"
    assert variant_name("frames/index.json", "dark") == "frames.dark/index.json"
    with pytest.raises(ValueError, match="unknown palette 'sepia'"):
        variant_name("a.png", "sepia")


def test_theme_colours_follow_and_data_colours_stay() -> None:
    bg = np.array([int(THEME["dark"]["background"][i:i + 2], 16) / 255 for i in (1, 3, 5)])
    fg = np.array([int(THEME["dark"]["foreground"][i:i + 2], 16) / 255 for i in (1, 3, 5)])
    np.testing.assert_allclose(map_color("white", "dark")[:3], bg, atol=1e-6)
    np.testing.assert_allclose(map_color("black", "dark")[:3], fg, atol=1e-6)
    from matplotlib.colors import to_rgba

    for data in ("C0", "C1", "#b2182b", "tab:green"):
        assert map_color(data, "dark") == to_rgba(data)
    assert map_color((1, 1, 1, 0), "dark") == (1, 1, 1, 0)  # transparent stays transparent
    assert map_color("white", "light") == (1.0, 1.0, 1.0, 1.0)


def _figure() -> tuple[Figure, tuple[int, int, int, int]]:
    """An image axes (colormap) and a line plot; returns the image's pixel box."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(6, 3), dpi=80)
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2)
    ax1.imshow(np.linspace(0, 1, 100).reshape(10, 10), cmap="viridis", alpha=0.6)
    ax1.set_title("image")
    ax2.plot([0, 1, 2], [0, 1, 4], color="C0", label="data")
    ax2.plot([0, 2], [2, 2], color="0.5")
    ax2.legend()
    ax2.set_xlabel("x")
    fig.canvas.draw()
    (x0, y0), (x1, y1) = ax1.get_window_extent().get_points()
    h = fig.canvas.get_width_height()[1]
    return fig, (int(x0) + 3, int(h - y1) + 3, int(x1) - 3, int(h - y0) - 3)


def test_dark_version_differs_outside_the_data_and_not_inside() -> None:
    fig, (x0, y0, x1, y1) = _figure()
    light = _pixels(fig)
    restyle_figure(fig, "dark")
    dark = _pixels(fig)
    assert light.shape == dark.shape
    # data region: the colormapped image is pixel for pixel the same
    np.testing.assert_array_equal(light[y0:y1, x0:x1], dark[y0:y1, x0:x1])
    # the figure background (a corner) follows the theme
    bg = np.array([int(THEME["dark"]["background"][i:i + 2], 16) for i in (1, 3, 5)])
    assert (light[2, 2] == 255).all() and np.abs(dark[2, 2] - bg).max() <= 1
    mean_diff = np.abs(light.astype(float) - dark).mean()
    assert mean_diff > 100  # most of the figure (background) changed a lot
    # the C0 data line is drawn in the same colour in both
    c0 = np.array([31, 119, 180])
    assert (np.abs(dark - c0).max(axis=2) <= 2).sum() > 20
    assert (np.abs(light - c0).max(axis=2) <= 2).sum() > 20
    with pytest.raises(ValueError, match="save the light version first"):
        restyle_figure(fig, "dark", source="dark")


def test_rc_context_is_local() -> None:
    import matplotlib

    before = matplotlib.rcParams["figure.facecolor"]
    with rc_context("dark"):
        assert matplotlib.rcParams["figure.facecolor"] == THEME["dark"]["background"]
    assert matplotlib.rcParams["figure.facecolor"] == before


def test_save_figure_writes_both_versions(tmp_path: Path) -> None:
    ex = Explainer(asset_dir=tmp_path / "assets")
    fig, _ = _figure()
    ex.save_figure(fig, "plot.png", alt="an image and a line", show=False)
    light, dark = tmp_path / "assets" / "plot.png", tmp_path / "assets" / "plot.dark.png"
    assert light.is_file() and dark.is_file()
    from PIL import Image

    a = np.asarray(Image.open(light).convert("RGB")).astype(int)
    b = np.asarray(Image.open(dark).convert("RGB")).astype(int)
    assert a.shape == b.shape and np.abs(a - b).mean() > 50
    ex.finish()
    outputs = json.loads((tmp_path / "assets" / "outputs.json").read_text())["outputs"]
    assert outputs[0]["extra"] == {"dark": "plot.dark.png"}
    # a missing dark file is caught like a missing light one
    dark.unlink()
    with pytest.raises(Exception, match="plot.dark.png"):
        ex.finish()


def test_save_figure_can_skip_the_dark_version(tmp_path: Path) -> None:
    ex = Explainer(asset_dir=tmp_path / "assets")
    fig, _ = _figure()
    ex.save_figure(fig, "plot.png", alt="light only", show=False, dark=False)
    assert not (tmp_path / "assets" / "plot.dark.png").exists()
    assert ex.outputs["plot.png"].extra == {}


def test_neutral_reads_the_palette_being_drawn() -> None:
    """The public neutral colours follow the active style (the dark palette's rc settings)."""
    import matplotlib

    from pipeline.library.palette import neutral

    with matplotlib.rc_context({"axes.edgecolor": "#123456", "axes.facecolor": "#abcdef",
                                "grid.color": "#0f0f0f"}):
        assert (neutral("ink"), neutral("face"), neutral("grid")) == ("#123456", "#abcdef",
                                                                       "#0f0f0f")
    with rc_context("dark"):
        assert matplotlib.colors.to_hex(neutral("face")) == THEME["dark"]["background"]
    with pytest.raises(ValueError, match="'ink', 'face', 'grid'|ink, face, grid"):
        neutral("paper")


def test_the_private_name_still_works_with_a_warning() -> None:
    from pipeline.library.palette import neutral
    from pipeline.library.replay.panels import drawing

    with pytest.warns(DeprecationWarning, match="pipeline.library.palette.neutral"):
        old = drawing._neutral
    assert old is neutral

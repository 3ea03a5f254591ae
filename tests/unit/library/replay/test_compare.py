"""Runs side by side (shared limits, one legend) and compositions in both palettes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import need_module

keras = need_module("keras")

from pipeline.library.errors import PipelineError  # noqa: E402
from pipeline.library.explainers.seed000 import seed000_layout  # noqa: E402
from pipeline.library.palette import THEME, render_palettes, variant_name  # noqa: E402
from pipeline.library.replay.compare import compare_layouts, share_limits  # noqa: E402
from pipeline.library.replay.panels import FeatureSpacePanel  # noqa: E402
from pipeline.library.replay.recorder import ReplayRecorder  # noqa: E402
from pipeline.library.replay.store import Replay  # noqa: E402
from pipeline.library.training import fit_fast  # noqa: E402


def _model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    glorot = keras.initializers.GlorotNormal(seed=seed)
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(4, activation="tanh", kernel_initializer=glorot, name="dense"),
        keras.layers.Dense(2, activation="tanh", kernel_initializer=glorot, name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output",
                           kernel_initializer=keras.initializers.RandomNormal(seed=seed)),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> list[Replay]:
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=300, random_state=27, noise=0.03)
    runs = []
    for seed in (0, 42):
        path = tmp_path_factory.mktemp(f"seed{seed}") / "replay.npz"
        fit_fast(_model(seed), x, y, epochs=4, batch_size=16, seed=seed,
                 callbacks=[ReplayRecorder(x, y, path=path)])
        runs.append(Replay.load(path))
    return runs


def test_runs_share_every_axes_limit_and_one_legend(two_runs: list[Replay]) -> None:
    alone = [seed000_layout(r, figsize=(8, 4), dpi=50) for r in two_runs]
    fs_alone = [c.panels[0][0] for c in alone]
    assert fs_alone[0].xlim != fs_alone[1].xlim  # the runs really differ on their own
    comps = compare_layouts(two_runs, seed000_layout, figsize=(8, 4), dpi=50)
    for k in range(len(comps[0].panels)):
        a, b = comps[0].panels[k][1], comps[1].panels[k][1]
        assert a.get_xlim() == b.get_xlim() and a.get_ylim() == b.get_ylim(), k
    fs = [c.panels[0][0] for c in comps]
    assert isinstance(fs[0], FeatureSpacePanel)
    # the union of both runs' limits, and the background grid covers it
    assert fs[0].xlim == (min(p.xlim[0] for p in fs_alone), max(p.xlim[1] for p in fs_alone))
    grid = fs[1]._fs_grid
    assert grid[:, 0].min() == pytest.approx(fs[1].xlim[0]) and grid[:, 1].max() == pytest.approx(fs[1].ylim[1])
    # the loss histograms share their bins, and still count every point
    hists = [c.panels[4][0] for c in comps]
    np.testing.assert_array_equal(hists[0].edges, hists[1].edges)
    assert hists[1].counts.sum(axis=1).tolist() == [two_runs[1].n_probe] * len(two_runs[1].epochs)
    legends = [[ax.get_legend() is not None for ax in c.figure.axes] for c in comps]
    assert sum(legends[0]) == 1 and sum(legends[1]) == 0
    # both are drawn at the same epoch on request, with the same frame size
    f0, f1 = comps[0].render(2), comps[1].render(2)
    assert f0.shape == f1.shape and comps[0].epoch == comps[1].epoch == 2


def test_share_limits_refuses_mismatched_layouts(two_runs: list[Replay]) -> None:
    from pipeline.library.replay.composer import Composition
    from pipeline.library.replay.panels import CurvesPanel

    a = seed000_layout(two_runs[0], figsize=(8, 4), dpi=50)
    b = Composition(two_runs[1], [(CurvesPanel(), (0, 0))], figsize=(4, 3), dpi=50)
    with pytest.raises(PipelineError, match="different layouts"):
        share_limits([a, b])
    with pytest.raises(PipelineError, match="two or more"):
        share_limits([a])


def test_composition_dark_palette_keeps_the_data_region(two_runs: list[Replay]) -> None:
    comp = seed000_layout(two_runs[0], figsize=(8, 4), dpi=50)
    light = comp.render(3).astype(int)
    ax = comp.panels[0][1]
    comp.set_palette("dark")
    dark = comp.render(3).astype(int)
    blitted = comp.render(3, blit=True).astype(int)
    np.testing.assert_array_equal(dark, blitted)  # blitting stays exact in the dark palette
    (x0, y0), (x1, y1) = ax.get_window_extent().get_points()
    h = light.shape[0]
    box = (slice(int(h - y1) + 2, int(h - y0) - 2), slice(int(x0) + 2, int(x1) - 2))
    # the feature space (colormap, grid lines, points) is drawn identically in both palettes
    np.testing.assert_array_equal(light[box], dark[box])
    bg = np.array([int(THEME["dark"]["background"][i:i + 2], 16) for i in (1, 3, 5)])
    assert np.abs(dark[1, 1] - bg).max() <= 1 and (light[1, 1] == 255).all()
    assert np.abs(light - dark).mean() > 40
    with pytest.raises(PipelineError, match="render the light version first"):
        comp.set_palette("light")


@pytest.mark.parametrize("parallel", [False, True])
def test_render_palettes_writes_both_versions(two_runs: list[Replay], tmp_path: Path,
                                              parallel: bool) -> None:
    comp = seed000_layout(two_runs[0], figsize=(6, 3), dpi=40)

    def render(c, palette):
        c.frames((tmp_path / variant_name("frames/index.json", palette)).parent, format="png")
        c.poster(tmp_path / variant_name("poster.png", palette))

    seconds = render_palettes(comp, render, parallel=parallel)
    assert set(seconds) == {"light", "dark", "total"}
    light = json.loads((tmp_path / "frames" / "index.json").read_text())
    dark = json.loads((tmp_path / "frames.dark" / "index.json").read_text())
    assert light["files"] == dark["files"] and light["epochs"] == dark["epochs"]
    assert light["palette"] == "light" and dark["palette"] == "dark"
    assert light["metrics"]["probe_loss"] == dark["metrics"]["probe_loss"]
    assert len(light["metrics"]["probe_loss"]) == len(light["epochs"])
    assert (tmp_path / "poster.png").is_file() and (tmp_path / "poster.dark.png").is_file()


def test_render_palettes_reports_a_failing_dark_pass(two_runs: list[Replay], tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    comp = seed000_layout(two_runs[0], figsize=(6, 3), dpi=40)

    def render(c, palette):
        if palette == "dark":
            raise ValueError("no room for the dark frames")
        c.poster(tmp_path / "poster.png")

    # the child's failure is logged, the dark pass is tried again here and its error raised
    with pytest.raises(ValueError, match="no room for the dark frames"):
        render_palettes(comp, render, parallel=True)
    assert "forked process failed (error: ValueError: no room for the dark frames)" in caplog.text


def test_render_palettes_redraws_in_process_when_only_the_child_fails(
        two_runs: list[Replay], tmp_path: Path) -> None:
    comp = seed000_layout(two_runs[0], figsize=(6, 3), dpi=40)
    parent = os.getpid()

    def render(c, palette):
        if palette == "dark" and os.getpid() != parent:
            raise RuntimeError("FT_Load_Glyph failed")  # what a forked FreeType once did
        c.poster(tmp_path / variant_name("poster.png", palette))

    seconds = render_palettes(comp, render, parallel=True)
    assert seconds["fallback"] == 1.0
    assert (tmp_path / "poster.png").is_file() and (tmp_path / "poster.dark.png").is_file()
    from PIL import Image

    dark = np.asarray(Image.open(tmp_path / "poster.dark.png").convert("RGB")).astype(int)
    bg = np.array([int(THEME["dark"]["background"][i:i + 2], 16) for i in (1, 3, 5)])
    assert np.abs(dark[1, 1] - bg).max() <= 1

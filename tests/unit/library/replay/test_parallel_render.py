"""Parallel rendering (pipeline.library.replay.parallel_render): the same files as the serial render."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import need_module

keras = need_module("keras")

from pipeline.library.errors import PipelineError  # noqa: E402
from pipeline.library.explainers.seed000 import seed000_layout  # noqa: E402
from pipeline.library.replay.parallel_render import _chunks, render_outputs, render_workers  # noqa: E402
from pipeline.library.replay.store import Replay  # noqa: E402

SMALL = {"figsize": (6, 3), "dpi": 50}
EPOCHS = 30


@pytest.fixture(scope="module")
def replay(tmp_path_factory) -> Replay:
    from sklearn.datasets import make_moons

    from pipeline.library.replay.recorder import ReplayRecorder
    from pipeline.library.training import fit_fast
    from tests.unit.library.replay.test_panels import seed000_model

    x, y = make_moons(n_samples=300, random_state=27, noise=0.03)
    path = tmp_path_factory.mktemp("moons") / "moons.npz"
    fit_fast(seed000_model(), x, y, epochs=EPOCHS, batch_size=16,
             callbacks=[ReplayRecorder(x, y, path=path)])
    return Replay.load(path)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("fmt", ["webp", "png"])
def test_parallel_files_equal_the_serial_render(replay: Replay, tmp_path: Path, fmt) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    comp = seed000_layout(replay, **SMALL)
    frame_epochs = [e for e in range(0, EPOCHS + 1, 2)]
    comp.animate(serial / "r.mp4", serial / "r.gif", fps=10, gif_max_frames=12)
    comp.frames(serial / "frames", epochs=frame_epochs, format=fmt, quality=80,
                max_frames=None)

    out = render_outputs(seed000_layout, replay, layout_kwargs=SMALL, workers=2,
                         mp4_path=parallel / "r.mp4", gif_path=parallel / "r.gif",
                         frames_dir=parallel / "frames", frame_epochs=frame_epochs, fps=10,
                         gif_max_frames=12, frame_format=fmt, quality=80, max_frames=None)
    assert out["workers"] == 2
    assert (parallel / "r.mp4").read_bytes() == (serial / "r.mp4").read_bytes()
    assert (parallel / "r.gif").read_bytes() == (serial / "r.gif").read_bytes()
    assert _files(parallel / "frames") == _files(serial / "frames")
    index = json.loads((parallel / "frames" / "index.json").read_text())
    assert index["epochs"] == frame_epochs


def test_parallel_frames_have_the_pixels_of_full_redraws(replay: Replay, tmp_path: Path) -> None:
    from PIL import Image

    epochs = [0, 7, 8, 19, EPOCHS]
    render_outputs(seed000_layout, replay, layout_kwargs=SMALL, workers=2,
                   frames_dir=tmp_path / "f", frame_epochs=epochs, frame_format="png",
                   max_frames=None)
    fresh = seed000_layout(replay, **SMALL)
    for epoch in epochs:
        drawn = np.asarray(Image.open(tmp_path / "f" / f"epoch_{epoch:04d}.png").convert("RGB"))
        np.testing.assert_array_equal(drawn, fresh.render(epoch))  # full redraw


def test_one_worker_renders_in_process(replay: Replay, tmp_path: Path) -> None:
    comp = seed000_layout(replay, **SMALL)
    out = render_outputs(seed000_layout, replay, layout_kwargs=SMALL, workers=1,
                         composition=comp, gif_path=tmp_path / "a.gif", gif_max_frames=5)
    assert out["workers"] == 1 and (tmp_path / "a.gif").stat().st_size > 0


def test_chunks_and_workers(monkeypatch) -> None:
    assert _chunks(list(range(10)), 3) == [(0, 1, 2), (3, 4, 5, 6), (7, 8, 9)]
    assert _chunks([1, 2], 5) == [(1,), (2,)]
    monkeypatch.setenv("NNX_RENDER_WORKERS", "3")
    assert render_workers(1000) == 3
    monkeypatch.setenv("NNX_RENDER_WORKERS", "x")
    with pytest.raises(PipelineError, match="NNX_RENDER_WORKERS"):
        render_workers(10)
    monkeypatch.delenv("NNX_RENDER_WORKERS")
    assert render_workers(5) == 1  # too few frames to pay for a process
    import pipeline.library.replay.parallel_render as pr

    monkeypatch.setattr(pr.os, "getloadavg", lambda: (0.9, 0.0, 0.0))
    monkeypatch.setattr("pipeline.library.cores.usable_cores", lambda: 4)
    assert pr.idle_cores() == 4 and render_workers(1000) == 4  # only this kernel runs
    monkeypatch.setattr(pr.os, "getloadavg", lambda: (3.2, 0.0, 0.0))
    assert pr.idle_cores() == 2  # two other kernels busy
    monkeypatch.setattr(pr.os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert render_workers(1000) == 1  # saturated: one pass in this process


def test_nothing_to_render_is_an_error(replay: Replay) -> None:
    with pytest.raises(PipelineError, match="mp4_path"):
        render_outputs(seed000_layout, replay)


def test_rgb_image_has_the_pixels_of_the_rgb_slice() -> None:
    """Frames and GIF frames read the canvas' RGBA buffer in place: the same RGB pixels."""
    from pipeline.library.replay.composer import _rgb_image

    rng = np.random.default_rng(5)
    rgba = rng.integers(0, 256, (7, 9, 4), dtype=np.uint8)  # odd sizes, any alpha
    want = np.array(rgba[..., :3])
    img = _rgb_image(rgba)
    assert img.mode == "RGB" and img.size == (9, 7)
    np.testing.assert_array_equal(np.asarray(img), want)
    np.testing.assert_array_equal(np.asarray(_rgb_image(want)), want)  # RGB arrays too
    np.testing.assert_array_equal(np.asarray(_rgb_image(rgba[:, ::2])), want[:, ::2])  # strided


def test_serial_render_streams_video_frames(replay: Replay, tmp_path: Path, monkeypatch) -> None:
    """In one process the video frames go to ffmpeg as they are drawn, none kept back."""
    from pipeline.library.replay import parallel_render

    kept: list[int] = []
    real = parallel_render._render_chunk

    def spy(chunk, comp=None, video_sink=None):
        result = real(chunk, comp, video_sink)
        kept.append(len(result.video))
        return result

    monkeypatch.setattr(parallel_render, "_render_chunk", spy)
    out = render_outputs(seed000_layout, replay, layout_kwargs=SMALL, workers=1,
                         mp4_path=tmp_path / "r.mp4", fps=10)
    import imageio_ffmpeg

    assert kept == [0]
    assert imageio_ffmpeg.count_frames_and_secs(str(out["mp4"]))[0] == EPOCHS + 1

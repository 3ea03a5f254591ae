"""Parallel rendering (pipeline.library.replay.parallel_render): the same files as the serial render."""

from __future__ import annotations

import os
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


def test_parallel_files_equal_the_serial_render(replay: Replay, tmp_path: Path) -> None:
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    comp = seed000_layout(replay, **SMALL)
    one = render_outputs(None, replay, composition=comp, mp4_path=serial / "r.mp4",
                         gif_path=serial / "r.gif", fps=10, gif_max_frames=12)
    out = render_outputs(seed000_layout, replay, layout_kwargs=SMALL, workers=2,
                         mp4_path=parallel / "r.mp4", gif_path=parallel / "r.gif", fps=10,
                         gif_max_frames=12)
    assert one["workers"] == 1 and out["workers"] == 2
    assert (parallel / "r.mp4").read_bytes() == (serial / "r.mp4").read_bytes()
    assert (parallel / "r.gif").read_bytes() == (serial / "r.gif").read_bytes()
    assert out["epochs"] == [int(e) for e in replay.epochs]


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
    assert render_workers(1000) == 1  # by default in this process (the frames' trip costs more)
    assert render_workers(1000, 2) == 2


def test_render_in_background_writes_the_same_files(replay: Replay, tmp_path: Path,
                                                    monkeypatch) -> None:
    from pipeline.library.replay.parallel_render import render_in_background

    monkeypatch.setattr("pipeline.library.cores.usable_cores", lambda: 2)  # fork even on 1 core
    comp = seed000_layout(replay, **SMALL)
    job = render_in_background(None, replay, composition=comp, mp4_path=tmp_path / "bg.mp4",
                               gif_path=tmp_path / "bg.gif", fps=10, gif_max_frames=6)
    comp.set_palette("dark")  # the parent goes on with the figure: the child has its own copy
    comp.still(3, tmp_path / "dark.png")
    out = job.result()
    assert job.forked and out["mp4"] == tmp_path / "bg.mp4" and out["workers"] == 1
    here = render_outputs(None, replay, composition=seed000_layout(replay, **SMALL),
                          mp4_path=tmp_path / "fg.mp4", gif_path=tmp_path / "fg.gif", fps=10,
                          gif_max_frames=6)
    assert (tmp_path / "bg.mp4").read_bytes() == here["mp4"].read_bytes()
    assert (tmp_path / "bg.gif").read_bytes() == here["gif"].read_bytes()


def test_a_failed_background_render_is_done_again_here(replay: Replay, tmp_path: Path,
                                                       monkeypatch, caplog) -> None:
    from pipeline.library.replay import parallel_render

    monkeypatch.setattr("pipeline.library.cores.usable_cores", lambda: 2)
    comp = seed000_layout(replay, **SMALL)
    real = parallel_render.render_outputs
    parent = os.getpid()

    def crash_in_the_child(*args, **kwargs):
        if os.getpid() != parent:
            raise RuntimeError("FT_Load_Glyph failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(parallel_render, "render_outputs", crash_in_the_child)
    job = parallel_render.render_in_background(None, replay, composition=comp,
                                               gif_path=tmp_path / "a.gif", gif_max_frames=4)
    out = job.result()
    assert out["gif"].is_file()
    assert "FT_Load_Glyph failed" in caplog.text and "rendering again here" in caplog.text


def test_nothing_to_render_is_an_error(replay: Replay, tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="mp4_path"):
        render_outputs(seed000_layout, replay)
    with pytest.raises(PipelineError, match="layout function or a composition"):
        render_outputs(None, replay, gif_path=tmp_path / "a.gif")


def test_rgb_image_has_the_pixels_of_the_rgb_slice() -> None:
    """GIF frames read the canvas' RGBA buffer in place: the same RGB pixels."""
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

"""``publish_replay(ex, recorder)``: the files a replay page shows, registered, in both
palettes and within budgets, drawn from the replay they claim to show."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from pipeline.library.palette import variant_name
from pipeline.library.replay import Replay, default_layout, publish_replay
from pipeline.library.runtime import Explainer
from tests.replay_synth import synthetic_replay


@pytest.fixture(scope="module")
def replay() -> Replay:
    return synthetic_replay("multiclass", n_inputs=4, hidden=(5,), epochs=6, n_probe=40)


class _Recorder:
    """What publish_replay needs from a ReplayRecorder: ``replay()``."""

    def __init__(self, replay: Replay) -> None:
        self._replay = replay

    def replay(self) -> Replay:
        return self._replay


def test_writes_and_registers_every_file_in_both_palettes(tmp_path, replay) -> None:
    ex = Explainer(asset_dir=tmp_path / "assets")
    out = publish_replay(ex, _Recorder(replay), layout_kwargs={"dpi": 30}, max_frames=4)
    assert out is not None
    names = [out.still, out.poster, out.video, f"{out.frames}/index.json", out.replay_file]
    for name in names:
        assert (ex.asset_dir / name).exists(), name
        registered = ex.outputs[name]
        if registered.kind != "replay":
            dark = registered.extra["dark"]
            assert dark == variant_name(name, "dark") and (ex.asset_dir / dark).exists()
            assert registered.alt
    assert ex.outputs[out.video].poster == out.poster
    index = json.loads((ex.asset_dir / out.frames / "index.json").read_text())
    assert len(index["epochs"]) <= 4 and index["epochs"][0] == 0 and index["epochs"][-1] == 6
    assert index["epochs"] == out.frame_epochs
    # the still is the default layout's full redraw of the last epoch, pixel for pixel
    expected = tmp_path / "expected.png"
    default_layout(replay, dpi=30).still(6, expected)
    np.testing.assert_array_equal(np.asarray(Image.open(ex.asset_dir / out.still)),
                                  np.asarray(Image.open(expected)))
    light = np.asarray(Image.open(ex.asset_dir / out.poster).convert("L"), dtype=float)
    dark = np.asarray(Image.open(ex.asset_dir / variant_name(out.poster, "dark")).convert("L"),
                      dtype=float)
    assert light.mean() > dark.mean() + 50  # the dark twin really is dark
    saved = Replay.load(ex.asset_dir / out.replay_file)
    np.testing.assert_array_equal(saved.epochs, replay.epochs)
    np.testing.assert_allclose(saved.probabilities(6), replay.probabilities(6))
    ex.finish()  # every registered file exists


def test_the_replay_file_is_thinned_to_its_budget(tmp_path, replay) -> None:
    ex = Explainer(asset_dir=tmp_path / "assets")
    full = tmp_path / "full.npz"
    replay.save(full, compress=True)
    budget_mb = full.stat().st_size * 0.6 / 1e6
    out = publish_replay(ex, replay, layout_kwargs={"dpi": 30}, max_frames=3, video=False,
                         file_budget_mb=budget_mb)
    assert out is not None and out.video is None and out.replay_file is not None
    saved = Replay.load(ex.asset_dir / out.replay_file)
    assert (ex.asset_dir / out.replay_file).stat().st_size <= budget_mb * 1e6
    assert 2 <= len(saved.epochs) < len(replay.epochs)
    assert saved.epochs[0] == 0 and saved.epochs[-1] == 6  # first and last are always kept


def test_a_diverged_run_draws_nothing(tmp_path, replay) -> None:
    ex = Explainer(asset_dir=tmp_path / "assets")
    ex.diverged(type("E", (), {"epoch": 3, "learning_rate": 1.0, "loss": float("nan")})())
    assert publish_replay(ex, replay) is None and not ex.outputs


def test_names_what_it_was_given_when_it_is_not_a_recording(tmp_path) -> None:
    from pipeline.library.errors import PipelineError

    with pytest.raises(PipelineError, match="ReplayRecorder given to model.fit"):
        publish_replay(Explainer(asset_dir=tmp_path), 42)

"""The page's replay data (pipeline.library.replay.browser_data): what it holds, and that it is true.

What the page's script computes from these files is tested against numpy by Node's test runner
(``tests/unit/site/test_replay_assets.py`` runs ``tests/js/``); here: the files themselves. The
numbers shipped as recorded decode within half a quantisation step; the numbers the page
computes are checked against the recording when written; a layer the page cannot evaluate
*before* the viewed one leaves the background; a replay over its cap is refused with what to
thin; a view the page has no drawing for is listed with why.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import need_module

keras = need_module("keras")

from pipeline.library.errors import PipelineError, ReplayDataTooLarge  # noqa: E402
from pipeline.library.explainers.seed000 import seed000_layout  # noqa: E402
from pipeline.library.replay import default_layout  # noqa: E402
from pipeline.library.replay.browser_data import (  # noqa: E402
    MAX_CODE,
    NAN_CODE,
    dequantize,
    per_sample_loss,
    quantization_step,
    quantize,
    read_replay_data,
    write_replay_data,
)
from pipeline.library.replay.panels import CurvesPanel, FeatureSpacePanel  # noqa: E402
from pipeline.library.replay.store import Replay  # noqa: E402
from tests.replay_synth import normalized_classifier, synthetic_replay  # noqa: E402

SMALL = {"figsize": (6, 3), "dpi": 40}


@pytest.fixture(scope="module")
def moons_like() -> Replay:
    """The seed-000 shape: 2 inputs, Dense(4) -> Dense(2, 'h1') -> 1 sigmoid."""
    return synthetic_replay("binary", 2, (4, 2), n_probe=80, epochs=6, record=("h1",))


def test_quantisation_round_trip_is_within_half_a_step() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(size=(7, 50)) * 3
    values[2, 5] = np.nan
    values[3, 1] = np.inf
    codes, lo, hi = quantize(values)
    assert codes.dtype == np.uint16 and codes.max() <= NAN_CODE
    back = dequantize(codes, lo, hi)
    finite = np.isfinite(values)
    assert np.isnan(back[~finite]).all() and (codes[~finite] == NAN_CODE).all()
    step = quantization_step(lo, hi)
    assert step == pytest.approx((hi - lo) / MAX_CODE)
    assert np.abs(back[finite] - values[finite]).max() <= step / 2 + 1e-12
    assert lo == values[finite].min() and hi == values[finite].max()
    same, lo2, hi2 = quantize(np.full(4, 2.5))  # a constant array decodes exactly
    np.testing.assert_array_equal(dequantize(same, lo2, hi2), np.full(4, 2.5))


def test_a_dense_chain_is_computed_by_the_page_not_shipped(moons_like: Replay,
                                                           tmp_path: Path) -> None:
    comp = seed000_layout(moons_like, layer="h1", **SMALL)
    data = write_replay_data(tmp_path / "replay.json", moons_like, comp, fps=12)
    assert data.sources == {"points:h1": "derived", "output": "derived", "loss": "derived"}
    index, arrays = read_replay_data(data.index)
    assert data.binary.name == index["bin"] == "replay.bin"
    assert data.binary_bytes == data.binary.stat().st_size == index["bytes"]
    n_epochs, n = len(moons_like.epochs), moons_like.n_probe
    assert set(arrays) == {"labels", "targets", "probe_x", *(f"w/{k}" for k in moons_like.weight_keys)}
    for key in moons_like.weight_keys:  # float32 weights: exact
        np.testing.assert_array_equal(arrays[f"w/{key}"], moons_like.weight_history(key))
    np.testing.assert_array_equal(arrays["probe_x"], moons_like.probe_x)
    np.testing.assert_array_equal(arrays["labels"], moons_like.labels)
    assert index["epochs"] == [int(e) for e in moons_like.epochs] and index["n_probe"] == n
    assert index["fps"] == 12 and index["task"]["kind"] == "binary"
    assert index["output"]["loss"]["name"] == "binary_crossentropy"
    # every array aligned for a zero-copy typed view
    assert all(entry["offset"] % 8 == 0 for entry in index["arrays"].values())
    # what the page computes, in numpy: the recording, within the writer's tolerance
    assert data.total_bytes < 20_000 + 16 * n_epochs * 30
    metrics = index["metrics"]["probe_loss"]
    np.testing.assert_allclose(metrics, moons_like.metrics["probe_loss"], rtol=1e-6)


def test_views_follow_the_composition(moons_like: Replay, tmp_path: Path) -> None:
    comp = seed000_layout(moons_like, layer="h1", **SMALL)
    index, _ = read_replay_data(write_replay_data(tmp_path / "r.json", moons_like, comp).index)
    kinds = [(p["kind"], p["slot"]) for p in index["panels"]]
    assert kinds == [("feature", [0, 0, 2, 2]), ("probability", [0, 2, 1, 1]),
                     ("probability", [1, 2, 1, 1]), ("curves", [0, 3, 1, 1]),
                     ("loss", [1, 3, 1, 1])]
    assert index["grid"] == {"rows": 2, "cols": 4, "width": 6.0, "height": 3.0}
    feature, p0, _, curves, loss = (panel for panel, _ in comp.panels)
    spec = index["panels"][0]
    assert spec["xlim"] == list(feature.xlim) and spec["ylim"] == list(feature.ylim)
    assert spec["input_grid"]["lines"] == [21, 21] and spec["background"]["kind"] == "binary"
    assert index["panels"][1]["edges"] == list(p0.edges) and index["panels"][1]["cls"] == 0
    assert index["panels"][1]["ymax"] == p0.ymax and index["panels"][1]["color"] == "#b2182b"
    assert index["panels"][3]["metrics"] == curves.metrics
    assert index["panels"][4]["edges"] == list(loss.edges) and index["panels"][4]["clip"] == "max"
    assert index["classes"]["colors"] == ["#b2182b", "#2166ac"]
    assert len(bytes.fromhex(index["colormaps"]["RdBu"])) == 256 * 3


def test_shipped_numbers_decode_within_the_quantisation_step(moons_like: Replay,
                                                             tmp_path: Path) -> None:
    comp = seed000_layout(moons_like, layer="h1", **SMALL)
    data = write_replay_data(tmp_path / "r.json", moons_like, comp, derive=False)
    assert set(data.sources.values()) == {"shipped"}
    index, arrays = read_replay_data(data.index)
    recorded = {"points/h1": moons_like.layer_outputs("h1"),
                "p1": moons_like.positive_probability(),
                "loss": moons_like.all_sample_losses}
    for name, want in recorded.items():
        lo, hi = index["arrays"][name]["range"]
        assert index["arrays"][name]["dtype"] == "uint16"
        assert np.abs(arrays[name] - want).max() <= quantization_step(lo, hi) / 2 + 1e-7, name
    assert "probe_x" not in arrays  # nothing is computed from the inputs
    assert any("as recorded" in note for note in data.notes)


def test_the_numpy_loss_is_keras_loss() -> None:
    """The formula the page uses (browser_data.per_sample_loss, ported to nnx-replay-core.js)."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=(40, 3)).astype(np.float32) * 4
    y_int = rng.integers(0, 3, size=40)
    y_hot = np.eye(3, dtype=np.float32)[y_int]
    soft = keras.ops.convert_to_numpy(keras.ops.softmax(z))
    z1 = z[:, :1]
    p1 = 1 / (1 + np.exp(-z1))
    y1 = (rng.random(40) > 0.5).astype(np.float32)[:, None]
    cases = [
        ("binary_crossentropy", "logits", z1, y1,
         keras.losses.BinaryCrossentropy(from_logits=True, reduction=None)(y1, z1)),
        ("binary_crossentropy", "output", p1, y1,
         keras.losses.binary_crossentropy(y1, keras.ops.convert_to_tensor(p1))),
        ("sparse_categorical_crossentropy", "logits", z, y_int,
         keras.losses.sparse_categorical_crossentropy(y_int, z, from_logits=True)),
        ("sparse_categorical_crossentropy", "output", soft, y_int,
         keras.losses.sparse_categorical_crossentropy(y_int, soft)),
        ("categorical_crossentropy", "logits", z, y_hot,
         keras.losses.categorical_crossentropy(y_hot, z, from_logits=True)),
        ("categorical_crossentropy", "output", soft, y_hot,
         keras.losses.categorical_crossentropy(y_hot, soft)),
        ("mse", "output", z, y_hot, keras.losses.mean_squared_error(y_hot, z)),
        ("mae", "output", z, y_hot, keras.losses.mean_absolute_error(y_hot, z)),
    ]
    for name, mode, out, y, want in cases:
        got = per_sample_loss(name, mode, out, y)
        np.testing.assert_allclose(got, keras.ops.convert_to_numpy(want), rtol=2e-5, atol=2e-6,
                                   err_msg=f"{name} ({mode})")
    with pytest.raises(PipelineError, match="no per-sample loss"):
        per_sample_loss("huber", "output", z, y_hot)


def test_a_normalization_before_the_viewed_layer_keeps_grid_and_background(tmp_path: Path) -> None:
    model = normalized_classifier()
    replay = synthetic_replay("binary", 2, n_probe=50, epochs=3, record=("h1",), model=model)
    comp = default_layout(replay, **SMALL)
    assert isinstance(comp.panels[0][0], FeatureSpacePanel)
    data = write_replay_data(tmp_path / "r.json", replay, comp)
    index, _ = read_replay_data(data.index)
    spec = index["panels"][0]
    assert "background" in spec and "input_grid" in spec and spec["notes"] == []
    assert data.sources["points:h1"] == "derived"
    bn = next(layer for layer in index["model"] if layer["name"] == "bn")
    assert set(bn["weights"]) == {"gamma", "beta", "moving_mean", "moving_variance"}


def _unknown_layer_before(replay: Replay, layer: str, kind: str) -> Replay:
    """The same recording, its model config saying ``layer`` is a ``kind`` (no numpy maths)."""
    config = replay.model_config
    for spec in config["config"]["layers"]:
        if spec.get("config", {}).get("name") == layer:
            spec["class_name"] = kind
    meta = dict(replay.meta, model_config=json.dumps(config))
    return Replay(replay.arrays(), meta)


def test_a_layer_the_page_cannot_compute_before_the_view_leaves_the_background(
        moons_like: Replay, tmp_path: Path) -> None:
    replay = _unknown_layer_before(moons_like, "h0", "LocallyConnected1D")
    comp = seed000_layout(replay, layer="h1", **SMALL)
    data = write_replay_data(tmp_path / "r.json", replay, comp)
    index, arrays = read_replay_data(data.index)
    spec = index["panels"][0]
    assert spec["background"]["kind"] == "binary"  # the layers after h1 are enough
    assert "input_grid" not in spec
    assert any("No bent input grid" in n and "LocallyConnected1D" in n for n in spec["notes"])
    assert data.sources == {"points:h1": "shipped", "output": "shipped", "loss": "shipped"}
    lo, hi = index["arrays"]["points/h1"]["range"]
    assert np.abs(arrays["points/h1"] - replay.layer_outputs("h1")).max() \
        <= quantization_step(lo, hi) / 2 + 1e-7
    output_layer = next(layer for layer in index["model"] if layer["name"] == "output")
    assert set(output_layer["weights"]) == {"kernel", "bias"}  # shipped for the background
    h0 = next(layer for layer in index["model"] if layer["name"] == "h0")
    assert "weights" not in h0 and "LocallyConnected1D" in h0["unsupported"]


def test_a_replay_without_weights_is_drawn_from_its_recording(moons_like: Replay,
                                                              tmp_path: Path) -> None:
    arrays = {k: v for k, v in moons_like.arrays().items() if not k.startswith("weight/")}
    replay = Replay(arrays, dict(moons_like.meta, weight_keys=[]))
    comp = seed000_layout(replay, layer="h1", **SMALL)  # points only, says the panel
    data = write_replay_data(tmp_path / "r.json", replay, comp)
    index, arrays = read_replay_data(data.index)
    spec = index["panels"][0]
    assert "background" not in spec and "input_grid" not in spec
    assert any("No bent input grid" in n for n in spec["notes"])
    assert any("No background" in n and "weights" in n for n in spec["notes"])
    assert set(data.sources.values()) == {"shipped"}
    assert not [k for k in arrays if k.startswith("w/")]


def test_a_loss_the_page_cannot_reproduce_is_shipped(moons_like: Replay, tmp_path: Path) -> None:
    arrays = moons_like.arrays()
    arrays["sample_loss"] = arrays["sample_loss"] * 1.01  # say, label smoothing
    replay = Replay(arrays, dict(moons_like.meta))
    data = write_replay_data(tmp_path / "r.json", replay, seed000_layout(replay, layer="h1",
                                                                        **SMALL))
    assert data.sources["loss"] == "shipped" and data.sources["output"] == "derived"
    assert any("losses are shown as recorded" in n and "differs" in n for n in data.notes)


def test_over_the_cap_says_what_to_thin(moons_like: Replay, tmp_path: Path) -> None:
    comp = seed000_layout(moons_like, layer="h1", **SMALL)
    with pytest.raises(ReplayDataTooLarge) as err:
        write_replay_data(tmp_path / "r.json", moons_like, comp, derive=False, max_bytes=5_000)
    message = str(err.value)
    for words in ("over its cap of 0.01 MB", "points/h1", "fewer points", "80 probe points",
                  "fewer epochs", "7 epochs", "fewer layers"):
        assert words in message, words
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.bin").exists()


def test_a_view_without_a_drawing_in_the_page_says_why(moons_like: Replay, tmp_path: Path) -> None:
    class Sparkline:  # an author's own panel
        def setup(self, ax, replay):
            ax.plot([0, 1], [0, 1])

        def update(self, epoch):
            return []

    panels = [(Sparkline(), (0, 0)), (CurvesPanel(), (0, 1))]
    index, _ = read_replay_data(write_replay_data(tmp_path / "r.json", moons_like, panels).index)
    first = index["panels"][0]
    assert first["kind"] == "unsupported" and "drawn only in the video" in first["why"]
    assert index["panels"][1]["kind"] == "curves"
    assert index["grid"]["rows"] == 1 and index["grid"]["cols"] == 2


def test_bad_arguments_are_named(moons_like: Replay, tmp_path: Path) -> None:
    comp = seed000_layout(moons_like, layer="h1", **SMALL)
    with pytest.raises(PipelineError, match="ending in .json"):
        write_replay_data(tmp_path / "r.bin", moons_like, comp)
    other = synthetic_replay("binary", 2, (4, 2), n_probe=10, epochs=1, record=("h1",))
    with pytest.raises(PipelineError, match="another replay"):
        write_replay_data(tmp_path / "r.json", other, comp)
    (tmp_path / "x.json").write_text('{"format": "other"}')
    with pytest.raises(PipelineError, match="not a replay data index"):
        read_replay_data(tmp_path / "x.json")

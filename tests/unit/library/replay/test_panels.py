"""Panels and composer: the pictures agree with the model, and blitting changes no pixel.

Every numerical check compares what a panel draws with what Keras computes for the replayed
weights of that epoch: feature-space coordinates with the hidden layer's outputs, the decision
boundary's grid with ``model.predict``, histograms with the predictions they count.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import need_module

keras = need_module("keras")

from matplotlib.figure import Figure  # noqa: E402

from pipeline.library.errors import PipelineError  # noqa: E402
from pipeline.library.explainers.seed000 import seed000_layout  # noqa: E402
from pipeline.library.replay.composer import Composition, select_epochs  # noqa: E402
from pipeline.library.replay.forward import NumpyForward, UnsupportedModel  # noqa: E402
from pipeline.library.replay.panels import (  # noqa: E402
    CurvesPanel,
    DecisionBoundaryPanel,
    FeatureSpacePanel,
    LossHistogramPanel,
    PanelError,
    ProbabilityHistogramPanel,
    WeightDistributionPanel,
    weight_ridgeline,
)
from pipeline.library.replay.parallel_render import render_outputs  # noqa: E402
from pipeline.library.replay.recorder import ReplayRecorder  # noqa: E402
from pipeline.library.replay.store import Replay  # noqa: E402
from pipeline.library.training import fit_fast  # noqa: E402


def seed000_model() -> keras.Model:
    glorot = keras.initializers.GlorotNormal(seed=0)
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(4, activation="tanh", kernel_initializer=glorot, name="dense"),
        keras.layers.Dense(2, activation="tanh", kernel_initializer=glorot, name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output",
                           kernel_initializer=keras.initializers.RandomNormal(seed=0)),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def seed002_model() -> keras.Model:
    """Seed 002 part 3: Dense(20, relu) -> Dense(1, sigmoid), SGD lr 0.5."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((2,)), keras.layers.Dense(20, activation="relu", name="dense"),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def moons_replay(tmp_path_factory) -> Replay:
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=400, random_state=27, noise=0.03)
    model = seed000_model()
    path = tmp_path_factory.mktemp("moons") / "moons.npz"
    fit_fast(model, x, y, epochs=6, batch_size=16,
             callbacks=[ReplayRecorder(x, y, path=path)])
    return Replay.load(path)


@pytest.fixture(scope="module")
def boundary_replay(tmp_path_factory) -> Replay:
    from sklearn.datasets import make_moons

    x, y = make_moons(500, noise=0.1, random_state=0)
    model = seed002_model()
    path = tmp_path_factory.mktemp("boundary") / "boundary.npz"
    fit_fast(model, x, y, epochs=5, batch_size=32,
             callbacks=[ReplayRecorder(x, y, path=path)])
    return Replay.load(path)


def _model_at(build, replay: Replay, epoch: int) -> keras.Model:
    model = build()
    model.set_weights(list(replay.weights(epoch).values()))
    return model


def _weights_dict(model: keras.Model) -> dict[str, np.ndarray]:
    return {f"{ly.name}/{v.name}": v.numpy() for ly in model.layers for v in ly.weights}


# ------------------------------------------------------------------ numpy forward pass
def test_numpy_forward_equals_keras_for_supported_activations() -> None:
    keras.utils.set_random_seed(1)
    acts = ["tanh", "sigmoid", "relu", "linear", "elu", "selu", "softplus", "softmax"]
    inputs = keras.Input((3,))
    h = inputs
    for i, act in enumerate(acts):
        h = keras.layers.Dense(5, activation=act, name=f"d{i}")(h)
    h = keras.layers.Dropout(0.5, name="drop")(h)
    h = keras.layers.Activation("tanh", name="act")(h)
    h = keras.layers.LeakyReLU(negative_slope=0.2, name="leaky")(h)
    out = keras.layers.Dense(2, activation="softmax", name="out")(h)
    functional = keras.Model(inputs, out)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32") * 3
    names = [ly.name for ly in functional.layers[1:]]
    probe = keras.Model(inputs, [functional.get_layer(n).output for n in names])
    want = dict(zip(names, probe.predict(x, verbose=0), strict=True))
    fwd = NumpyForward(json.loads(functional.to_json()))
    got = fwd.outputs(_weights_dict(functional), x)
    assert list(got) == names
    for name in names:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5, err_msg=name)
    # start_after / stop_at evaluate a slice of the chain
    np.testing.assert_allclose(
        fwd(_weights_dict(functional), want["d3"], start_after="d3", stop_at="d5"),
        want["d5"], rtol=1e-5, atol=1e-5,
    )


def test_numpy_forward_rejects_what_it_cannot_compute() -> None:
    conv = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="conv"),
                             keras.layers.Flatten(name="flat"), keras.layers.Dense(2, name="d")])
    fwd = NumpyForward(json.loads(conv.to_json()))  # known layers after the conv stay usable
    assert "'conv' is a Conv2D" in (fwd.unsupported() or "")
    assert fwd.unsupported(start_after="conv") is None
    with pytest.raises(UnsupportedModel, match="'conv' is a Conv2D.*ReplayRecorder"):
        fwd(_weights_dict(conv), np.zeros((1, 8, 8, 1), np.float32))
    flat = np.ones((3, 72), np.float32)
    np.testing.assert_allclose(fwd(_weights_dict(conv), flat, start_after="flat"),
                               flat @ conv.get_layer("d").kernel.numpy()
                               + conv.get_layer("d").bias.numpy(), rtol=1e-6)
    gelu = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="gelu")])
    gelu_fwd = NumpyForward(json.loads(gelu.to_json()))
    with pytest.raises(UnsupportedModel, match="activation 'gelu'"):
        gelu_fwd(_weights_dict(gelu), np.zeros((1, 2), np.float32))
    a = keras.Input((2,))
    b = keras.layers.Dense(2, name="b")(a)
    c = keras.layers.Add(name="c")([a, b])
    with pytest.raises(UnsupportedModel, match="single chains"):
        NumpyForward(json.loads(keras.Model(a, c).to_json()))
    assert isinstance(UnsupportedModel("x"), PipelineError)


def test_numpy_forward_computes_batch_normalization_like_keras() -> None:
    from tests.replay_synth import normalized_classifier

    model = normalized_classifier(3, 6, seed=3, names=("d0", "bn", "drop", "hidden", "out"))
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    model.fit(x, (x[:, 0] > 0).astype("float32"), epochs=2, verbose=0)  # moving statistics move
    fwd = NumpyForward(json.loads(model.to_json()))
    np.testing.assert_allclose(fwd(_weights_dict(model), x), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ panels vs the model
@pytest.mark.parametrize("epoch", [0, 3, 6])
def test_feature_space_equals_hidden_layer_outputs(moons_replay: Replay, epoch: int) -> None:
    panel = FeatureSpacePanel("hidden", ((-1, 2), (-0.5, 1)))
    fig = Figure()
    panel.setup(fig.add_subplot(), moons_replay)
    panel.update(epoch)
    model = _model_at(seed000_model, moons_replay, epoch)
    hidden = keras.Model(model.inputs, model.get_layer("hidden").output)
    np.testing.assert_allclose(
        panel.feature_coordinates(epoch), hidden.predict(moons_replay.probe_x, verbose=0),
        atol=1e-5,
    )
    grid = panel.input_grid()
    np.testing.assert_allclose(
        panel.grid_coordinates(epoch),
        hidden.predict(grid.reshape(-1, 2), verbose=0).reshape(grid.shape), atol=1e-5,
    )
    # the drawn artists hold exactly those coordinates
    line_artists = [a for a in panel.update(epoch) if hasattr(a, "get_xydata")]
    drawn = np.concatenate([a.get_xydata() for a in line_artists])
    assert len(drawn) == moons_replay.n_probe


@pytest.mark.parametrize("epoch", [1, 5])
def test_decision_boundary_agrees_with_predict(boundary_replay: Replay, epoch: int) -> None:
    panel = DecisionBoundaryPanel(resolution=120)
    fig = Figure()
    panel.setup(fig.add_subplot(), boundary_replay)
    panel.update(epoch)
    model = _model_at(seed002_model, boundary_replay, epoch)
    want = model.predict(panel.grid_points, verbose=0, batch_size=4096)[:, 0]
    got = panel.probability_grid(epoch).ravel()
    assert np.mean((got > 0.5) == (want > 0.5)) >= 0.99
    np.testing.assert_allclose(got, want, atol=1e-5)
    segments = panel.boundary_segments(epoch)
    assert segments, "the 0.5 contour exists"
    on_line = np.concatenate(segments)
    p_line = model.predict(on_line.astype("float32"), verbose=0)[:, 0]
    assert np.all(np.abs(p_line - 0.5) < 0.05)  # points on the drawn line are at P = 0.5


def test_the_boundary_moves_over_epochs(boundary_replay: Replay) -> None:
    panel = DecisionBoundaryPanel(resolution=60)
    panel.setup(Figure().add_subplot(), boundary_replay)
    first = panel.probability_grid(0) > 0.5
    last = panel.probability_grid(5) > 0.5
    assert np.mean(first != last) > 0.02


def test_histograms_count_the_predictions(moons_replay: Replay) -> None:
    fig = Figure()
    neg, pos, loss = ProbabilityHistogramPanel(0), ProbabilityHistogramPanel(1), LossHistogramPanel()
    for p in (neg, pos, loss):
        p.setup(fig.add_subplot(), moons_replay)
    model = _model_at(seed000_model, moons_replay, 4)
    prob = model.predict(moons_replay.probe_x, verbose=0)[:, 0]
    labels = moons_replay.labels
    for panel, cls in ((neg, 0), (pos, 1)):
        want, _ = np.histogram(prob[labels == cls], bins=panel.edges)
        np.testing.assert_array_equal(panel.histogram(4), want)
    assert loss.histogram(4).sum() == moons_replay.n_probe
    assert loss.edges[-1] >= moons_replay.all_sample_losses.max()


def test_fixed_axis_ranges_cover_all_epochs(moons_replay: Replay) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    panel = FeatureSpacePanel()
    panel.setup(ax, moons_replay)
    limits = (ax.get_xlim(), ax.get_ylim())
    for e in moons_replay.epochs:
        panel.update(int(e))
        assert (ax.get_xlim(), ax.get_ylim()) == limits
        pts = panel.feature_coordinates(int(e))
        assert limits[0][0] <= pts[:, 0].min() and pts[:, 0].max() <= limits[0][1]
        assert limits[1][0] <= pts[:, 1].min() and pts[:, 1].max() <= limits[1][1]


def test_curves_draw_up_to_the_current_epoch(moons_replay: Replay) -> None:
    panel = CurvesPanel(("probe_loss", "loss"))
    panel.setup(Figure().add_subplot(), moons_replay)
    artists = panel.update(3)
    xs, ys = artists[0].get_data()
    np.testing.assert_array_equal(xs, [0, 1, 2, 3])
    np.testing.assert_allclose(ys, moons_replay.metrics["probe_loss"][:4])
    with pytest.raises(PanelError, match="available"):
        CurvesPanel(("nope",)).setup(Figure().add_subplot(), moons_replay)


def test_panel_errors_are_clear(moons_replay: Replay) -> None:
    with pytest.raises(PanelError, match="2-unit layer"):
        FeatureSpacePanel("dense").setup(Figure().add_subplot(), moons_replay)
    with pytest.raises(PanelError, match="no layer 'nope'"):
        FeatureSpacePanel("nope").setup(Figure().add_subplot(), moons_replay)
    with pytest.raises(PanelError, match="before setup"):
        FeatureSpacePanel().update(0)
    with pytest.raises(PipelineError, match="not in the replay"):
        select_epochs(moons_replay.epochs, [0, 99])


# ------------------------------------------------------------------ composer and blitting
def _compare(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    diff = np.abs(a.astype(int) - b.astype(int))
    assert diff.max() <= 2 and np.mean(diff > 0) < 1e-3, (diff.max(), np.mean(diff > 0))


def test_blitted_frames_equal_full_redraws(moons_replay: Replay) -> None:
    comp = seed000_layout(moons_replay)
    blitted = dict(comp.iter_frames([0, 2, 6, 3]))  # moving back and forth
    for epoch in (0, 6, 3):
        fresh = seed000_layout(moons_replay).render(epoch)  # new figure, full redraw
        _compare(blitted[epoch], fresh)
    assert blitted[0].shape == (600, 1200, 3)


def test_blitting_any_composition(boundary_replay: Replay) -> None:
    def build() -> Composition:
        return Composition(boundary_replay, [
            (DecisionBoundaryPanel(resolution=80), (0, 0, 2, 1)),
            (CurvesPanel(("loss", "accuracy"), show_future=True), (0, 1)),
            (WeightDistributionPanel("dense", variable="kernel"), (1, 1)),
            (LossHistogramPanel(), (0, 2)),
            (ProbabilityHistogramPanel(1), (1, 2)),
        ], figsize=(9, 5), dpi=80, epoch_label="after {epoch} epochs")

    comp = build()
    frames = dict(comp.iter_frames())
    for epoch in (1, 4):
        _compare(frames[epoch], build().render(epoch))


def test_animate_writes_h264_mp4_and_gif(moons_replay: Replay, tmp_path: Path) -> None:
    import imageio_ffmpeg
    from PIL import Image

    comp = seed000_layout(moons_replay)
    out = render_outputs(seed000_layout, moons_replay, composition=comp, workers=1,
                         mp4_path=tmp_path / "replay.mp4", gif_path=tmp_path / "replay.gif",
                         fps=10, gif_max_frames=4)
    data = (tmp_path / "replay.mp4").read_bytes()
    assert data[4:8] == b"ftyp" and data.find(b"moov") < data.find(b"mdat")  # +faststart
    reader = imageio_ffmpeg.read_frames(str(tmp_path / "replay.mp4"))
    meta = next(reader)
    n_frames = sum(1 for _ in reader)
    assert meta["codec"].startswith("h264") and tuple(meta["size"]) == (1200, 600)
    assert "yuv420p" in meta["pix_fmt"] and n_frames == len(moons_replay.epochs)
    with Image.open(tmp_path / "replay.gif") as gif:
        assert gif.size == (600, 300) and gif.n_frames == 4
    assert out["epochs"] == [int(e) for e in moons_replay.epochs]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replay.gif", "replay.mp4"]


def test_failed_animation_leaves_nothing(moons_replay: Replay, tmp_path: Path) -> None:
    comp = seed000_layout(moons_replay)
    panel = comp.panels[0][0]
    calls = {"n": 0}
    real_update = panel.update

    def failing_update(epoch: int):
        calls["n"] += 1
        if calls["n"] > 4:
            raise RuntimeError("renderer crashed")
        return real_update(epoch)

    panel.update = failing_update
    with pytest.raises(RuntimeError, match="renderer crashed"):
        render_outputs(None, moons_replay, composition=comp, mp4_path=tmp_path / "replay.mp4",
                       gif_path=tmp_path / "replay.gif")
    assert list(tmp_path.iterdir()) == []


def test_still_poster_and_ridgeline(moons_replay: Replay, tmp_path: Path) -> None:
    from PIL import Image

    comp = seed000_layout(moons_replay)
    comp.still(4, tmp_path / "epoch4.png")
    comp.poster(tmp_path / "poster.png")
    for name in ("epoch4.png", "poster.png"):
        with Image.open(tmp_path / name) as img:
            assert img.size == (1200, 600)
    fig = weight_ridgeline(moons_replay, ["dense", "hidden", "output"])
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    fig.savefig(tmp_path / "ridge.png")
    assert (tmp_path / "ridge.png").stat().st_size > 1000


def test_seed000_layout_old_import_path_warns_and_gives_the_same_function() -> None:
    """``seed000_layout`` moved to the explainers sub-package; the replay name stays one
    release with a DeprecationWarning that says where it went."""
    with pytest.warns(DeprecationWarning, match="pipeline.library.explainers.seed000"):
        from pipeline.library.replay import seed000_layout as old
    assert old is seed000_layout
    import pipeline.library.replay as replay_package

    assert "seed000_layout" not in replay_package.__all__


# ------------------------------------------------------------------ the public Panel base class
def test_a_panel_of_your_own_subclasses_panel_and_composes() -> None:
    """An author's panel: public hooks (prepare once per replay, draw on every setup, update
    per epoch) and the palette's neutral colours; drawn in a Composition like any other."""
    from pipeline.library import Panel, neutral
    from pipeline.library.replay import Composition
    from tests.replay_synth import synthetic_replay

    class MeanLossPanel(Panel):
        prepared = 0

        def prepare(self, replay):
            type(self).prepared += 1
            self.means = replay.all_sample_losses.mean(axis=1)

        def draw(self, ax):
            ax.set_xlim(0, len(self.means) - 1)
            ax.set_ylim(0, float(self.means.max()) * 1.1)
            self.line, = ax.plot([], [], color=neutral("ink"))

        def update(self, epoch):
            i = self.require_setup().index(epoch)
            self.line.set_data(range(i + 1), self.means[: i + 1])
            return [self.line]

    replay = synthetic_replay("binary", n_inputs=2, hidden=(2,), epochs=4)
    panel = MeanLossPanel(title="mean loss")
    comp = Composition(replay, [(panel, (0, 0))], figsize=(3, 2), dpi=40)
    comp.render(2)
    np.testing.assert_allclose(panel.line.get_ydata(), replay.all_sample_losses.mean(axis=1)[:3])
    panel.setup(panel.ax, replay)  # a redraw does not prepare the same replay again
    assert MeanLossPanel.prepared == 1


def test_the_old_base_class_name_still_works_with_a_warning() -> None:
    from pipeline.library.replay.panels import Panel, base

    with pytest.warns(DeprecationWarning, match="pipeline.library.replay.Panel"):
        old = base._BasePanel
    assert old is Panel

"""Task-aware replay views: every panel x task (binary, multiclass, regression), any input width.

Fast: the replays are synthetic (:mod:`tests.replay_synth`: random-walk weights, everything else
computed from them), so no training and no recipe runs. Each numerical check compares what a
panel draws with what Keras computes for the same weights; each panel that cannot draw a
replay must say so with a ``PanelError`` naming the panel, what it needs and what it got,
never with a numpy error.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.conftest import need_module

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = need_module("keras")

from matplotlib.figure import Figure  # noqa: E402

from pipeline.library.replay import default_layout, default_panels, infer_task  # noqa: E402
from pipeline.library.replay.composer import Composition  # noqa: E402
from pipeline.library.replay.panels import (  # noqa: E402
    CurvesPanel,
    DecisionBoundaryPanel,
    FeatureSpacePanel,
    LossHistogramPanel,
    PanelError,
    PredictionPanel,
    ProbabilityHistogramPanel,
    ProjectionPanel,
    ResidualHistogramPanel,
    WeightDistributionPanel,
)
from pipeline.library.replay.store import Replay  # noqa: E402
from pipeline.library.replay.task import TaskError, TaskKind  # noqa: E402
from tests.replay_synth import keras_model_at, synthetic_replay  # noqa: E402

KINDS = ("binary", "multiclass", "regression")


@pytest.fixture(scope="module")
def replays() -> dict[tuple[str, int], Replay]:
    """Each task with 2 and with 5 input features; hidden layers of 6 and 2 units."""
    return {(kind, n): synthetic_replay(kind, n, (6, 2), seed=n)
            for kind in KINDS for n in (2, 5)}


def _setup(panel, replay: Replay):
    panel.setup(Figure().add_subplot(), replay)
    return panel


def _sub_model(model, layer: str):
    return keras.Model(model.inputs, model.get_layer(layer).output)


# ----------------------------------------------------------------------------------- task
def test_infer_task_from_the_recorded_loss(replays) -> None:
    for (kind, n), replay in replays.items():
        task = infer_task(replay)
        assert task.kind is TaskKind(kind)
        assert task.n_inputs == n
        assert task.n_classes == {"binary": 2, "multiclass": 3, "regression": None}[kind]


def test_infer_task_for_other_spellings_and_fallbacks(replays) -> None:
    base = replays[("multiclass", 2)]
    for loss, kind in (("CategoricalCrossentropy", TaskKind.MULTICLASS),
                       ("mean_squared_error", TaskKind.REGRESSION),
                       ("my_custom_loss", TaskKind.MULTICLASS)):  # falls back on the softmax
        r = Replay(base.arrays(), {**base.meta, "loss": loss})
        assert infer_task(r).kind is kind
    two_way = Replay({**base.arrays(), "probabilities": base.all_probabilities[..., :2]},
                     {**base.meta})
    assert infer_task(two_way).kind is TaskKind.BINARY
    unknown = Replay(base.arrays(), {**base.meta, "loss": "my_loss", "model_config": None})
    with pytest.raises(TaskError, match="my_loss"):
        infer_task(unknown)


# ------------------------------------------------------------- panel x task: errors, not numpy
def _all_panels() -> list:
    return [
        FeatureSpacePanel("h1"), FeatureSpacePanel("h1", boundary=False),
        ProjectionPanel("h0"), ProjectionPanel("h1"), DecisionBoundaryPanel(resolution=40),
        ProbabilityHistogramPanel(0), ProbabilityHistogramPanel(1), ProbabilityHistogramPanel(2),
        ProbabilityHistogramPanel(None), PredictionPanel(), ResidualHistogramPanel(),
        CurvesPanel(), CurvesPanel(("probe_loss",)), LossHistogramPanel(),
        WeightDistributionPanel("h0"),
    ]


def _expected_failure(panel, kind: str, n: int) -> str | None:
    """The PanelError fragment a combination must raise, or None when it must draw."""
    name = type(panel).__name__
    classifier = kind != "regression"
    if name == "DecisionBoundaryPanel":
        return "needs a model with 2 input features" if n != 2 else (
            None if classifier else "needs a classifier")
    if name == "ProbabilityHistogramPanel":
        if not classifier:
            return "needs a classifier"
        return "needs a class number below 2" if (kind == "binary" and panel.cls == 2) else None
    if name in {"PredictionPanel", "ResidualHistogramPanel"}:
        return None if not classifier else "needs a regression model"
    return None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_inputs", [2, 5])
def test_every_panel_draws_or_says_why(replays, kind: str, n_inputs: int) -> None:
    replay = replays[(kind, n_inputs)]
    for panel in _all_panels():
        want = _expected_failure(panel, kind, n_inputs)
        if want is None:
            _setup(panel, replay)
            for epoch in replay.epochs:
                assert panel.update(int(epoch)), type(panel).__name__
        else:
            with pytest.raises(PanelError) as info:
                _setup(panel, replay)
            message = str(info.value)
            assert want in message, message
            assert type(panel).__name__ in message, message  # names the panel
            assert "this replay has" in message, message  # ... and what it got


def test_panel_errors_name_what_is_missing(replays) -> None:
    multi5 = replays[("multiclass", 5)]
    with pytest.raises(PanelError, match=r"FeatureSpacePanel\(layer='h0'\) needs a 2-unit layer;"
                                         r" this replay has 6 units .*ProjectionPanel"):
        _setup(FeatureSpacePanel("h0"), multi5)
    with pytest.raises(PanelError, match="grid=True needs a model with 2 input features .*; this "
                                         "replay has 5 input features"):
        _setup(FeatureSpacePanel("h1", grid=True), multi5)
    with pytest.raises(PanelError, match="boundary=True needs a classifier; this replay has a "
                                         "regression model"):
        _setup(FeatureSpacePanel("h1", boundary=True), replays[("regression", 2)])
    with pytest.raises(PanelError, match="ProjectionPanel\\(layer='nope'\\) needs a layer named "
                                         "'nope'; this replay has no layer 'nope'"):
        _setup(ProjectionPanel("nope"), multi5)
    with pytest.raises(PanelError, match="needs a class number below 3; this replay has a "
                                         "3-class classifier, 5 input features"):
        _setup(ProbabilityHistogramPanel(3), multi5)
    with pytest.raises(PanelError, match="cls must be a class number"):
        ProbabilityHistogramPanel(-1)
    with pytest.raises(PanelError, match="WeightDistributionPanel\\(layer='nope'\\)"):
        _setup(WeightDistributionPanel("nope"), multi5)
    with pytest.raises(PanelError, match="metrics \\['probe_accuracy'\\] are not in the replay"):
        _setup(CurvesPanel(("probe_loss", "probe_accuracy")), replays[("regression", 5)])


# ------------------------------------------------------------------- pictures = the model
@pytest.mark.parametrize("kind", KINDS)
def test_feature_space_for_any_input_width(replays, kind: str) -> None:
    replay = replays[(kind, 5)]
    panel = _setup(FeatureSpacePanel("h1"), replay)
    assert panel._lines is None  # no input grid: the input is not a plane
    with pytest.raises(PanelError, match="2 input features"):
        panel.grid_coordinates(2)
    for epoch in (0, 4):
        model = keras_model_at(replay, epoch)
        want = _sub_model(model, "h1").predict(replay.probe_x, verbose=0)
        np.testing.assert_allclose(panel.feature_coordinates(epoch), want, atol=1e-5)
    assert (panel._image is not None) == (kind != "regression")


def test_feature_space_background_for_multiclass(replays) -> None:
    replay = replays[("multiclass", 5)]
    panel = _setup(FeatureSpacePanel("h1"), replay)
    model = keras_model_at(replay, 3)
    tail = keras.Sequential([keras.Input((2,)), model.get_layer("output")])
    want = tail.predict(panel._fs_grid, verbose=0)
    np.testing.assert_allclose(panel._tail_output(3), want, atol=1e-5)
    image = panel._tail_image(3)
    assert image.shape == (panel.boundary_resolution, panel.boundary_resolution, 3)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layer", ["h0", "h1"])
def test_projection_is_the_stated_pca_of_the_layer(replays, kind: str, layer: str) -> None:
    from sklearn.decomposition import PCA

    replay = replays[(kind, 5)]
    panel = _setup(ProjectionPanel(layer), replay)
    proj = panel.projection
    last = int(replay.epochs[-1])
    assert proj.fitted_epoch == last
    fitted = PCA(n_components=2, svd_solver="full").fit(
        _sub_model(keras_model_at(replay, last), layer).predict(replay.probe_x, verbose=0))
    np.testing.assert_allclose(np.abs(proj.components), np.abs(fitted.components_), atol=1e-4)
    for epoch in (0, 2, last):
        h = _sub_model(keras_model_at(replay, epoch), layer).predict(replay.probe_x, verbose=0)
        want = (h - proj.mean) @ proj.components.T  # the stated, fixed map
        np.testing.assert_allclose(panel.projected(epoch), want, atol=1e-4)
    ax = panel.ax
    assert ax.get_xlabel().startswith(f"PC1 of layer {layer!r} (fitted at epoch {last}")
    assert ax.get_ylabel().startswith(f"PC2 of layer {layer!r} (fitted at epoch {last}")
    assert "projected" in ax.get_title()
    again = _setup(ProjectionPanel(layer, fit_epoch=1), replay)
    assert again.projection.fitted_epoch == 1
    assert "fitted at epoch 1" in again.ax.get_xlabel()


def test_multiclass_decision_boundary_agrees_with_predict(replays) -> None:
    replay = replays[("multiclass", 2)]
    panel = _setup(DecisionBoundaryPanel(resolution=50), replay)
    for epoch in (0, 4):
        model = keras_model_at(replay, epoch)
        prob = model.predict(panel.grid_points, verbose=0)
        grid = panel.probability_grid(epoch)
        assert grid.shape == (50, 50, 3)
        np.testing.assert_allclose(grid.reshape(-1, 3), prob, atol=1e-5)
        assert (panel.predicted_class_grid(epoch).ravel() == prob.argmax(axis=1)).all()
        segments = panel.boundary_segments(epoch)
        assert segments, "a 3-class model has boundaries in the plane"
        pts = np.concatenate(segments)
        at = np.sort(model.predict(pts.astype("float32"), verbose=0), axis=1)
        # On a boundary the two most likely classes tie (up to the grid's interpolation).
        assert np.median(at[:, -1] - at[:, -2]) < 0.02


def test_binary_decision_boundary_is_unchanged(replays) -> None:
    replay = replays[("binary", 2)]
    panel = _setup(DecisionBoundaryPanel(resolution=40), replay)
    prob = keras_model_at(replay, 2).predict(panel.grid_points, verbose=0)[:, 0]
    np.testing.assert_allclose(panel.probability_grid(2).ravel(), prob, atol=1e-5)
    assert panel.probability_grid(2).shape == (40, 40)


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_true_class_histogram_counts_the_predictions(replays, kind: str) -> None:
    replay = replays[(kind, 5)]
    panel = _setup(ProbabilityHistogramPanel(None, bins=10), replay)
    y = replay.labels
    for epoch in (0, 3):
        prob = keras_model_at(replay, epoch).predict(replay.probe_x, verbose=0)
        if kind == "binary":
            p_true = np.where(y == 1, prob[:, 0], 1 - prob[:, 0])
        else:
            p_true = prob[np.arange(len(y)), y]
        per_class = panel.class_histograms(epoch)
        for row, c in zip(per_class, panel.classes, strict=True):
            want = np.histogram(p_true[y == c], bins=np.linspace(0, 1, 11))[0]
            np.testing.assert_allclose(row, want)
        assert panel.histogram(epoch).sum() == replay.n_probe


def test_per_class_histogram_for_multiclass(replays) -> None:
    replay = replays[("multiclass", 2)]
    panel = _setup(ProbabilityHistogramPanel(2, bins=10), replay)
    prob = keras_model_at(replay, 4).predict(replay.probe_x, verbose=0)
    want = np.histogram(prob[replay.labels == 2, 2], bins=np.linspace(0, 1, 11))[0]
    np.testing.assert_allclose(panel.histogram(4), want)
    assert panel.ax.get_xlabel() == "predicted P(class 2)"


def test_regression_views_are_the_model(replays) -> None:
    replay = replays[("regression", 5)]
    pred_panel = _setup(PredictionPanel(), replay)
    resid = _setup(ResidualHistogramPanel(bins=12), replay)
    y = np.asarray(replay.probe_y, dtype=np.float64)
    for epoch in (0, 4):
        pred = keras_model_at(replay, epoch).predict(replay.probe_x, verbose=0)[:, 0]
        np.testing.assert_allclose(pred_panel.predictions(epoch), pred, atol=1e-5)
        np.testing.assert_allclose(pred_panel.targets, y)
        r = np.clip(pred - y, resid.edges[0], resid.edges[-1])
        np.testing.assert_allclose(resid.histogram(epoch), np.histogram(r, bins=resid.edges)[0])
    assert resid.edges[0] == pytest.approx(-resid.edges[-1])


def test_curves_without_accuracy(replays) -> None:
    replay = replays[("regression", 2)]
    assert "accuracy" not in replay.metrics
    panel = _setup(CurvesPanel(), replay)
    assert panel.metrics == ["loss"]
    binary = _setup(CurvesPanel(), replays[("binary", 2)])
    assert binary.metrics == ["loss", "accuracy"]  # the old default where accuracy exists


# ------------------------------------------------------------------------ default_layout
def _names(panels) -> list[str]:
    return [type(p).__name__ for p in panels]


def test_default_layout_picks_panels_from_what_was_recorded(replays) -> None:
    mains, side = default_panels(replays[("binary", 2)])
    assert _names(mains) == ["FeatureSpacePanel"]
    assert _names(side) == ["ProbabilityHistogramPanel", "ProbabilityHistogramPanel",
                            "CurvesPanel", "LossHistogramPanel"]
    mains, side = default_panels(replays[("multiclass", 5)], layer="h0")
    assert _names(mains) == ["ProjectionPanel"]
    assert _names(side) == ["ProbabilityHistogramPanel", "CurvesPanel", "LossHistogramPanel"]
    mains, side = default_panels(replays[("regression", 5)])
    assert _names(mains) == ["FeatureSpacePanel"]
    assert _names(side) == ["PredictionPanel", "ResidualHistogramPanel", "CurvesPanel",
                            "LossHistogramPanel"]
    deep = synthetic_replay("binary", 2, (5, 5, 5), seed=3)
    mains, side = default_panels(deep)
    assert _names(mains) == ["DecisionBoundaryPanel", "ProjectionPanel"]
    assert mains[1].layer == "h2"
    flat = synthetic_replay("regression", 3, (), seed=4)
    mains, side = default_panels(flat)
    assert _names(mains) == ["PredictionPanel"]
    with pytest.raises(Exception, match="not a hidden layer"):
        default_panels(deep, layer="output")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n_inputs", [2, 5])
def test_default_layout_renders_and_blits_like_a_full_redraw(replays, kind: str,
                                                            n_inputs: int) -> None:
    replay = replays[(kind, n_inputs)]
    comp = default_layout(replay, dpi=40)
    assert isinstance(comp, Composition)
    full = comp.render(2)
    blit = comp.render(2, blit=True)
    diff = np.abs(full.astype(int) - blit.astype(int))
    assert diff.max() <= 2 and (diff > 0).mean() < 1e-3


def test_default_layout_seed000_shape_is_12_by_6(replays) -> None:
    comp = default_layout(synthetic_replay("binary", 2, (4, 2), seed=5), dpi=30)
    assert tuple(comp.figure.get_size_inches()) == (12.0, 6.0)
    assert _names(p for p, _ in comp.panels) == [
        "FeatureSpacePanel", "ProbabilityHistogramPanel", "ProbabilityHistogramPanel",
        "CurvesPanel", "LossHistogramPanel"]


def test_logit_models_get_probabilities_on_grids(replays) -> None:
    """A model compiled with from_logits=True outputs logits; the recorder stores
    probabilities, and the grids must match them, not the raw logits."""
    import json

    base = replays[("binary", 2)]
    config = base.model_config
    for spec in config["config"]["layers"]:
        if spec["config"].get("name") == "output":
            spec["config"]["activation"] = "linear"
    meta = {**base.meta, "model_config": json.dumps(config), "from_logits": True}
    logits = Replay(base.arrays(), meta)
    panel = _setup(DecisionBoundaryPanel(resolution=30), logits)
    z = keras_model_at(logits, 2).predict(panel.grid_points, verbose=0)[:, 0]
    np.testing.assert_allclose(panel.probability_grid(2).ravel(), 1 / (1 + np.exp(-z)), atol=1e-5)
    fs = _setup(FeatureSpacePanel("h1"), logits)
    tail = fs._tail_output(2)
    assert tail.min() >= 0.0 and tail.max() <= 1.0


def test_projection_of_a_diverged_run_fits_the_last_finite_epoch(replays) -> None:
    base = replays[("multiclass", 5)]
    arrays = base.arrays()
    outputs = arrays["output/h0"].copy()
    outputs[-1, 3] = np.nan  # the last epoch diverged
    broken = Replay({**arrays, "output/h0": outputs}, dict(base.meta))
    panel = _setup(ProjectionPanel("h0"), broken)
    assert panel.projection.fitted_epoch == int(base.epochs[-2])
    assert "fitted at epoch 3" in panel.ax.get_xlabel()
    outputs[:] = np.nan
    with pytest.raises(PanelError, match="non-finite outputs of 'h0' at every epoch"):
        _setup(ProjectionPanel("h0"), Replay({**arrays, "output/h0": outputs}, dict(base.meta)))

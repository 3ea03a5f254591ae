"""The recorder keeps what the default layout draws, and the layout draws all it can, saying why
where it cannot (issue 24, item 2).

Tiny models trained for two epochs on a few dozen points: each test checks what was recorded
(not every layer), and that each picture the layout then draws is the model's own numbers
(Keras' outputs on the same points), including the feature-space background of a model whose
layers before the viewed one the numpy forward pass cannot run (a convolution) or could not
before (BatchNormalization; Dropout is the identity at inference).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.conftest import need_module

keras = need_module("keras")

from matplotlib.figure import Figure  # noqa: E402

from pipeline.library.errors import PipelineError  # noqa: E402
from pipeline.library.replay import default_layout, default_layout_notes  # noqa: E402
from pipeline.library.replay.layouts import default_panels  # noqa: E402
from pipeline.library.replay.panels import (  # noqa: E402
    DecisionBoundaryPanel,
    FeatureSpacePanel,
    ProjectionPanel,
)
from pipeline.library.replay.recorder import ReplayRecorder  # noqa: E402
from pipeline.library.replay.store import Replay  # noqa: E402
from pipeline.library.training import fit_fast  # noqa: E402

EPOCHS = 2


def _data(shape: tuple[int, ...], n: int = 48, classes: int = 3, seed: int = 0
          ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype("float32")
    flat = x.reshape(n, -1)
    y = np.digitize(flat[:, 0] + flat[:, -1], [-0.5, 0.5]) if classes > 2 else (flat[:, 0] > 0)
    return x, y.astype("int64" if classes > 2 else "float32")


def _train(stack: list, x: np.ndarray, y: np.ndarray, loss: object, **rec_kwargs
           ) -> tuple[keras.Model, Replay]:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input(x.shape[1:]), *stack])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    rec = ReplayRecorder(x, y, **rec_kwargs)
    fit_fast(model, x, y, epochs=EPOCHS, batch_size=16, callbacks=[rec])
    return model, rec.replay()


def _setup(panel, replay: Replay):
    panel.setup(Figure().add_subplot(), replay)
    return panel


def _keras_at(model: keras.Model, replay: Replay, epoch: int) -> keras.Model:
    """``model`` holding the replayed weights of ``epoch`` (the replay's own numbers)."""
    weights = replay.weights(epoch)
    model.set_weights([weights[f"{ly.name}/{v.name}"] for ly in model.layers for v in ly.weights])
    return model


def _tail(model: keras.Model, after: str, h: np.ndarray) -> np.ndarray:
    """Keras' own layers after ``after`` applied to hidden values ``h`` (inference mode)."""
    names = [ly.name for ly in model.layers]
    out = keras.ops.convert_to_tensor(h)
    for ly in model.layers[names.index(after) + 1:]:
        out = ly(out, training=False)
    return np.asarray(keras.ops.convert_to_numpy(out))


def _background_matches_keras(panel: FeatureSpacePanel, model: keras.Model, replay: Replay,
                              softmax: bool) -> None:
    for epoch in (0, EPOCHS):
        _keras_at(model, replay, epoch)
        want = _tail(model, panel.layer, panel._fs_grid)
        if softmax and not np.allclose(want.sum(axis=1), 1, atol=1e-5):
            want = np.exp(want) / np.exp(want).sum(axis=1, keepdims=True)
        np.testing.assert_allclose(panel._tail_output(epoch), want, atol=1e-5)


# ------------------------------------------------------------------------ what is recorded
def test_dense_chain_records_no_outputs_yet_draws_everything(caplog) -> None:
    x, y = _data((2,), classes=2)
    model, replay = _train([keras.layers.Dense(4, activation="tanh", name="dense"),
                            keras.layers.Dense(2, activation="tanh", name="hidden"),
                            keras.layers.Dense(1, activation="sigmoid", name="output")],
                           x, y, "binary_crossentropy")
    assert replay.recorded_layers == []  # the weights give every layer's outputs
    assert replay.layer_widths == {"dense": 4, "hidden": 2, "output": 1}
    assert replay.layer_kinds == {"dense": "Dense", "hidden": "Dense", "output": "Dense"}
    with caplog.at_level(logging.WARNING):
        mains, _ = default_panels(replay)
    assert default_layout_notes(replay) == []
    assert not [r for r in caplog.records  # nothing left out (TensorFlow's own chatter aside)
                if r.levelno >= logging.WARNING and r.name.startswith("pipeline")]
    panel = _setup(mains[0], replay)
    assert isinstance(panel, FeatureSpacePanel) and panel._has_tail
    hidden = keras.Model(model.inputs, model.get_layer("hidden").output)
    for epoch in (0, EPOCHS):
        _keras_at(model, replay, epoch)
        np.testing.assert_allclose(panel.feature_coordinates(epoch),
                                   hidden.predict(x, verbose=0), atol=1e-5)
        grid = panel.input_grid()
        np.testing.assert_allclose(panel.grid_coordinates(epoch), hidden.predict(
            grid.reshape(-1, 2), verbose=0).reshape(grid.shape), atol=1e-5)
    _background_matches_keras(panel, model, replay, softmax=False)


def test_cnn_records_only_the_viewed_layer() -> None:
    x, y = _data((6, 6, 1))
    layers = [keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
              keras.layers.Flatten(name="flatten"),
              keras.layers.Dense(5, activation="relu", name="dense"),
              keras.layers.Dense(3, name="logits")]
    model, replay = _train(layers, x, y, "sparse_categorical_crossentropy")
    assert replay.recorded_layers == ["dense"]  # not conv (4x4x4 per image), not flatten
    assert replay.layer_widths == {"conv": 64, "flatten": 64, "dense": 5, "logits": 3}
    mains, _ = default_panels(replay)
    assert [type(p) for p in mains] == [ProjectionPanel] and mains[0].layer == "dense"
    assert default_layout_notes(replay) == []
    dense = keras.Model(model.inputs, model.get_layer("dense").output)
    _keras_at(model, replay, EPOCHS)
    np.testing.assert_allclose(replay.layer_output("dense", EPOCHS), dense.predict(x, verbose=0),
                               atol=1e-5)
    _, everything = _train([keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                            keras.layers.Flatten(name="flatten"),
                            keras.layers.Dense(5, activation="relu", name="dense"),
                            keras.layers.Dense(3, name="logits")],
                           x, y, "sparse_categorical_crossentropy", layers="all")
    assert everything.recorded_layers == ["conv", "flatten", "dense", "logits"]


def test_layers_argument_is_checked() -> None:
    x, y = _data((2,), classes=2)
    with pytest.raises(PipelineError, match="pass a list of layer names, 'all', or None"):
        ReplayRecorder(x, y, layers="hidden")


def test_weights_off_records_the_viewed_layer() -> None:
    x, y = _data((2,), classes=2)
    _, replay = _train([keras.layers.Dense(2, activation="tanh", name="hidden"),
                        keras.layers.Dense(1, activation="sigmoid", name="output")],
                       x, y, "binary_crossentropy", weights=False)
    assert replay.recorded_layers == ["hidden"] and replay.weight_keys == []
    notes = default_layout_notes(replay)
    assert any("no weights were recorded" in n for n in notes), notes


# ----------------------------------------------------- the background of a 2-unit layer
@pytest.mark.parametrize("n_inputs", [2, 13])
def test_batchnorm_and_dropout_before_the_view_keep_background_and_grid(n_inputs: int) -> None:
    x, y = _data((n_inputs,))
    layers = [keras.layers.Dense(8, activation="relu", name="dense"),
              keras.layers.BatchNormalization(name="bn"),
              keras.layers.Dropout(0.3, name="drop"),
              keras.layers.Dense(2, activation="tanh", name="hidden"),
              keras.layers.Dense(3, activation="softmax", name="output")]
    model, replay = _train(layers, x, y, "sparse_categorical_crossentropy")
    assert replay.recorded_layers == []  # numpy runs BatchNormalization (moving statistics)
    assert default_layout_notes(replay) == []
    mains, _ = default_panels(replay)
    panel = _setup(mains[0], replay)
    assert isinstance(panel, FeatureSpacePanel) and panel._has_tail  # the background is drawn
    hidden = keras.Model(model.inputs, model.get_layer("hidden").output)
    for epoch in (0, EPOCHS):
        _keras_at(model, replay, epoch)  # the moving mean/variance moved: BN differs per epoch
        np.testing.assert_allclose(panel.feature_coordinates(epoch),
                                   hidden.predict(x, verbose=0), atol=1e-5)
        if n_inputs == 2:
            grid = panel.input_grid()
            np.testing.assert_allclose(panel.grid_coordinates(epoch), hidden.predict(
                grid.reshape(-1, 2), verbose=0).reshape(grid.shape), atol=1e-5)
    assert not np.allclose(replay.weights(0)["bn/moving_mean"],
                           replay.weights(EPOCHS)["bn/moving_mean"])
    _background_matches_keras(panel, model, replay, softmax=False)


def test_convolution_before_the_view_keeps_the_background() -> None:
    x, y = _data((6, 6, 1))
    layers = [keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
              keras.layers.BatchNormalization(name="bn"),
              keras.layers.Flatten(name="flatten"),
              keras.layers.Dense(2, activation="tanh", name="hidden"),
              keras.layers.Dense(3, name="logits")]
    model, replay = _train(layers, x, y,
                           keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert replay.recorded_layers == ["hidden"]  # numpy cannot compute it: recorded
    # the whole model is not numpy's: the pass up to the viewed layer cannot run, the tail can
    assert "Conv2D" in (replay.numpy_model.unsupported(stop_at="hidden") or "")
    assert replay.numpy_model.unsupported(start_after="hidden") is None
    assert default_layout_notes(replay) == []
    mains, _ = default_panels(replay)
    panel = _setup(mains[0], replay)
    assert isinstance(panel, FeatureSpacePanel) and panel._has_tail
    _background_matches_keras(panel, model, replay, softmax=True)


def test_what_cannot_be_drawn_is_said(caplog) -> None:
    """A layer numpy cannot run after the view costs the background, one before it (2-D input)
    the bent grid, and anywhere the input-plane boundary: each left out with its reason."""
    x, y = _data((2,), classes=2)
    after = [keras.layers.Dense(2, activation="tanh", name="hidden"),
             keras.layers.Dense(4, activation="gelu", name="after"),
             keras.layers.Dense(1, activation="sigmoid", name="output")]
    _, replay = _train(after, x, y, "binary_crossentropy")
    assert replay.recorded_layers == []
    notes = default_layout_notes(replay)
    assert len(notes) == 1 and "no background" in notes[0] and "'after'" in notes[0], notes
    assert "gelu" in notes[0]
    with caplog.at_level(logging.WARNING):
        comp = default_layout(replay, dpi=20)
    assert any("no background" in r.getMessage() for r in caplog.records)
    panel = comp.panels[0][0]
    _setup(panel, replay)
    assert isinstance(panel, FeatureSpacePanel) and not panel._has_tail
    assert panel.grid_coordinates(EPOCHS).shape[-1] == 2  # the grid is still drawn

    before = [keras.layers.Dense(4, activation="gelu", name="before"),
              keras.layers.Dense(2, activation="tanh", name="hidden"),
              keras.layers.Dense(1, activation="sigmoid", name="output")]
    _, replay = _train(before, x, y, "binary_crossentropy")
    assert replay.recorded_layers == ["hidden"]
    notes = default_layout_notes(replay)
    assert len(notes) == 1 and "input grid is not bent" in notes[0] and "'before'" in notes[0]
    panel = _setup(default_panels(replay)[0][0], replay)
    assert panel._has_tail and panel._lines_fs is None

    wide = [keras.layers.Dense(4, activation="gelu", name="before"),
            keras.layers.Dense(1, activation="sigmoid", name="output")]
    _, replay = _train(wide, x, y, "binary_crossentropy")
    notes = default_layout_notes(replay)
    assert len(notes) == 1 and "decision boundary" in notes[0], notes
    mains, side = default_panels(replay)
    assert [type(p) for p in mains] == [ProjectionPanel]
    assert not any(isinstance(p, DecisionBoundaryPanel) for p in mains + side)

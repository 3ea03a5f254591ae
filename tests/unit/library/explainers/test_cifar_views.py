"""Fast tests for pipeline.library.explainers.cifar_views: the network has the seed's layers, per-batch values are
recovered exactly from Keras's running means, integrated gradients share one step count and
satisfy completeness, examples are picked as documented, and the data loader says which data it
gave."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.library.errors import DatasetUnavailable, PipelineError
from pipeline.library.explainers import cifar_views as V
from tests.conftest import SHARED_DATA

# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


def test_all_conv_net_has_the_seed_layers():
    import keras

    model = V.all_conv_net(8, mean=[0.5, 0.4, 0.3], variance=[0.04, 0.09, 0.16])
    convs = [ly for ly in model.layers if isinstance(ly, keras.layers.Conv2D)]
    assert [c.name for c in convs] == list(V.CONV_LAYERS)
    for conv in convs:
        assert conv.kernel_size == (3, 3) and conv.filters == 8 and conv.padding == "same"
        assert conv.activation.__name__ == "elu"
    names = [ly.name for ly in model.layers]
    assert names.index("pool1") == names.index("conv3") + 1
    assert names.index("pool2") == names.index("conv6") + 1
    assert isinstance(model.get_layer("pool1"), keras.layers.AveragePooling2D)
    assert isinstance(model.get_layer("gap"), keras.layers.GlobalAveragePooling2D)
    assert names[-1] == "readout" and model.get_layer("readout").units == 10
    assert model.output_shape == (None, 10)
    shapes = {n: tuple(model.get_layer(n).output.shape[1:]) for n in V.ACTIVATION_LAYERS}
    assert shapes == {"conv3": (32, 32, 8), "conv6": (16, 16, 8), "conv9": (8, 8, 8)}
    # The model takes [0, 1] pixels and standardises them itself: black -> -mean / std.
    norm = keras.Model(model.inputs, model.get_layer("normalize").output)
    out = norm.predict(np.zeros((1, 32, 32, 3), np.float32), verbose=0)[0, 0, 0]
    np.testing.assert_allclose(out, -np.array([0.5, 0.4, 0.3]) / np.array([0.2, 0.3, 0.4]),
                               rtol=1e-5)
    probs = model.predict(np.random.default_rng(0).random((2, 32, 32, 3)), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_all_conv_net_width_sets_the_parameter_count():
    w = 6
    model = V.all_conv_net(w)
    expected = (3 * 3 * 3 * w + w) + 8 * (3 * 3 * w * w + w) + (w * 10 + 10)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert trainable == expected


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"width": 2.5}, {"width": 4, "pool_after": (10,)},
                                    {"width": 4, "mean": [0.5, 0.5]},
                                    {"width": 4, "variance": [0.1, 0.0, 0.1]}])
def test_all_conv_net_rejects_bad_settings(kwargs):
    with pytest.raises(PipelineError):
        V.all_conv_net(**kwargs)


# --------------------------------------------------------------------------------------------
# Per-batch values
# --------------------------------------------------------------------------------------------


def _running(values, sizes, starts):
    out = []
    bounds = [*starts[1:], len(values)]
    for lo, hi in zip(starts, bounds, strict=True):
        w = np.asarray(sizes[lo:hi], float)
        v = np.asarray(values[lo:hi], float)
        out.extend(np.cumsum(w * v) / np.cumsum(w))
    return np.array(out)


def test_per_batch_values_inverts_running_means():
    rng = np.random.default_rng(3)
    sizes = np.array([16, 16, 16, 2] * 3, float)  # 3 epochs of 50 samples
    starts = [0, 4, 8]
    values = rng.random(len(sizes)) * 3
    running = _running(values, sizes, starts)
    np.testing.assert_allclose(V.per_batch_values(running, sizes, starts), values, rtol=1e-10)
    # The first batch of every epoch is its own running mean.
    np.testing.assert_allclose(V.per_batch_values(running, sizes, starts)[starts], running[starts])


def test_per_batch_values_errors():
    with pytest.raises(PipelineError):
        V.per_batch_values(np.ones(3), np.ones(4), [0])
    with pytest.raises(PipelineError):
        V.per_batch_values(np.ones(3), np.array([1.0, 0.0, 1.0]), [0])
    with pytest.raises(PipelineError):
        V.per_batch_values(np.ones(3), np.ones(3), [5])


def _tiny_classifier(lr: float = 0.0):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.SGD(lr), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def test_batch_recorder_keeps_every_batch_under_fit_fast():
    import keras

    from pipeline.library.training import fit_fast

    model = _tiny_classifier(lr=0.0)  # weights never change: each batch's loss is predictable
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype("float32")
    y = rng.integers(0, 3, (50, 1))
    rec = V.batch_recorder(model, max_steps=100)
    wraps = keras.backend.backend() == "tensorflow"  # the other backends return step logs
    assert ("train_step" in vars(model)) == wraps
    fit_fast(model, x, y, epochs=2, batch_size=16, shuffle=False, callbacks=[rec])
    assert "train_step" not in vars(model)  # given back when training ends
    curves = rec.curves()
    assert rec.steps == 8 and rec.epoch_starts == [0, 4]
    np.testing.assert_array_equal(curves["batch_size"], [16, 16, 16, 2] * 2)
    np.testing.assert_allclose(curves["epoch"], [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    p = model.predict(x, verbose=0)
    ce = -np.log(p[np.arange(50), y[:, 0]])
    correct = (p.argmax(1) == y[:, 0]).astype(float)
    batch_loss = [ce[i:i + 16].mean() for i in range(0, 50, 16)]
    batch_acc = [correct[i:i + 16].mean() for i in range(0, 50, 16)]
    np.testing.assert_allclose(curves["loss"], batch_loss * 2, rtol=1e-4)
    np.testing.assert_allclose(curves["accuracy"], batch_acc * 2, atol=1e-5)
    np.testing.assert_allclose(curves["running_loss"][3], ce.mean(), rtol=1e-5)


def test_batch_recorder_capacity_and_double_attach():
    from pipeline.library.training import fit_fast

    model = _tiny_classifier(lr=0.01)
    x = np.random.default_rng(1).normal(size=(40, 4)).astype("float32")
    y = np.zeros((40, 1), int)
    rec = V.batch_recorder(model, max_steps=3)
    with pytest.raises(PipelineError):
        V.batch_recorder(model, max_steps=3)
    fit_fast(model, x, y, epochs=2, batch_size=10, callbacks=[rec])
    assert rec.steps == 8
    assert len(rec.curves()["loss"]) == 3
    with pytest.raises(PipelineError):
        V.batch_recorder(model, max_steps=0)


# --------------------------------------------------------------------------------------------
# Integrated gradients at one step count
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_cnn():
    import keras

    keras.utils.set_random_seed(1)
    model = V.all_conv_net(4, input_shape=(8, 8, 3), pool_after=(3,))
    images = np.random.default_rng(2).random((3, 8, 8, 3)).astype("float32")
    targets = model.predict(images, verbose=0).argmax(axis=1)
    return model, images, [int(t) for t in targets]


def test_integrated_gradients_same_steps_share_steps_and_are_complete(tiny_cnn):
    from pipeline.library import attribution

    model, images, targets = tiny_cnn
    results = V.integrated_gradients_same_steps(model, images, targets, tol=0.01, start_steps=4)
    steps = {r.steps for r in results}
    assert len(steps) == 1 and steps.pop() >= 4
    for r, img, t in zip(results, images, targets, strict=True):
        assert r.target == t and r.completeness_gap < 0.01
        # Completeness, checked against the model's own outputs.
        f_x = float(model.predict(img[None], verbose=0)[0, t])
        f_0 = float(model.predict(np.zeros_like(img)[None], verbose=0)[0, t])
        assert abs(r.attributions.sum() - (f_x - f_0)) <= 0.01 * abs(f_x - f_0)
        again = attribution.integrated_gradients(model, img, t, steps=r.steps)
        np.testing.assert_allclose(r.attributions, again.attributions, rtol=1e-5, atol=1e-9)


def test_integrated_gradients_same_steps_doubles_then_gives_up(tiny_cnn):
    model, images, targets = tiny_cnn
    coarse = V.integrated_gradients_same_steps(model, images, targets, tol=10.0, start_steps=1)
    assert coarse[0].steps == 1  # a loose tolerance needs no doubling
    gap = max(r.completeness_gap for r in coarse)
    if gap > 1e-6:
        finer = V.integrated_gradients_same_steps(model, images, targets, tol=gap / 2,
                                                  start_steps=1, max_steps=4096)
        assert finer[0].steps >= 2
    with pytest.raises(PipelineError, match="max_steps"):
        V.integrated_gradients_same_steps(model, images, targets, tol=1e-12, start_steps=1,
                                          max_steps=2)
    with pytest.raises(PipelineError):
        V.integrated_gradients_same_steps(model, images, targets[:2])
    with pytest.raises(PipelineError):
        V.integrated_gradients_same_steps(model, images, targets, tol=0)


# --------------------------------------------------------------------------------------------
# Picking examples
# --------------------------------------------------------------------------------------------


def test_pick_examples_prefers_correct_and_distinct():
    pred = [3, 3, 8, 0, 6, 1, 2]
    labels = [3, 3, 8, 1, 6, 1, 5]
    assert V.pick_examples(pred, labels, 3) == [0, 2, 4]
    # Then other correct ones (index 1 repeats class 3), then wrong ones.
    assert V.pick_examples(pred, labels, 5) == [0, 2, 4, 5, 1]
    assert V.pick_examples(pred, labels, 7) == [0, 2, 4, 5, 1, 3, 6]
    assert V.pick_examples(pred, labels, 2, candidates=[6, 4, 2]) == [4, 2]
    assert V.pick_examples(pred, labels, 3, candidates=[6, 3]) == [6, 3]


def test_pick_examples_errors():
    with pytest.raises(PipelineError):
        V.pick_examples([1, 2], [1], 1)
    with pytest.raises(PipelineError):
        V.pick_examples([1], [1], 0)
    with pytest.raises(PipelineError):
        V.pick_examples([1], [1], 1, candidates=[3])


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def _fake_full(*args, **kwargs):
    from pipeline.library.datasets import DataSource

    x_tr = np.zeros((50_000, 32, 32, 3), np.uint8)
    x_te = np.zeros((10_000, 32, 32, 3), np.uint8)
    src = DataSource("cifar10", "keras-cache", "~/.keras", "CIFAR-10, cache", 50_000, 10_000,
                     False)
    return (x_tr, np.zeros((50_000, 1), np.uint8)), (x_te, np.zeros((10_000, 1), np.uint8)), src


def test_load_for_build_uses_keras_when_full_is_asked(monkeypatch):
    from pipeline.library import datasets

    calls = []

    def fake(*args, **kwargs):
        calls.append(kwargs)
        return _fake_full()

    monkeypatch.setattr(datasets, "load_cifar10", fake)
    data = V.load_cifar10_for_build(None, prefer_full=True, train_per_class=1, test_per_class=1)
    assert calls == [{"source": "keras"}]  # never the verified subsets
    assert data.full_dataset and len(data.train[0]) == 50_000
    assert "50,000" in data.summary and "10,000" in data.summary and "cache" in data.summary


@pytest.mark.needs_data("cifar10")
def test_load_for_build_falls_back_to_the_offline_pool(monkeypatch):
    from pipeline.library import datasets

    def unavailable(*args, **kwargs):
        raise DatasetUnavailable("cifar10", ["Keras cache: missing"], "connect")

    monkeypatch.setattr(datasets, "load_cifar10", unavailable)
    monkeypatch.setattr(datasets, "load_cifar10_jpeg_full", unavailable)  # no JPEG training set
    for prefer_full in (True, False):
        data = V.load_cifar10_for_build(SHARED_DATA, prefer_full=prefer_full, train_per_class=1,
                                        test_per_class=2)
        assert not data.full_dataset
        # Test: 2 per class, more where the exact test images 0-19 hold more of a class
        # (4 ships and 4 frogs), so none of their JPEG twins can land in train.
        assert len(data.train[0]) == 10 and len(data.test[0]) == 24
        assert data.source.subset and data.source.origin == "verified-copy"
        assert "10 training images (1 per class)" in data.summary
        assert "24 test images (2-4 per class)" in data.summary
        assert "not comparable" in data.summary


def test_per_batch_accuracy_is_snapped_to_a_count_over_the_batch() -> None:
    from pipeline.library.explainers.cifar_views import per_batch_values

    sizes = np.array([64] * 39 + [4], dtype=float)
    correct = np.array([20] * 39 + [0], dtype=float)
    running = (np.cumsum(correct) / np.cumsum(sizes)).astype(np.float32)  # Keras's float32 mean
    snapped = per_batch_values(running, sizes, [0], fraction=True)
    np.testing.assert_array_equal(snapped, correct / sizes)

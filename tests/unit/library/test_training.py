"""fit_fast reaches what model.fit reaches, drives callbacks like fit; DivergenceGuard."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import need_module

keras = need_module("keras")

from pipeline.library.errors import PipelineError, TrainingDiverged  # noqa: E402
from pipeline.library.training import DivergenceGuard, fit_fast, start_fit_fast  # noqa: E402


def moons(n: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The seed-000 data."""
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=n, random_state=27, noise=0.03)
    return x, y  # float64 / int64 on purpose: fit_fast must convert like fit does


def seed000_model(seed: int = 0) -> keras.Model:
    glorot = keras.initializers.GlorotNormal(seed=seed)
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(4, activation="tanh", kernel_initializer=glorot),
        keras.layers.Dense(2, activation="tanh", kernel_initializer=glorot, name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output",
                           kernel_initializer=keras.initializers.RandomNormal(seed=seed)),
    ])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def test_same_result_as_fit_without_shuffle() -> None:
    """Same batches in the same order: the arithmetic is identical to model.fit's."""
    x, y = moons()
    ref = seed000_model(0)
    initial = ref.get_weights()
    hist_ref = ref.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0)
    fast = seed000_model(0)
    fast.set_weights(initial)
    hist = fit_fast(fast, x, y, epochs=3, batch_size=16, shuffle=False)
    np.testing.assert_allclose(hist.history["loss"], hist_ref.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(hist.history["accuracy"], hist_ref.history["accuracy"])
    for a, b in zip(fast.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_same_loss_as_fit_with_shuffle() -> None:
    """Different shuffles, same optimisation: the losses agree to well within the progress
    made per epoch."""
    x, y = moons()
    ref = seed000_model(0)
    initial = ref.get_weights()
    ref.fit(x, y, epochs=4, batch_size=16, verbose=0)
    fast = seed000_model(0)
    fast.set_weights(initial)
    fit_fast(fast, x, y, epochs=4, batch_size=16, seed=1)
    loss_ref = ref.evaluate(x, y, verbose=0)[0]
    loss_fast = fast.evaluate(x, y, verbose=0)[0]
    start = seed000_model(0)
    start.set_weights(initial)
    loss_start = start.evaluate(x, y, verbose=0)[0]
    assert abs(loss_fast - loss_ref) < 0.05 * (loss_start - loss_ref), (
        loss_start, loss_ref, loss_fast)


def test_callbacks_validation_and_model_state() -> None:
    x, y = moons(300)
    model = seed000_model(1)
    seen: list[tuple[str, int]] = []

    class Spy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(("begin", -1))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch", epoch))
            assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(logs)

        def on_train_end(self, logs=None):
            seen.append(("end", -1))

    hist = fit_fast(model, x, y, epochs=3, batch_size=32, validation_data=(x[:100], y[:100]),
                    callbacks=[Spy()])
    assert seen == [("begin", -1), ("epoch", 0), ("epoch", 1), ("epoch", 2), ("end", -1)]
    assert hist.epoch == [0, 1, 2] and model.history is hist
    val_loss, val_acc = model.evaluate(x[:100], y[:100], verbose=0)
    assert hist.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-5)
    assert hist.history["val_accuracy"][-1] == pytest.approx(val_acc)
    assert model.steps_per_execution == 1  # the model is left as compiled
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)  # and still trains normally


def test_early_stopping_and_initial_epoch() -> None:
    x, y = moons(200)
    model = seed000_model(2)

    class StopAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 3:
                self.model.stop_training = True

    hist = fit_fast(model, x, y, epochs=10, batch_size=50, initial_epoch=2,
                    callbacks=[StopAfterTwo()])
    assert hist.epoch == [2, 3]


def test_nothing_left_to_train_is_a_no_op() -> None:
    """A run resumed from a finished checkpoint (epochs == initial_epoch) trains nothing."""
    x, y = moons(64)
    model = seed000_model(0)
    before = [w.copy() for w in model.get_weights()]
    hist = fit_fast(model, x, y, epochs=2, batch_size=8, initial_epoch=2)
    assert hist.epoch == []
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_shuffle_depends_only_on_seed_and_epoch() -> None:
    """A run continued from epoch 2 equals an uninterrupted one (the basis of resuming)."""
    x, y = moons(256)
    a = seed000_model(3)
    initial = a.get_weights()
    fit_fast(a, x, y, epochs=4, batch_size=16, seed=7)
    b = seed000_model(3)
    b.set_weights(initial)
    fit_fast(b, x, y, epochs=2, batch_size=16, seed=7)
    fit_fast(b, x, y, epochs=4, batch_size=16, seed=7, initial_epoch=2)
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)


def test_errors_for_bad_use() -> None:
    x, y = moons(64)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(PipelineError, match="compile the model first"):
        fit_fast(model, x, y, epochs=1, batch_size=8)
    model = seed000_model(0)
    with pytest.raises(PipelineError, match="not be less than initial_epoch"):
        fit_fast(model, x, y, epochs=2, batch_size=8, initial_epoch=3)
    with pytest.raises(PipelineError, match="different numbers of rows"):
        fit_fast(model, x, y[:10], epochs=1, batch_size=8)


def test_a_model_trained_in_the_background_equals_a_serial_run() -> None:
    """start_fit_fast overlaps two runs; each ends with the weights it has alone, bit for bit."""
    x, y = moons(512)
    serial = [seed000_model(s) for s in (0, 42)]
    for s, model in zip((0, 42), serial, strict=True):
        fit_fast(model, x, y, epochs=6, batch_size=16, seed=s)
    overlapped = [seed000_model(s) for s in (0, 42)]
    background = start_fit_fast(overlapped[1], x, y, epochs=6, batch_size=16, seed=42)
    fit_fast(overlapped[0], x, y, epochs=6, batch_size=16, seed=0)
    history = background.result(timeout=120)
    assert history.epoch == list(range(6))
    for alone, beside in zip(serial, overlapped, strict=True):
        for a, b in zip(alone.get_weights(), beside.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_background_run_hands_its_error_to_result() -> None:
    x, y = moons(256)
    future = start_fit_fast(_exploding_model(lr=50.0), x, y * 100.0, epochs=50, batch_size=16,
                            callbacks=[DivergenceGuard()])
    with pytest.raises(TrainingDiverged, match="diverged at epoch"):
        future.result(timeout=120)
    with pytest.raises(PipelineError, match="compile the model first"):
        start_fit_fast(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), x, y,
                       epochs=1, batch_size=16).result(timeout=60)


def _exploding_model(lr: float) -> keras.Model:
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
    return model


def test_divergence_guard_stops_and_raises() -> None:
    x, y = moons(256)
    model = _exploding_model(lr=50.0)
    guard = DivergenceGuard()
    epochs_seen: list[int] = []

    class Count(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            epochs_seen.append(epoch)

    with pytest.raises(TrainingDiverged) as info:
        # The guard is listed first on purpose: fit_fast moves it last, so Count still runs.
        fit_fast(model, x, y * 100.0, epochs=50, batch_size=16, callbacks=[guard, Count()])
    err = info.value
    assert err is guard.error
    assert err.learning_rate == pytest.approx(50.0)
    assert not np.isfinite(err.loss)
    assert err.epoch == epochs_seen[-1] + 1 < 50  # stopped at the first non-finite epoch
    assert "diverged at epoch" in str(err) and "Lower the learning rate" in str(err)


def test_divergence_guard_can_just_record() -> None:
    x, y = moons(256)
    model = _exploding_model(lr=50.0)
    guard = DivergenceGuard(raise_error=False)
    hist = fit_fast(model, x, y * 100.0, epochs=50, batch_size=16, callbacks=[guard])
    assert guard.error is not None and len(hist.epoch) == guard.error.epoch < 50
    healthy = DivergenceGuard()
    fit_fast(seed000_model(0), x, y, epochs=2, batch_size=32, callbacks=[healthy])
    assert healthy.error is None


@pytest.mark.parametrize(("mixed", "compute", "atol"),
                         [("mixed_float16", "float16", 5e-3), ("mixed_bfloat16", "bfloat16", 2e-2)])
def test_mixed_precision_trains_to_the_same_loss_and_copies_back_to_float32(mixed, compute,
                                                                            atol) -> None:
    """Mixed precision (float16 on a GPU, bfloat16 on a CPU with bfloat16 units) gives the
    float32 result within tolerance.

    Runs on any CPU (slowly where the arithmetic is emulated), so the check needs neither: same
    initial weights, same batches, float16/bfloat16 compute vs float32; then float32_copy holds
    exactly the trained weights. bfloat16 keeps 8 bits of mantissa (float16: 11), hence its
    wider tolerance on the predictions.
    """
    from pipeline.library.explainers.cifar_views import all_conv_net
    from pipeline.library.training import float32_copy

    rng = np.random.default_rng(0)
    x = rng.random((64, 16, 16, 3), dtype=np.float32)
    y = (x[:, :8].mean(axis=(1, 2, 3)) > x[:, 8:].mean(axis=(1, 2, 3))).astype("int64")
    losses, models = {}, {}
    initial = None
    try:
        for policy in ("float32", mixed):
            keras.mixed_precision.set_global_policy(policy)
            keras.utils.set_random_seed(3)
            model = all_conv_net(8, input_shape=(16, 16, 3), n_classes=2)
            if initial is None:
                initial = model.get_weights()
            model.set_weights(initial)
            model.compile(optimizer=keras.optimizers.Adam(1e-3),
                          loss="sparse_categorical_crossentropy")
            hist = fit_fast(model, x, y, epochs=3, batch_size=16, seed=1)
            losses[policy], models[policy] = hist.history["loss"], model
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert models[mixed].layers[1].compute_dtype == compute
    np.testing.assert_allclose(losses[mixed], losses["float32"], rtol=2e-2)
    copy = float32_copy(models[mixed])
    assert {layer.compute_dtype for layer in copy.layers} == {"float32"}
    for a, b in zip(copy.get_weights(), models[mixed].get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    p_mixed = models[mixed].predict(x, verbose=0)
    p_copy = copy.predict(x, verbose=0)
    assert p_copy.dtype == np.float32
    np.testing.assert_allclose(p_copy, p_mixed, atol=atol)
    assert float32_copy(models["float32"]) is models["float32"]

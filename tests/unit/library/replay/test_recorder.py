"""ReplayRecorder: what it stores agrees with the model, and a killed run resumes exactly.

Which loss is compared: the recorder's ``probe_loss`` (mean per-sample loss on the probe set,
with the weights at the end of the epoch). Loading the replayed epoch-k weights into a fresh
model and calling ``model.evaluate`` on the same data must give that number. Keras' logged
``loss`` is a running average over the epoch's batches while the weights move, so it is not
expected to match any single set of weights and is not compared.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import need_module

keras = need_module("keras")

from pipeline.library.errors import PipelineError  # noqa: E402
from pipeline.library.replay.recorder import ReplayRecorder  # noqa: E402
from pipeline.library.replay.store import Replay  # noqa: E402
from pipeline.library.training import fit_fast  # noqa: E402

EPOCHS = 4


def moons(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=n, random_state=27, noise=0.03)
    return x.astype("float32"), y.astype("float32")


def seed000_model(seed: int = 0, optimizer: str = "sgd") -> keras.Model:
    """The seed-000 architecture (smaller data in these tests).

    Layers are named explicitly: Keras numbers unnamed layers per process (dense, dense_1 ...),
    and a resumed recording must see the same names as the original one.
    """
    glorot = keras.initializers.GlorotNormal(seed=seed)
    model = keras.Sequential([
        keras.Input((2,)),
        keras.layers.Dense(4, activation="tanh", kernel_initializer=glorot, name="dense"),
        keras.layers.Dense(2, activation="tanh", kernel_initializer=glorot, name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output",
                           kernel_initializer=keras.initializers.RandomNormal(seed=seed)),
    ])
    opt = (keras.optimizers.SGD(0.1) if optimizer == "sgd"
           else keras.optimizers.Adam(0.01))
    model.compile(optimizer=opt, loss="binary_crossentropy", metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[keras.Model, Replay, list[np.ndarray]]:
    x, y = moons()
    model = seed000_model(0)
    initial = [w.copy() for w in model.get_weights()]
    path = tmp_path_factory.mktemp("rec") / "moons.npz"
    rec = ReplayRecorder(x, y, path=path, gradients=True, layers="all")
    fit_fast(model, x, y, epochs=EPOCHS, batch_size=16, callbacks=[rec])
    return model, Replay.load(path), initial


def test_stores_every_epoch_from_zero(recorded) -> None:
    model, replay, initial = recorded
    assert list(replay.epochs) == list(range(EPOCHS + 1))
    assert replay.recorded_layers == [ly.name for ly in model.layers]
    assert {"loss", "accuracy", "probe_loss", "probe_accuracy"} <= set(replay.metrics)
    assert np.isnan(replay.metrics["loss"][0]) and np.isfinite(replay.metrics["loss"][1:]).all()
    for got, want in zip(replay.weights(0).values(), initial, strict=True):
        np.testing.assert_array_equal(got, want)  # epoch 0 is before the first update
    for got, want in zip(replay.weights(EPOCHS).values(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    assert replay.probabilities(2).shape == (400, 1)
    assert replay.sample_loss(2).shape == (400,)


@pytest.mark.parametrize("epoch", [0, 2, EPOCHS])
def test_replayed_weights_reproduce_logged_probe_loss(recorded, epoch: int) -> None:
    _, replay, _ = recorded
    fresh = seed000_model(seed=123)  # different initial weights: all state comes from the replay
    fresh.set_weights(list(replay.weights(epoch).values()))
    loss, acc = fresh.evaluate(replay.probe_x, replay.probe_y, batch_size=400, verbose=0)
    assert replay.metrics["probe_loss"][replay.index(epoch)] == pytest.approx(loss, rel=1e-5)
    assert replay.metrics["probe_accuracy"][replay.index(epoch)] == pytest.approx(acc)
    prob = fresh.predict(replay.probe_x, verbose=0)
    np.testing.assert_allclose(replay.probabilities(epoch), prob, atol=1e-6)
    hidden = keras.Model(fresh.inputs, fresh.get_layer("hidden").output)
    np.testing.assert_allclose(
        replay.layer_output("hidden", epoch), hidden.predict(replay.probe_x, verbose=0),
        atol=1e-6,
    )
    bce = keras.losses.BinaryCrossentropy(reduction=None)
    np.testing.assert_allclose(
        replay.sample_loss(epoch), keras.ops.convert_to_numpy(bce(replay.probe_y[:, None], prob)), rtol=1e-4,
        atol=1e-6,
    )


def test_gradients_match_a_gradient_tape(recorded) -> None:
    _, replay, _ = recorded
    fresh = seed000_model(seed=5)
    fresh.set_weights(list(replay.weights(2).values()))
    grads = _reference_gradients(fresh, replay.probe_x, replay.probe_y[:, None])
    assert replay.gradient_keys == replay.weight_keys
    for key, g in zip(replay.gradient_keys, grads, strict=True):
        np.testing.assert_allclose(replay.gradients(2)[key], g, rtol=1e-4, atol=1e-6)


def _reference_gradients(model, x, y) -> list[np.ndarray]:
    """Mean-BCE gradients computed directly with the backend's own autodiff (not the library)."""
    if keras.backend.backend() == "jax":
        import jax

        def loss(trainable):
            pred, _ = model.stateless_call(trainable, [v.value for v in model.non_trainable_variables],
                                           x, training=False)
            return keras.ops.mean(keras.losses.binary_crossentropy(y, pred))

        return [np.asarray(g) for g in jax.grad(loss)([v.value for v in model.trainable_variables])]
    if keras.backend.backend() == "torch":
        import torch

        pred = model(x, training=False)
        loss = keras.ops.mean(keras.losses.binary_crossentropy(keras.ops.convert_to_tensor(y), pred))
        grads = torch.autograd.grad(loss, [v.value for v in model.trainable_variables])
        return [g.detach().cpu().numpy() for g in grads]
    import tensorflow as tf

    with tf.GradientTape() as tape:
        pred = model(x, training=False)
        loss = tf.reduce_mean(keras.losses.binary_crossentropy(y, pred))
    return [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]


def test_works_with_plain_fit_and_in_memory(tmp_path: Path) -> None:
    x, y = moons(128)
    model = seed000_model(1)
    rec = ReplayRecorder(x, y, layers=["hidden"], weights=False)
    model.fit(x, y, epochs=2, batch_size=32, verbose=0, callbacks=[rec])
    replay = rec.replay()
    assert list(replay.epochs) == [0, 1, 2]
    assert replay.recorded_layers == ["hidden"] and replay.weight_keys == []
    with pytest.raises(PipelineError, match="initial_epoch"):
        model.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[rec])


def test_no_layers_records_predictions_losses_and_weights_only(tmp_path: Path) -> None:
    """Regression: ``layers=[]`` crashed (a one-output probe model returns a bare tensor)."""
    x, y = moons(128)
    model = seed000_model(1)
    rec = ReplayRecorder(x, y, layers=[], path=tmp_path / "none.npz")
    fit_fast(model, x, y, epochs=2, batch_size=32, callbacks=[rec])
    replay = Replay.load(tmp_path / "none.npz")
    assert replay.recorded_layers == [] and not any(
        k.startswith("output/") for k in replay.arrays())
    assert list(replay.epochs) == [0, 1, 2]
    np.testing.assert_allclose(replay.probabilities(2), model.predict(x, verbose=0), atol=1e-6)
    loss, _ = model.evaluate(x, y, batch_size=len(x), verbose=0)
    assert replay.metrics["probe_loss"][-1] == pytest.approx(loss, rel=1e-5)
    assert len(replay.weight_keys) == 6


def test_replay_and_save_after_resume_without_further_training(tmp_path: Path) -> None:
    """Regression: a run killed after its last checkpoint (say, while rendering) is resumed at
    its final epoch; with nothing left to train, ``replay()`` and ``save()`` must still work."""
    x, y = moons(128)
    path = tmp_path / "done.npz"
    model = seed000_model(0)
    rec = ReplayRecorder(x, y, path=path, layers=["hidden"], checkpoint_every=2)
    fit_fast(model, x, y, epochs=4, batch_size=32, callbacks=[rec])
    original = Replay.load(path)

    again = seed000_model(seed=9)
    resumed = ReplayRecorder.resume_from(path, again)
    assert resumed.initial_epoch == 4  # nothing to train: fit_fast(epochs=4) is not called
    for a, b in zip(again.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    replay = resumed.replay()
    assert list(replay.epochs) == list(original.epochs)
    assert replay.recorded_layers == ["hidden"] and replay.weight_keys == original.weight_keys
    assert replay.model_config == original.model_config
    assert replay.loss_name == original.loss_name
    np.testing.assert_array_equal(replay.layer_outputs("hidden"), original.layer_outputs("hidden"))
    np.testing.assert_array_equal(replay.metrics["probe_loss"], original.metrics["probe_loss"])
    resumed.save(tmp_path / "copy.npz")
    copy = Replay.load(tmp_path / "copy.npz")
    assert copy.checkpoint is None and list(copy.epochs) == list(original.epochs)
    resumed.save(checkpoint=True)  # and the checkpoint can be rewritten and resumed again
    assert ReplayRecorder.resume_from(path, seed000_model(seed=3)).initial_epoch == 4


def test_resume_or_start(tmp_path: Path) -> None:
    x, y = moons(64)
    path = tmp_path / "run.npz"
    model = seed000_model(0)
    fresh = ReplayRecorder.resume_or_start(path, model, x, y, layers=["hidden"], checkpoint_every=1)
    assert fresh.initial_epoch == 0 and fresh.layers == ["hidden"]
    fit_fast(model, x, y, epochs=2, batch_size=32, callbacks=[fresh])
    again = seed000_model(seed=5)
    resumed = ReplayRecorder.resume_or_start(path, again, x[:3], y[:3], layers=[])
    assert resumed.initial_epoch == 2 and resumed.layers == ["hidden"]  # the stored settings
    for a, b in zip(again.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_rejects_bad_arguments() -> None:
    x, y = moons(64)
    with pytest.raises(PipelineError, match="same, non-zero number"):
        ReplayRecorder(x, y[:10])
    with pytest.raises(PipelineError, match="checkpoint_every"):
        ReplayRecorder(x, y, checkpoint_every=2)


class _Killed(Exception):
    pass


class _KillAt(keras.callbacks.Callback):
    """Simulates the process dying at the end of an epoch (after the recorder ran)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise _Killed(f"killed after epoch {self.epoch}")


def test_resume_after_kill_matches_uninterrupted_run(tmp_path: Path) -> None:
    x, y = moons(256)
    straight = seed000_model(0, optimizer="adam")  # Adam: optimizer state must be restored too
    initial = straight.get_weights()
    ref = ReplayRecorder(x, y)
    fit_fast(straight, x, y, epochs=6, batch_size=16, seed=3, callbacks=[ref])

    path = tmp_path / "run.npz"
    first = seed000_model(0, optimizer="adam")
    first.set_weights(initial)
    rec = ReplayRecorder(x, y, path=path, checkpoint_every=3)
    with pytest.raises(_Killed):
        fit_fast(first, x, y, epochs=6, batch_size=16, seed=3, callbacks=[rec, _KillAt(5)])
    del first, rec  # the process is gone; only the file remains
    assert Replay.load(path).checkpoint["epoch"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]  # no temporary files left

    again = seed000_model(seed=99, optimizer="adam")  # fresh weights, fresh optimizer
    resumed = ReplayRecorder.resume_from(path, again)
    assert resumed.initial_epoch == 3
    fit_fast(again, x, y, epochs=6, batch_size=16, seed=3, callbacks=[resumed],
             initial_epoch=resumed.initial_epoch)

    for a, b in zip(again.get_weights(), straight.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    final = Replay.load(path)
    reference = ref.replay()
    assert list(final.epochs) == list(range(7))
    np.testing.assert_allclose(final.metrics["probe_loss"], reference.metrics["probe_loss"],
                               rtol=1e-5)
    assert final.checkpoint["epoch"] == 6  # a later resume could extend training further


def test_resume_with_renamed_layers_is_a_clear_error(tmp_path: Path) -> None:
    x, y = moons(64)
    model = seed000_model(0)
    rec = ReplayRecorder(x, y, path=tmp_path / "run.npz", checkpoint_every=1)
    fit_fast(model, x, y, epochs=1, batch_size=32, callbacks=[rec])
    other = keras.Sequential([
        keras.Input((2,)), keras.layers.Dense(4, activation="tanh", name="renamed"),
        keras.layers.Dense(2, activation="tanh", name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ])
    other.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy")
    resumed = ReplayRecorder.resume_from(tmp_path / "run.npz", other)
    with pytest.raises(PipelineError, match="name the layers explicitly"):
        fit_fast(other, x, y, epochs=2, batch_size=32, callbacks=[resumed],
                 initial_epoch=resumed.initial_epoch)


def test_resume_needs_a_checkpoint(tmp_path: Path) -> None:
    x, y = moons(64)
    model = seed000_model(0)
    rec = ReplayRecorder(x, y, path=tmp_path / "plain.npz")
    fit_fast(model, x, y, epochs=1, batch_size=32, callbacks=[rec])
    with pytest.raises(PipelineError, match="no checkpoint"):
        ReplayRecorder.resume_from(tmp_path / "plain.npz", seed000_model(0))

"""The fast training path: data cached in memory as tensors and one compiled call per epoch.

Why: ``model.fit`` on numpy arrays spends most of its time outside the model for the small
networks the explainers train. It converts each batch in Python and returns to Python after
every step; the seed-000 moons model (200 epochs, batch 16) takes 31-46 s that way on two CPU
cores. Holding the arrays as tensors and running a whole epoch of the model's own
``train_step`` inside one compiled call (``tf.while_loop`` on TensorFlow; on JAX one jitted
step per batch over device data: :mod:`pipeline.library.backends`) brings that to a few seconds with the same
arithmetic, so the same loss from the same initial weights, and Keras' epoch-level callbacks
(History, EarlyStopping, the replay recorder, :class:`DivergenceGuard`) work unchanged.

Shuffling depends only on ``(seed, epoch)`` (a stateless shuffle per epoch), so a run resumed
at epoch k from a checkpoint sees exactly the batches an uninterrupted run would have seen.

This module imports Keras at import time; only recipes, tests and benchmarks import it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

import keras
import numpy as np

from pipeline.library.errors import PipelineError, TrainingDiverged

log = logging.getLogger(__name__)

__all__ = ["DivergenceGuard", "fit_fast", "float32_copy", "start_fit_fast"]


def _as_model_array(a: Any) -> np.ndarray:
    """numpy array with floats in Keras' floatx, as ``fit`` would convert them."""
    arr = np.asarray(a)
    if arr.dtype.kind == "f" and arr.dtype != np.dtype(keras.config.floatx()):
        arr = arr.astype(keras.config.floatx())
    return arr


def _num_rows(structure: Any) -> int:
    sizes = {len(a) for a in keras.tree.flatten(structure)}
    if len(sizes) != 1:
        raise PipelineError(f"inputs and targets have different numbers of rows: {sorted(sizes)}")
    return sizes.pop()


def _epoch_function(
    model: keras.Model, x: Any, y: Any, *, batch_size: int, shuffle: bool, seed: int,
    training: bool,
) -> tuple[Callable[[int], Any], int]:
    """One compiled call per epoch over in-memory data, from the backend's module.

    The data is checked and converted here (the same on every backend); how an epoch is
    compiled is backend-specific (:mod:`pipeline.library.backends`: ``tf.while_loop``, a jitted step
    per batch on JAX, a loop over device tensors for PyTorch).
    """
    from pipeline.library import backends

    x = keras.tree.map_structure(_as_model_array, x)
    y = keras.tree.map_structure(_as_model_array, y)
    n = _num_rows((x, y))
    if n == 0:
        raise PipelineError("no training data: x has 0 rows")
    if batch_size < 1:
        raise PipelineError(f"batch_size must be positive, got {batch_size}")
    return backends.current().epoch_runner(
        model, x, y, batch_size=batch_size, shuffle=shuffle, seed=seed, training=training
    )


def _step_logs(callbacks: Iterable[Any], epoch: int, step_logs: Any) -> None:
    """Give backends' per-step logs to callbacks that want them (``on_epoch_steps``)."""
    if not isinstance(step_logs, dict):
        return
    for cb in callbacks:
        hook = getattr(cb, "on_epoch_steps", None)
        if hook is not None:
            hook(epoch, step_logs)


def fit_fast(
    model: keras.Model,
    x: Any,
    y: Any,
    *,
    epochs: int,
    batch_size: int,
    validation_data: Any = None,
    callbacks: Iterable[keras.callbacks.Callback] = (),
    shuffle: bool = True,
    seed: int = 0,
    verbose: int = 0,
    initial_epoch: int = 0,
    validation_batch_size: int | None = None,
) -> keras.callbacks.History:
    """Train like ``model.fit(x, y, epochs=..., batch_size=...)``, several times faster.

    The model must be compiled; each batch runs the model's own ``train_step`` (its optimizer,
    loss, metrics and any override), but a whole epoch runs inside one compiled call, over
    in-memory tensors, like ``fit`` with ``steps_per_execution`` equal to an epoch. The loop
    drives Keras callbacks through ``keras.callbacks.CallbackList`` exactly as ``fit`` does at
    epoch level (``on_train_begin``, ``on_epoch_begin``/``end`` with the epoch's metrics and
    ``val_*``, ``model.stop_training``, ``on_train_end``); batch hooks are called once per
    epoch. :class:`DivergenceGuard` instances are moved to the end of the callback list so that
    the other callbacks (a replay recorder) finish before it raises.

    Shuffling depends only on ``(seed, epoch)``, so with ``initial_epoch`` (for example
    ``ReplayRecorder.resume_from(...).initial_epoch``) a resumed run sees the same batches as an
    uninterrupted one. Not supported (use ``model.fit``): sample or class weights, generators,
    distribution strategies. Returns Keras' ``History``.
    """
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise PipelineError("fit_fast: compile the model first (model.compile(optimizer, loss))")
    if epochs < initial_epoch:  # equal is a no-op, as in fit: a resumed run that had finished
        raise PipelineError(
            f"fit_fast: epochs ({epochs}) must not be less than initial_epoch ({initial_epoch})"
        )
    if not model.built:
        raise PipelineError("fit_fast: build the model first (start it with keras.Input(shape))")
    run_epoch, steps = _epoch_function(
        model, x, y, batch_size=batch_size, shuffle=shuffle, seed=seed, training=True
    )
    run_validation = None
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise PipelineError("fit_fast: validation_data must be (x_val, y_val)")
        run_validation, _ = _epoch_function(
            model, validation_data[0], validation_data[1],
            batch_size=validation_batch_size or max(batch_size, 1024), shuffle=False, seed=0,
            training=False,
        )
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)

    cbs = list(callbacks)
    cbs = [c for c in cbs if not isinstance(c, DivergenceGuard)] + [
        c for c in cbs if isinstance(c, DivergenceGuard)
    ]
    callback_list = keras.callbacks.CallbackList(
        cbs, add_history=True, add_progbar=verbose != 0, verbose=verbose, epochs=epochs,
        steps=steps, model=model,
    )
    start = time.perf_counter()
    model.stop_training = False
    callback_list.on_train_begin()
    logs: dict[str, Any] = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        callback_list.on_train_batch_begin(0)
        _step_logs(cbs, epoch, run_epoch(epoch))
        logs = dict(model.get_metrics_result())
        callback_list.on_train_batch_end(steps - 1, logs)
        epoch_logs = dict(logs)
        if run_validation is not None:
            model.reset_metrics()
            run_validation(0)
            epoch_logs.update({f"val_{k}": v for k, v in model.get_metrics_result().items()})
        callback_list.on_epoch_end(epoch, epoch_logs)
        logs = epoch_logs
        if model.stop_training:
            break
    model.optimizer.finalize_variable_values(model.trainable_variables)
    callback_list.on_train_end(logs)
    history = model.history
    log.info(
        "fit_fast: %d epochs x %d steps in %.2f s",
        len(history.epoch), steps, time.perf_counter() - start,
    )
    return history


def start_fit_fast(model: keras.Model, x: Any, y: Any, **fit_kwargs: Any
                   ) -> Future[keras.callbacks.History]:
    """Start :func:`fit_fast` of a second, independent model in a background thread.

    Why: the small models of an explainer spend their epochs inside one compiled call that
    releases the GIL, and a single model of that size keeps one core busy. A recipe that also
    trains a comparison model (the seed-000 explainer's seed-42 run) trains it beside its main
    model instead of after it. How much that saves depends on TensorFlow's inter-op threads:
    measured on two cores for the two seed-000 runs, 10.3 s -> 6.1 s with two, 9.5 s -> 8.7 s
    with the one a build's kernel gets on such a machine (``NNX_KERNEL_THREADS``).

    The result does not depend on the overlap: shuffling depends only on ``(seed, epoch)``, the
    initial weights were drawn when the model was built, and nothing is shared with the other
    model (tested: the weights equal those of a serial run, bit for bit). Build both models
    first, so that neither build's ``keras.utils.set_random_seed`` lands in the middle of the
    other's training, and give this model its own callbacks. ``future.result()`` returns the
    ``History`` or raises what ``fit_fast`` raised (a :class:`~pipeline.library.errors.TrainingDiverged`,
    for example). The thread is a daemon, so a recipe that fails first does not wait for it.
    """
    future: Future[keras.callbacks.History] = Future()

    def train() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fit_fast(model, x, y, **fit_kwargs))
        except BaseException as exc:  # handed to whoever calls future.result()
            future.set_exception(exc)

    threading.Thread(target=train, name=f"fit_fast {model.name}", daemon=True).start()
    return future


def _float32_policies(config: Any) -> Any:
    """``config`` with every mixed-precision dtype policy replaced by plain float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and str(
            config.get("config", {}).get("name", "")
        ).startswith("mixed_"):
            return {**config, "config": {**config["config"], "name": "float32"}}
        return {k: _float32_policies(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_float32_policies(v) for v in config]
    if isinstance(config, str) and config.startswith("mixed_"):
        return "float32"
    return config


def float32_copy(model: keras.Model) -> keras.Model:
    """The same network computing in float32, with the same (float32) weights.

    Why: the full profile trains with mixed precision on a GPU (float16 compute is faster
    there), but the pictures drawn afterwards must not carry float16 rounding: integrated
    gradients promise completeness within 1 %, and activation grids are compared with the
    layer outputs. Mixed precision keeps its variables in float32, so the copy holds exactly
    the trained weights; only the arithmetic changes. A float32 model is returned as is.
    """
    policies = {layer.dtype_policy.name for layer in model.layers}
    if not any(name.startswith("mixed_") for name in policies):
        return model
    config = _float32_policies(model.get_config())
    try:
        copy = model.__class__.from_config(config)
    except Exception as exc:  # custom layers that cannot be rebuilt from their config
        raise PipelineError(
            f"float32_copy: cannot rebuild {model.name!r} from its config ({exc}); rebuild the "
            "model with keras.mixed_precision.set_global_policy('float32') and copy the weights"
        ) from exc
    copy.set_weights(model.get_weights())
    return copy


def _current_learning_rate(model: keras.Model) -> float | None:
    opt = getattr(model, "optimizer", None)
    if opt is None:
        return None
    try:
        lr = opt.learning_rate  # the current value, also for schedules
        return float(np.asarray(lr.numpy() if hasattr(lr, "numpy") else lr))
    except Exception:  # wrappers that cannot report a number
        return None


class DivergenceGuard(keras.callbacks.Callback):
    """Stop training when the loss becomes NaN or infinite, and say when and at which rate.

    Why: a diverged run otherwise keeps going for hundreds of epochs of NaN and the page shows
    empty plots with no explanation. The guard stops training at the end of the epoch whose
    loss is not finite, keeps the error as :attr:`error` (a
    :class:`pipeline.library.errors.TrainingDiverged` carrying the epoch number, counted from 1, the
    learning rate and the loss) and, with ``raise_error=True``, raises it when training ends so a
    recipe can catch it and show it on the page. It raises from ``on_train_end`` rather than at
    once so that callbacks before it (a replay recorder saving its file) still run.
    """

    def __init__(self, monitor: str = "loss", *, raise_error: bool = True) -> None:
        super().__init__()
        self.monitor = monitor
        self.raise_error = raise_error
        self.error: TrainingDiverged | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Forget an error from a previous ``fit`` call."""
        self.error = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Check the epoch's loss; stop training if it is not finite."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        loss = float(np.asarray(value))
        if math.isfinite(loss):
            return
        self.error = TrainingDiverged(epoch + 1, _current_learning_rate(self.model), loss)
        log.warning("%s", self.error)
        self.model.stop_training = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Raise the recorded divergence, if any and if asked to."""
        if self.error is not None and self.raise_error:
            raise self.error

"""TensorFlow backend: one ``tf.function`` per epoch, ``GradientTape`` gradients.

This is the reference backend: the epoch loop is the one ``pipeline.library.training`` has always used,
so its numbers are unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pipeline.library.errors import PipelineError


def _num_rows(structure: Any) -> int:
    import tensorflow as tf

    sizes = {len(a) for a in tf.nest.flatten(structure)}
    if len(sizes) != 1:
        raise PipelineError(f"inputs and targets have different numbers of rows: {sorted(sizes)}")
    return sizes.pop()


def _epoch_function(
    step: Callable[[Any], Any], x: Any, y: Any, *, batch_size: int, shuffle: bool, seed: int
) -> tuple[Callable[[Any], Any], int]:
    """One compiled function that runs ``step`` over every batch of one epoch.

    The arrays are converted to tensors once and stay in memory (on the device); each call
    gathers the epoch's permutation once and slices batches inside a ``tf.while_loop``. This is
    what a ``tf.data`` pipeline would feed, without the iterator machinery that costs more
    than the model for small networks (measured: ``fit`` on a cached, shuffled ``tf.data``
    dataset with ``steps_per_execution`` = one epoch is 1.6-2.5x slower on the seed-000 model;
    a ``tf.data`` loop inside the function, 4x slower). ``parallel_iterations=1`` keeps the
    steps strictly in order, as in ``fit``.
    """
    import tensorflow as tf

    n = _num_rows((x, y))
    steps = math.ceil(n / batch_size)
    # tf.identity copies the data once to the default device (the GPU when there is one), so
    # the compiled epoch does not copy it from host memory on every call.
    xt = tf.nest.map_structure(lambda a: tf.identity(tf.constant(a)), x)
    yt = tf.nest.map_structure(lambda a: tf.identity(tf.constant(a)), y)
    seed_t = tf.constant(int(seed), dtype=tf.int64)

    @tf.function(autograph=False, reduce_retracing=True)
    def run_epoch(epoch: Any) -> Any:
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(
                tf.range(n), seed=tf.stack([seed_t, epoch])
            )
            xe = tf.nest.map_structure(lambda t: tf.gather(t, order), xt)
            ye = tf.nest.map_structure(lambda t: tf.gather(t, order), yt)
        else:
            xe, ye = xt, yt

        def body(i: Any) -> tuple[Any]:
            lo = i * batch_size
            xb = tf.nest.map_structure(lambda t: t[lo : lo + batch_size], xe)
            yb = tf.nest.map_structure(lambda t: t[lo : lo + batch_size], ye)
            step((xb, yb))
            return (i + 1,)

        tf.while_loop(lambda i: i < steps, body, (tf.constant(0),), parallel_iterations=1)
        return tf.constant(0)

    return run_epoch, steps


def epoch_runner(
    model: Any, x: Any, y: Any, *, batch_size: int, shuffle: bool, seed: int, training: bool
) -> tuple[Callable[[int], None], int]:
    """``run_epoch(epoch)`` over the model's ``train_step`` / ``test_step`` (see package doc)."""
    import tensorflow as tf

    step = model.train_step if training else model.test_step
    if getattr(model, "jit_compile", False):  # as fit does: XLA per step where Keras chose it
        step = tf.function(step, jit_compile=True, reduce_retracing=True)
    run, steps = _epoch_function(step, x, y, batch_size=batch_size, shuffle=shuffle, seed=seed)

    def run_epoch(epoch: int) -> None:
        run(tf.constant(epoch, dtype=tf.int64))

    return run_epoch, steps


def input_gradients(
    fn: Callable[[Any], Any], x: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Scores ``fn(x)`` and their gradients with respect to ``x`` (``GradientTape``)."""
    import tensorflow as tf

    xt = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        s = fn(xt)
    g = tape.gradient(s, xt)
    return np.asarray(s), (None if g is None else np.asarray(g))


def probe_function(
    probe_model: Any, loss_fn: Callable[[Any, Any], Any], grad_vars: Sequence[Any],
    read_vars: Sequence[Any], want_grads: bool,
) -> Callable[[np.ndarray, np.ndarray], tuple[list, Any, list, list]]:
    """The replay recorder's probe call: outputs, per-sample loss, gradients, variable values."""
    import tensorflow as tf

    def as_list(out: Any) -> list:
        return list(out) if isinstance(out, (list, tuple)) else [out]

    @tf.function(reduce_retracing=True)
    def probe_step(x: Any, y: Any) -> tuple[Any, Any, Any, Any]:
        if want_grads:
            with tf.GradientTape() as tape:
                outs = as_list(probe_model(x, training=False))
                per_sample = loss_fn(y, outs[-1])
                mean = tf.reduce_mean(per_sample)
            grads = tape.gradient(mean, list(grad_vars))
        else:
            outs = as_list(probe_model(x, training=False))
            per_sample = loss_fn(y, outs[-1])
            grads = []
        values = [tf.identity(v.value) for v in read_vars]
        return outs, per_sample, grads, values

    return probe_step


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN CPU kernels (``TF_ENABLE_ONEDNN_OPTS``, read at import).

    Why: the CPU's bfloat16 matrix units (AMX-BF16, AVX512-BF16) are used only through oneDNN;
    without it bfloat16 is emulated and much slower than float32
    (:mod:`pipeline.library.precision`).
    """
    try:
        from tensorflow.python.util import _pywrap_util_port  # type: ignore[import-untyped]
    except ImportError:  # a TensorFlow without the probe: what this process was started with
        from pipeline.library.precision import onednn_requested

        return onednn_requested()
    return bool(_pywrap_util_port.IsMklEnabled())


def visible_gpus() -> list[str]:
    """Names of the GPUs TensorFlow computes on (empty for tensorflow-cpu)."""
    import tensorflow as tf

    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
        except Exception:  # details are best effort
            names.append(gpu.name)
    return names


def exact_float32() -> None:
    """No TF32 for matmuls and convolutions (recent NVIDIA GPUs use it by default)."""
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(False)

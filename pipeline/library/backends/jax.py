"""JAX backend: Keras' stateless step, jitted once, over device-resident data.

Why: Keras' JAX ``train_step(state, data) -> (logs, state)`` is a pure function of the model's
variables, so one jitted call per batch (state donated, data already on the device, batches
sliced there) runs the model's own step without ``fit``'s per-batch host conversion. The
variables are read once per epoch and written back once after it. A whole epoch inside one
``lax.scan`` was tried first: on XLA:CPU it made a small CNN 10x slower than ``model.fit``
(convolutions inside the loop body lose their fast path), so the loop stays in Python; the
dispatch cost per batch is microseconds. Each step's logs are returned, which is how
:func:`pipeline.library.explainers.cifar_views.batch_recorder` gets per-batch curves here (``on_epoch_steps``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pipeline.library.backends import shuffle_order

STEP_LOGS_HOOK = "on_epoch_steps"


def _state(model: Any, training: bool) -> tuple:
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    metrics = [v.value for v in model.metrics_variables]
    if training:
        return (trainable, non_trainable, [v.value for v in model.optimizer.variables], metrics)
    return (trainable, non_trainable, metrics)


def _write_back(model: Any, state: tuple, training: bool) -> None:
    groups = [model.trainable_variables, model.non_trainable_variables]
    if training:
        groups.append(model.optimizer.variables)
    groups.append(model.metrics_variables)
    for refs, values in zip(groups, state, strict=True):
        for ref, value in zip(refs, values, strict=True):
            ref.assign(value)


def epoch_runner(
    model: Any, x: Any, y: Any, *, batch_size: int, shuffle: bool, seed: int, training: bool
) -> tuple[Callable[[int], dict[str, np.ndarray]], int]:
    """``run_epoch(epoch)`` as one jitted call; returns each step's logs as numpy arrays."""
    import jax
    import jax.numpy as jnp
    from keras import tree

    n = len(tree.flatten(x)[0])
    steps = math.ceil(n / batch_size)
    full, rest = divmod(n, batch_size)
    xd = tree.map_structure(jnp.asarray, x)  # on the default device (the GPU when there is one)
    yd = tree.map_structure(jnp.asarray, y)
    model._symbolic_build(data_batch=(tree.map_structure(lambda t: t[:1], xd),
                                      tree.map_structure(lambda t: t[:1], yd)))
    step_fn = model.train_step if training else model.test_step

    def step(state: tuple, batch: tuple) -> tuple[tuple, dict]:
        logs, state = step_fn(state, batch)
        return state, {k: jnp.asarray(v, jnp.float32) for k, v in logs.items()}

    # The state is donated: XLA updates the variables in place instead of copying them.
    compiled = jax.jit(step, donate_argnums=0)
    gather = jax.jit(lambda t, order: jnp.take(t, order, axis=0))
    sizes = np.full(steps, batch_size, dtype=np.float32)
    if rest:
        sizes[-1] = rest

    def run_epoch(epoch_index: int) -> dict[str, np.ndarray]:
        if shuffle:
            order = jnp.asarray(shuffle_order(n, seed, epoch_index))
            xe = tree.map_structure(lambda t: gather(t, order), xd)
            ye = tree.map_structure(lambda t: gather(t, order), yd)
        else:
            xe, ye = xd, yd
        state = _state(model, training)
        per_step = []
        for i in range(steps):
            lo = i * batch_size
            batch = (tree.map_structure(lambda t, lo=lo: t[lo : lo + batch_size], xe),
                     tree.map_structure(lambda t, lo=lo: t[lo : lo + batch_size], ye))
            state, logs = compiled(state, batch)
            per_step.append(logs)
        _write_back(model, state, training)
        out = {k: np.asarray(jnp.stack([d[k] for d in per_step])) for k in per_step[0]}
        out["batch_size"] = sizes
        return out

    return run_epoch, steps


def input_gradients(
    fn: Callable[[Any], Any], x: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """Scores ``fn(x)`` and their gradients with respect to ``x`` (``jax.vjp``)."""
    import jax
    import jax.numpy as jnp

    s, pullback = jax.vjp(fn, jnp.asarray(x, dtype=jnp.float32))
    (g,) = pullback(jnp.ones_like(s))
    return np.asarray(s), np.asarray(g)


def probe_function(
    probe_model: Any, loss_fn: Callable[[Any, Any], Any], grad_vars: Sequence[Any],
    read_vars: Sequence[Any], want_grads: bool,
) -> Callable[[np.ndarray, np.ndarray], tuple[list, Any, list, list]]:
    """The replay recorder's probe call, jitted; gradients by ``jax.value_and_grad``."""
    import jax
    import jax.numpy as jnp
    import keras

    grad_vars = list(grad_vars)

    def as_list(out: Any) -> list:
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def forward(values: list, x: Any, y: Any) -> tuple[Any, tuple[list, Any]]:
        with keras.StatelessScope(state_mapping=list(zip(grad_vars, values, strict=True))):
            outs = as_list(probe_model(x, training=False))
            per_sample = loss_fn(y, outs[-1])
        return jnp.mean(per_sample), (outs, per_sample)

    @jax.jit
    def probe(values: list, x: Any, y: Any) -> tuple:
        if want_grads:
            (_, (outs, per_sample)), grads = jax.value_and_grad(forward, has_aux=True)(values, x, y)
        else:
            _, (outs, per_sample) = forward(values, x, y)
            grads = []
        return outs, per_sample, grads

    def probe_step(x: Any, y: Any) -> tuple[list, Any, list, list]:
        outs, per_sample, grads = probe([v.value for v in grad_vars], x, y)
        return outs, per_sample, list(grads), [v.value for v in read_vars]

    return probe_step


def visible_gpus() -> list[str]:
    """Names of the GPUs JAX computes on (empty for the CPU build)."""
    import jax

    try:
        return [d.device_kind for d in jax.devices("gpu")]
    except RuntimeError:  # no GPU backend in this jaxlib
        return []


def exact_float32() -> None:
    """Full float32 precision for matmuls and convolutions (no TF32 / bf16 passes on GPUs)."""
    import jax

    jax.config.update("jax_default_matmul_precision", "highest")

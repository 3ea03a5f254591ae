"""The few things that differ between Keras backends, behind one small interface.

Why: Keras 3 runs the same models on TensorFlow, JAX and PyTorch, and ``keras.ops`` covers
almost everything the library computes. Three things have no ``keras.ops`` spelling: running a
training epoch fast over in-memory data (one ``tf.while_loop`` call on TensorFlow, one jitted
step per batch on JAX, a plain loop for PyTorch), taking gradients (``GradientTape``, ``jax.vjp``, ``torch.autograd``) and the
GPU switches (which devices the backend sees, TF32 matmuls). Each backend answers them in its own
module; :func:`current` returns the module for ``keras.backend.backend()``. The modules import
their framework lazily, so importing this package imports nothing heavy.

Common interface (every backend module defines these):

- ``epoch_runner(model, x, y, *, batch_size, shuffle, seed, training) -> (run_epoch, steps)``:
  ``run_epoch(epoch)`` runs the model's own ``train_step`` (``training=True``) or
  ``test_step`` over every batch of the data once, updating the model's variables and metrics.
- ``input_gradients(fn, x) -> (values, grads)``: ``fn`` maps a float32 batch to one score per
  sample; returns the scores and d(score)/d(x) as numpy arrays (None: no gradient, the score
  does not depend on ``x``).
- ``probe_function(probe_model, loss_fn, grad_vars, read_vars, want_grads)``: the replay
  recorder's one call per epoch: ``(outputs, per-sample loss, mean-loss gradients, values)``.
- ``visible_gpus() -> list[str]``: GPU names the backend will compute on.
- ``exact_float32()``: turn off TF32 matmuls/convolutions (exact float32 on recent GPUs).
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["BACKENDS", "current", "name", "shuffle_order"]

BACKENDS = ("tensorflow", "jax", "torch")


def name() -> str:
    """The Keras backend in use (``keras.backend.backend()``)."""
    import keras

    return str(keras.backend.backend())


def current() -> ModuleType:
    """The module of :mod:`pipeline.library.backends` for the Keras backend in use."""
    backend = name()
    if backend not in BACKENDS:
        from pipeline.library.errors import PipelineError

        raise PipelineError(
            f"Keras backend {backend!r} is not supported by the pipeline; set KERAS_BACKEND to "
            f"one of {', '.join(BACKENDS)}."
        )
    return importlib.import_module(f"pipeline.library.backends.{backend}")


def shuffle_order(n: int, seed: int, epoch: int):  # noqa: ANN201 (numpy array)
    """The epoch's permutation of ``n`` rows for the JAX and PyTorch backends.

    It depends only on ``(seed, epoch)``, so a resumed run sees the batches an uninterrupted
    one would. (The TensorFlow backend keeps its own stateless shuffle, so its numbers stay as
    they were; the backends agree exactly when ``shuffle=False``.)
    """
    import numpy as np

    return np.random.default_rng([int(seed), int(epoch)]).permutation(n)

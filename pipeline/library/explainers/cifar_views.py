"""Helpers for the CIFAR-10 all-convolutional explainer (seed 003).

What :mod:`pipeline.library.inspection`, :mod:`pipeline.library.attribution` and :mod:`pipeline.library.replay` do not
cover, and the recipe ``content/cifar/inside-an-all-convolutional-net.recipe.py`` needs:

* :func:`all_conv_net`: the seed's network (nine 3x3 ELU convolutions, mean pooling after the
  third and the sixth, global average pooling, a 10-way softmax read-out) with its width as a
  parameter, so the quick build can train a narrow copy on two CPU cores;
* :func:`load_cifar10_for_build`: the largest real CIFAR-10 data this machine has (the Keras
  loader's 50,000 / 10,000 images when it works, else the offline JPEG pool), with one sentence
  saying exactly which, for the page;
* :func:`batch_recorder` and :func:`per_batch_values`: the training loss and accuracy of every
  batch, which :func:`pipeline.library.training.fit_fast` (one compiled call per epoch) does not report;
* :func:`integrated_gradients_same_steps`: integrated gradients for several images at one
  common step count, doubled until every completeness gap is below a tolerance, so the page can
  state one step count and one measured gap;
* :func:`pick_examples`: which test images to explain (correct predictions of distinct classes
  first).

Keras and TensorFlow are imported inside functions: importing this module is cheap and has no
side effects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.library.errors import DatasetUnavailable, PipelineError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras

    from pipeline.library.attribution import IntegratedGradients
    from pipeline.library.datasets import ArrayPair, DataSource

log = logging.getLogger(__name__)

__all__ = [
    "ACTIVATION_LAYERS",
    "CONV_LAYERS",
    "CifarData",
    "all_conv_net",
    "batch_recorder",
    "integrated_gradients_same_steps",
    "load_cifar10_for_build",
    "per_batch_values",
    "pick_examples",
]

#: Names of the nine convolutions of :func:`all_conv_net`, in order.
CONV_LAYERS: tuple[str, ...] = tuple(f"conv{i}" for i in range(1, 10))
#: The layers whose activations seed 003 shows ("after layers 3, 6 and 9").
ACTIVATION_LAYERS: tuple[str, ...] = ("conv3", "conv6", "conv9")


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------


def all_conv_net(
    width: int = 128,
    *,
    mean: Sequence[float] | None = None,
    variance: Sequence[float] | None = None,
    n_classes: int = 10,
    pool_after: Sequence[int] = (3, 6),
    input_shape: tuple[int, int, int] = (32, 32, 3),
    name: str = "all_conv_net",
) -> keras.Sequential:
    """The all-convolutional net of seed 003 (after Springenberg et al. 2015), uncompiled.

    ``normalize`` (per-channel standardisation with the training set's ``mean`` and
    ``variance``, so the model takes raw pixels in [0, 1] and a black image is exactly 0, the
    integrated-gradients baseline) -> ``conv1`` ... ``conv9`` (3x3, ``width`` channels, ``same``
    padding, ELU, He-normal initialisation) with 2x2 mean pooling (``pool1``, ``pool2``) after
    the convolutions in ``pool_after`` -> ``gap`` (global average pooling) -> ``readout``
    (a ``Dense(n_classes, softmax)``).

    The read-out is the All-CNN's last 1x1 convolution to ``n_classes`` channels moved after the
    average: both are linear, so they commute and the two networks compute the same function.
    Keeping ``conv9`` at ``width`` channels is what lets the page show its first 27 channels.
    Every layer is named, so a replay recorded in one process resumes in another.
    """
    import keras

    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise PipelineError(f"all_conv_net: width must be a positive integer, got {width!r}.")
    bad = [p for p in pool_after if not 1 <= int(p) <= 9]
    if bad:
        raise PipelineError(
            f"all_conv_net: pool_after={list(pool_after)} names convolutions outside 1..9."
        )
    channels = input_shape[-1]
    mean_arr = np.full(channels, 0.5) if mean is None else np.asarray(mean, dtype=np.float64)
    var_arr = np.full(channels, 0.25**2) if variance is None else np.asarray(variance, np.float64)
    if mean_arr.shape != (channels,) or var_arr.shape != (channels,) or np.any(var_arr <= 0):
        raise PipelineError(
            f"all_conv_net: mean and variance must be {channels} per-channel values with a "
            f"positive variance, got {mean_arr.tolist()} and {var_arr.tolist()}."
        )
    layers: list[Any] = [
        keras.Input(shape=input_shape, name="image"),
        keras.layers.Normalization(
            axis=-1, mean=mean_arr.tolist(), variance=var_arr.tolist(), name="normalize"
        ),
    ]
    n_pool = 0
    for i in range(1, 10):
        layers.append(
            keras.layers.Conv2D(
                int(width),
                (3, 3),
                padding="same",
                activation="elu",
                kernel_initializer="he_normal",
                name=f"conv{i}",
            )
        )
        if i in {int(p) for p in pool_after}:
            n_pool += 1
            layers.append(keras.layers.AveragePooling2D((2, 2), name=f"pool{n_pool}"))
    layers += [
        keras.layers.GlobalAveragePooling2D(name="gap"),
        # float32 even under mixed precision: a float16 softmax loses small probabilities
        keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="readout"),
    ]
    return keras.Sequential(layers, name=name)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CifarData:
    """The arrays a build trains on, their :class:`DataSource`, and a sentence for the page."""

    train: ArrayPair
    test: ArrayPair
    source: DataSource
    summary: str
    full_dataset: bool


def load_cifar10_for_build(
    data_dir: str | os.PathLike[str] | None,
    *,
    prefer_full: bool,
    train_per_class: int,
    test_per_class: int,
) -> CifarData:
    """The largest real CIFAR-10 data available, with an exact sentence about it.

    ``prefer_full``: all 50,000 training and 10,000 test images through the Keras loader (its
    cache, else its download); offline, the same images from the verified JPEG copy
    (:func:`pipeline.library.datasets.load_cifar10_jpeg_full`). When neither is there, and always when
    ``prefer_full`` is False,
    the offline pool (:func:`pipeline.library.datasets.load_cifar10_offline_pool`): ``train_per_class``
    and ``test_per_class`` images per class, all taken from the JPEG copy of the official test
    set (test images 0-19 replaced by their exact lossless originals). The summary says which,
    so the page never claims the full dataset when it did not use it.
    """
    from pipeline.library import datasets

    if prefer_full:
        try:
            train, test, src = datasets.load_cifar10(data_dir, source="keras")
        except DatasetUnavailable as exc:
            log.info("full CIFAR-10 not available (%s); using the offline JPEG pool", exc)
        else:
            n_tr, n_te = len(train[0]), len(test[0])
            how = "the Keras dataset cache" if src.origin == "keras-cache" else "a Keras download"
            summary = (
                f"the real CIFAR-10 training set ({n_tr:,} images) and test set ({n_te:,} "
                f"images), loaded from {how}"
            )
            return CifarData(train, test, src, summary, n_tr >= 50_000 and n_te >= 10_000)
        try:
            train, test, src = datasets.load_cifar10_jpeg_full(data_dir)
        except DatasetUnavailable as exc:
            log.info("the offline JPEG copy of CIFAR-10 is not there either (%s)", exc)
        else:
            n_tr, n_te = len(train[0]), len(test[0])
            summary = (
                f"the CIFAR-10 training set ({n_tr:,} images) and test set ({n_te:,} images) from "
                "the offline JPEG copy (lossy: about 6/255 per pixel; test images 0-19 are the "
                "exact lossless originals), because the Keras loader was not available"
            )
            return CifarData(train, test, src, summary, n_tr >= 50_000 and n_te >= 10_000)
    train, test, src = datasets.load_cifar10_offline_pool(
        data_dir, train_per_class=train_per_class, test_per_class=test_per_class
    )
    n_tr, n_te = len(train[0]), len(test[0])
    summary = (
        f"{n_tr:,} training images ({_per_class(train[1])}) and {n_te:,} test images "
        f"({_per_class(test[1])}), all taken from the offline JPEG copy of the official "
        "10,000-image CIFAR-10 test set (none of the 50,000 official training images); test "
        "images 0-19 are the exact lossless originals. Because training and test images both "
        "come from the official test set, and JPEG changes pixels by about 6/255, the "
        "accuracy here is not comparable with published CIFAR-10 numbers"
    )
    return CifarData(train, test, src, summary, False)


def _per_class(labels: np.ndarray) -> str:
    """``"100 per class"``, or the range when classes differ (the exact test images 0-19 can
    push a class above ``test_per_class``)."""
    counts = np.bincount(np.asarray(labels).reshape(-1).astype(int), minlength=10)
    lo, hi = int(counts.min()), int(counts.max())
    return f"{lo} per class" if lo == hi else f"{lo}-{hi} per class"


# --------------------------------------------------------------------------------------------
# Per-batch training curves
# --------------------------------------------------------------------------------------------


def per_batch_values(
    running: np.ndarray, batch_sizes: np.ndarray, epoch_starts: Sequence[int],
    *, fraction: bool = False,
) -> np.ndarray:
    """Each batch's own value from the running means Keras reports after every batch.

    Keras's ``loss`` and ``accuracy`` after batch ``k`` of an epoch are sample-weighted means
    over the epoch's batches so far, ``m_k = (sum_{j<=k} w_j v_j) / W_k`` with ``W_k`` the
    samples seen. So the batch's own value is ``v_k = (W_k m_k - W_{k-1} m_{k-1}) / w_k``, with
    the sums restarting at every epoch (``epoch_starts``: index of each epoch's first batch).

    ``fraction=True`` (accuracy): a batch's value is a count over its ``w_k`` samples, so it is
    snapped to the nearest ``j / w_k``. Why: Keras keeps the running mean in float32, and the
    difference above multiplies its rounding by ``W_k / w_k`` (a 4-image last batch after 2,496
    images gives -5e-6 instead of 0).
    """
    m = np.asarray(running, dtype=np.float64)
    w = np.asarray(batch_sizes, dtype=np.float64)
    if m.shape != w.shape or m.ndim != 1:
        raise PipelineError(
            f"per_batch_values: running means {m.shape} and batch sizes {w.shape} must be two "
            "1-D arrays of the same length."
        )
    if np.any(w <= 0):
        raise PipelineError("per_batch_values: batch sizes must be positive.")
    starts = sorted({int(s) for s in epoch_starts} | {0})
    if starts[-1] > len(m) or starts[0] < 0:
        raise PipelineError(f"per_batch_values: epoch starts {starts} outside 0..{len(m)}.")
    out = np.empty_like(m)
    for lo, hi in zip(starts, [*starts[1:], len(m)], strict=True):
        if lo >= hi:
            continue
        cum_w = np.cumsum(w[lo:hi])
        totals = cum_w * m[lo:hi]
        out[lo:hi] = np.diff(totals, prepend=0.0) / w[lo:hi]
    if fraction:
        out = np.clip(np.round(out * w) / w, 0.0, 1.0)
    return out


def _batch_curves(sizes: np.ndarray, running: dict[str, np.ndarray], epoch_starts: Sequence[int],
                  epochs: Sequence[int]) -> dict[str, np.ndarray]:
    """The batch recorders' ``curves``: each metric's running means and per-batch values, and
    an ``epoch`` x position per batch (batch k of epoch e at ``e + (k + 1) / batches``)."""
    n = len(sizes)
    w = np.asarray(sizes, dtype=np.float64)
    starts = [s for s in epoch_starts if s < n] or [0]
    out: dict[str, np.ndarray] = {"batch_size": w}
    for name, values in running.items():
        m = np.asarray(values, dtype=np.float64)
        out[f"running_{name}"] = m
        out[name] = per_batch_values(m, w, starts, fraction="accuracy" in name)
    pos = np.empty(n)
    bounds = [*starts[1:], n]
    for lo, hi, e in zip(starts, bounds, list(epochs[: len(starts)]) or [0], strict=False):
        k = np.arange(hi - lo)
        pos[lo:hi] = e + (k + 1) / max(hi - lo, 1)
    out["epoch"] = pos
    return out


def batch_recorder(
    model: keras.Model,
    max_steps: int,
    metrics: Sequence[str] = ("loss", "accuracy"),
) -> Any:
    """A callback that keeps the loss and accuracy of every training batch; create it before
    calling :func:`pipeline.library.training.fit_fast` (or ``model.fit``) and pass it as a callback.

    Why: ``fit_fast`` runs a whole epoch in one compiled call, so Keras's batch hooks see only
    the epoch's end. The recorder wraps the model's ``train_step`` (an instance attribute, put
    back when training ends) so that, inside the compiled loop, each step also writes the running
    ``metrics`` and its batch size into preallocated variables: a few scalar writes per batch.
    :meth:`curves` turns the running means into each batch's own values
    (:func:`per_batch_values`). ``max_steps`` bounds the number of batches kept (later batches
    are counted but not stored).
    """
    import keras

    from pipeline.library import backends

    if backends.name() != "tensorflow":
        return _step_logs_recorder(model, metrics, max_steps)
    import tensorflow as tf

    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise PipelineError(f"batch_recorder: max_steps must be a positive integer, got {max_steps!r}.")
    if "train_step" in vars(model):
        raise PipelineError(
            f"batch_recorder: model {model.name!r} already has a wrapped train_step (another "
            "recorder is attached); let that training finish first."
        )
    names = list(metrics)
    capacity = int(max_steps)

    class BatchRecorder(keras.callbacks.Callback):
        """Per-batch training metrics under ``fit_fast`` (see :func:`batch_recorder`)."""

        def __init__(self) -> None:
            super().__init__()
            self.names = names
            self.capacity = capacity
            self._step = tf.Variable(0, dtype=tf.int64, trainable=False, name="batch_step")
            self._sizes = tf.Variable(tf.zeros(capacity), trainable=False, name="batch_sizes")
            self._values = {
                n: tf.Variable(tf.zeros(capacity), trainable=False, name=f"batch_{n}")
                for n in names
            }
            self.epoch_starts: list[int] = []
            self.epochs: list[int] = []
            self._model = model
            self._original = model.train_step
            model.train_step = self._wrapped  # instance attribute: fit_fast picks it up

        def _wrapped(self, data: Any) -> Any:
            logs = self._original(data)
            missing = [n for n in self.names if n not in logs]
            if missing:
                raise PipelineError(
                    f"batch_recorder: train_step returned {sorted(logs)}, not {missing}; pass "
                    "metrics=... with names the model logs."
                )
            x = data[0] if isinstance(data, (tuple, list)) else data
            first = tf.nest.flatten(x)[0]
            i = tf.minimum(self._step, self.capacity - 1)
            idx = tf.reshape(i, (1, 1))
            self._sizes.scatter_nd_update(idx, tf.cast(tf.shape(first)[:1], tf.float32))
            for n in self.names:
                value = tf.reshape(tf.cast(logs[n], tf.float32), (1,))
                self._values[n].scatter_nd_update(idx, value)
            self._step.assign_add(1)
            return logs

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epoch_starts.append(int(self._step.numpy()))
            self.epochs.append(int(epoch))

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            self.detach()

        def detach(self) -> None:
            """Give the model back its own ``train_step`` (idempotent)."""
            if vars(self._model).get("train_step") is not None:
                del self._model.train_step

        @property
        def steps(self) -> int:
            """Batches trained while attached (also those beyond ``max_steps``)."""
            return int(self._step.numpy())

        def curves(self) -> dict[str, np.ndarray]:
            """``{"epoch": x position, "batch_size", "running_<m>", "<m>"}`` per stored batch.

            ``epoch`` is fractional: batch ``k`` of the ``s`` batches of epoch ``e`` (counted
            from 0 as Keras does) sits at ``e + (k + 1) / s``, so the curve lines up with
            per-epoch values plotted at epochs ``1, 2, ...``.
            """
            n = min(self.steps, self.capacity)
            if self.steps > self.capacity:
                log.warning("batch_recorder: %d batches trained, only the first %d kept",
                            self.steps, self.capacity)
            return _batch_curves(self._sizes.numpy()[:n],
                                 {name: self._values[name].numpy()[:n] for name in self.names},
                                 self.epoch_starts, self.epochs)

    return BatchRecorder()


def _step_logs_recorder(model: keras.Model, metrics: Sequence[str], max_steps: int) -> Any:
    """:func:`batch_recorder` on the JAX and PyTorch backends, from ``fit_fast``'s step logs.

    Why: those backends' epoch runners already return every step's logs (the running metrics
    and the batch size), so nothing needs to be written inside the compiled epoch; the callback
    receives them through ``on_epoch_steps`` and keeps the same curves as the TensorFlow path.
    """
    import keras

    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise PipelineError(f"batch_recorder: max_steps must be a positive integer, got {max_steps!r}.")
    if getattr(model, "_nnx_step_logs_recorder", False):
        raise PipelineError(
            f"batch_recorder: model {model.name!r} already has a recorder attached; let that "
            "training finish first."
        )
    names = list(metrics)
    capacity = int(max_steps)

    class StepLogsRecorder(keras.callbacks.Callback):
        """Per-batch training metrics under ``fit_fast`` (see :func:`batch_recorder`)."""

        def __init__(self) -> None:
            super().__init__()
            self.names, self.capacity = names, capacity
            self.epoch_starts: list[int] = []
            self.epochs: list[int] = []
            self._sizes: list[float] = []
            self._values: dict[str, list[float]] = {n: [] for n in names}
            self.steps = 0
            self._model = model
            model._nnx_step_logs_recorder = True  # one recorder per model at a time

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epoch_starts.append(self.steps)
            self.epochs.append(int(epoch))

        def on_epoch_steps(self, epoch: int, step_logs: dict[str, np.ndarray]) -> None:
            missing = [n for n in self.names if n not in step_logs]
            if missing:
                raise PipelineError(
                    f"batch_recorder: train_step returned {sorted(step_logs)}, not {missing}; "
                    "pass metrics=... with names the model logs."
                )
            sizes = np.asarray(step_logs["batch_size"], dtype=np.float64)
            room = max(self.capacity - len(self._sizes), 0)
            self._sizes.extend(sizes[:room].tolist())
            for n in self.names:
                self._values[n].extend(np.asarray(step_logs[n], np.float64)[:room].tolist())
            self.steps += len(sizes)

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            self.detach()

        def detach(self) -> None:
            """Let another recorder attach (idempotent; no ``train_step`` to give back here)."""
            self._model._nnx_step_logs_recorder = False

        def curves(self) -> dict[str, np.ndarray]:
            """The same curves as the TensorFlow recorder's ``curves``."""
            n = min(self.steps, self.capacity)
            if self.steps > self.capacity:
                log.warning("batch_recorder: %d batches trained, only the first %d kept",
                            self.steps, self.capacity)
            return _batch_curves(np.asarray(self._sizes[:n]),
                                 {name: np.asarray(self._values[name][:n]) for name in self.names},
                                 self.epoch_starts, self.epochs)

    return StepLogsRecorder()


# --------------------------------------------------------------------------------------------
# Attribution
# --------------------------------------------------------------------------------------------


def integrated_gradients_same_steps(
    model: keras.Model,
    images: np.ndarray,
    targets: Sequence[int],
    *,
    tol: float = 0.01,
    start_steps: int = 32,
    max_steps: int = 1024,
    baseline: np.ndarray | float | None = None,
    method: str = "trapezoid",
    score: str = "probability",
    batch_size: int = 32,
) -> list[IntegratedGradients]:
    """Integrated gradients of every image at **one** step count, the smallest power-of-two
    multiple of ``start_steps`` at which every completeness gap is below ``tol``.

    Sundararajan et al. ask to check completeness (``sum(IG) == f(x) - f(baseline)``) rather
    than trust a step count. One common count lets a page say "m steps, largest gap g" and lets
    a test recompute every map with the same m. Raises :class:`PipelineError` naming the gaps
    when ``max_steps`` is not enough.
    """
    from pipeline.library import attribution

    imgs = np.asarray(images, dtype=np.float32)
    tgts = [int(t) for t in targets]
    if imgs.ndim != 4 or len(imgs) != len(tgts) or len(tgts) == 0:
        raise PipelineError(
            f"integrated_gradients_same_steps: need a batch of images (N, H, W, C) and N "
            f"targets, got images {imgs.shape} and {len(tgts)} targets."
        )
    if not tol > 0:
        raise PipelineError(f"integrated_gradients_same_steps: tol must be positive, got {tol!r}.")
    if start_steps < 1 or max_steps < start_steps:
        raise PipelineError(
            f"integrated_gradients_same_steps: need 1 <= start_steps <= max_steps, got "
            f"{start_steps} and {max_steps}."
        )

    def evaluate(steps: int) -> tuple[list[IntegratedGradients], float]:
        results = [
            attribution.integrated_gradients(
                model, img, t, baseline=baseline, steps=steps, batch_size=batch_size,
                method=method, score=score,  # type: ignore[arg-type]
            )
            for img, t in zip(imgs, tgts, strict=True)
        ]
        worst = max(r.completeness_gap for r in results)
        log.debug("integrated_gradients_same_steps: steps=%d largest gap %.3g", steps, worst)
        return results, worst

    def give_up(tried: str) -> PipelineError:
        return PipelineError(
            f"integrated gradients did not reach completeness gap < {tol:.2%} for all "
            f"{len(tgts)} images within max_steps={max_steps} (steps: largest gap = "
            f"{tried}). Raise max_steps, or explain images whose score differs "
            "more from the baseline's."
        )

    return attribution.double_steps_until_complete(
        evaluate, start_steps=int(start_steps), max_steps=max_steps, tol=tol, give_up=give_up
    )


def pick_examples(
    predicted: Sequence[int],
    labels: Sequence[int],
    k: int,
    candidates: Sequence[int] | None = None,
) -> list[int]:
    """Indices of ``k`` examples to explain: correct predictions of distinct classes first.

    "Which pixels drove the prediction" reads best on images the network gets right, and
    distinct classes show more of what it learned. Then other correct ones, then wrong ones (a
    weak model still gets ``k`` pictures, and the page can say which are wrong). ``candidates``
    restricts and orders the choice (default: all, in order).
    """
    pred = np.asarray(predicted).reshape(-1).astype(int)
    lab = np.asarray(labels).reshape(-1).astype(int)
    if pred.shape != lab.shape:
        raise PipelineError(
            f"pick_examples: {len(pred)} predictions but {len(lab)} labels; pass one of each "
            "per example."
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise PipelineError(f"pick_examples: k must be a positive integer, got {k!r}.")
    order = list(range(len(pred))) if candidates is None else [int(c) for c in candidates]
    bad = [c for c in order if not 0 <= c < len(pred)]
    if bad:
        raise PipelineError(f"pick_examples: candidates {bad} are outside 0..{len(pred) - 1}.")
    chosen: list[int] = []
    seen: set[int] = set()
    for i in order:
        if pred[i] == lab[i] and lab[i] not in seen and len(chosen) < k:
            chosen.append(i)
            seen.add(int(lab[i]))
    for want_correct in (True, False):
        for i in order:
            if len(chosen) >= k:
                break
            if i not in chosen and (pred[i] == lab[i]) == want_correct:
                chosen.append(i)
    return chosen[:k]


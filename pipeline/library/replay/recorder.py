"""The recording half of a replay: a Keras callback that snapshots training after every epoch.

Why a callback of our own instead of DeepReplay's: DeepReplay re-runs the model afterwards from
saved weights through framework internals, which broke with every TensorFlow release and cost
most of its 142 seconds. Here, at epoch 0 (before the first update) and after every epoch, one
compiled multi-output function evaluates the fixed probe set and returns, in a single call, the
outputs of the chosen layers, the predictions, the per-sample loss, the current value of every
variable and (optionally) the gradients. That costs about a millisecond per epoch for the
seed-000 model, so recording never changes how long a recipe trains.

This module imports Keras at import time (the callback must subclass ``keras.callbacks.Callback``);
only recipes import it. The renderers read the resulting file with :mod:`pipeline.library.replay.store`,
which needs numpy only.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from pipeline.library.errors import PipelineError
from pipeline.library.replay.store import FORMAT, VERSION, Replay, write_replay_file
from pipeline.library.replay.viewed import hidden_widths, viewed_layer
from pipeline.library.runtime import report_non_finite_loss

log = logging.getLogger(__name__)

__all__ = ["ReplayRecorder", "per_sample_loss"]


def _loss_name(loss: Any) -> str:
    if isinstance(loss, str):
        return loss
    return str(getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__)


class _PerSampleLoss(keras.losses.Loss):
    """A loss function evaluated without reduction, aligning ranks like Keras' own wrapper.

    Keras' ``LossFunctionWrapper`` is not public API; this re-does its one job that matters
    here: targets of shape ``(N,)`` against predictions of shape ``(N, 1)`` are compared per
    row instead of being broadcast to ``(N, N)``.
    """

    def __init__(self, fn: Any, name: str) -> None:
        super().__init__(name=name, reduction=None)
        self.fn = fn

    def call(self, y_true: Any, y_pred: Any) -> Any:
        rt, rp = len(y_true.shape), len(y_pred.shape)
        if rp == rt + 1 and y_pred.shape[-1] == 1:
            y_true = keras.ops.expand_dims(y_true, axis=-1)
        elif rt == rp + 1 and y_true.shape[-1] == 1:
            y_true = keras.ops.squeeze(y_true, axis=-1)
        return self.fn(y_true, y_pred)


def per_sample_loss(loss: Any) -> tuple[keras.losses.Loss, str, bool]:
    """An unreduced copy of a compiled loss: returns ``(loss_object, name, from_logits)``.

    Why a copy: ``model.loss`` is reduced to a batch mean, and the loss histogram needs one value
    per probe point. Built-in names and plain functions are wrapped unreduced; Loss
    objects are re-created from their config with ``reduction=None`` (same ``from_logits``, label
    smoothing, ...), so the per-sample values average to what ``evaluate`` reports.
    """
    if isinstance(loss, (dict, list, tuple)):
        raise PipelineError(
            "ReplayRecorder supports models compiled with one loss; this model has "
            f"{type(loss).__name__} of losses. Record a single-output model."
        )
    if loss is None:
        raise PipelineError("the model is not compiled with a loss; call model.compile(loss=...)")
    name = _loss_name(loss)
    if isinstance(loss, keras.losses.Loss):
        config = dict(loss.get_config())
        config["reduction"] = None
        try:
            obj = type(loss).from_config(config)
        except Exception as exc:  # custom losses whose config cannot rebuild them
            raise PipelineError(
                f"cannot rebuild loss {name!r} with reduction=None ({exc}); compile with a "
                "built-in loss or a plain function"
            ) from exc
        return obj, name, bool(config.get("from_logits", False))
    fn = keras.losses.get(loss) if isinstance(loss, str) else loss
    if not callable(fn):
        raise PipelineError(f"loss {name!r} is not callable")
    return _PerSampleLoss(fn, name), name, False


def _as_float_array(a: Any) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype.kind == "f" and arr.dtype != np.dtype(keras.config.floatx()):
        arr = arr.astype(keras.config.floatx())
    return arr


def _to_probabilities(out: np.ndarray, from_logits: bool) -> np.ndarray:
    """Model outputs as probabilities: sigmoid/softmax of logits when the loss takes logits."""
    p = out.reshape(len(out), -1).astype(np.float32, copy=False)
    if not from_logits:
        return p
    if p.shape[1] == 1:
        return 1.0 / (1.0 + np.exp(-p))
    z = np.exp(p - p.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _accuracy(prob: np.ndarray, y: np.ndarray) -> float:
    """Keras' ``accuracy`` for the loss's output type: thresholded for one unit, argmax else."""
    y = np.asarray(y)
    if prob.shape[1] == 1:
        pred = (prob[:, 0] > 0.5).astype(int)
        true = (y.reshape(len(y)) > 0.5).astype(int)
    else:
        pred = np.argmax(prob, axis=1)
        true = np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y))
    return float(np.mean(pred == true.astype(int)))


def _np(tensor: Any) -> np.ndarray:
    """A backend tensor (TensorFlow, JAX or PyTorch) as a numpy array."""
    return np.asarray(keras.ops.convert_to_numpy(tensor))


def _as_list(outputs: Any) -> list[Any]:
    """A model's outputs as a list: a functional model built with a one-element output list
    (``layers=[]`` records no layer, so only the prediction is left) returns a bare tensor."""
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


class ReplayRecorder(keras.callbacks.Callback):
    """Record weights, metrics and probe-set outputs at epoch 0 and after every epoch.

    Parameters
    ----------
    probe_x, probe_y:
        A fixed set of inputs and targets (for small data: the whole training set). Every
        per-sample picture (feature space, histograms, boundaries) is drawn from these.
    path:
        Where :meth:`save` writes the replay at the end of training (``.npz``); optional.
    layers:
        Names of layers whose outputs to record on the probe set, for every epoch. Default
        (None): only what the default layout draws and cannot compute otherwise, that is the
        hidden layer its main view shows (:func:`pipeline.library.replay.viewed.viewed_layer`)
        when the numpy forward pass cannot compute that layer from the recorded weights (a
        convolution before it); for a chain of Dense layers nothing, since the weights give
        every layer's outputs. A list records exactly those layers (``[]``: none);
        ``"all"`` records every layer, which for a small CNN is hundreds of megabytes.
        Predictions, per-sample losses and weights are always recorded.
    weights:
        Record every variable of every layer each epoch (needed for weight histograms and the
        numpy forward pass the feature-space and boundary panels use).
    gradients:
        Also record the gradient of the mean probe loss for each trainable variable.
    checkpoint_every:
        Every N epochs write ``path`` with the model's weights and the optimizer's variables,
        so :meth:`resume_from` can continue a killed run from the last completed epoch.
    probe_batch_size:
        Evaluate the probe set in chunks of this size (for probe sets that do not fit in one
        batch); None evaluates it in one call.

    The loss recorded per sample and its mean ``probe_loss`` are computed with the weights at
    the end of each epoch and without regularization penalties: for a model without
    regularizers that is exactly ``model.evaluate(probe_x, probe_y)`` with those weights, unlike
    Keras' logged ``loss``, which is a running average over the epoch's batches.
    """

    def __init__(
        self,
        probe_x: np.ndarray,
        probe_y: np.ndarray,
        *,
        path: str | os.PathLike[str] | None = None,
        layers: Sequence[str] | None = None,
        weights: bool = True,
        gradients: bool = False,
        checkpoint_every: int | None = None,
        probe_batch_size: int | None = None,
        compress: bool = False,
    ) -> None:
        super().__init__()
        self.probe_x = _as_float_array(probe_x)
        self.probe_y = np.asarray(probe_y)
        if len(self.probe_x) != len(self.probe_y) or len(self.probe_x) == 0:
            raise PipelineError(
                f"ReplayRecorder: probe_x has {len(self.probe_x)} rows and probe_y "
                f"{len(self.probe_y)}; pass the same, non-zero number of inputs and targets"
            )
        if checkpoint_every is not None and (checkpoint_every < 1 or path is None):
            raise PipelineError(
                "ReplayRecorder: checkpoint_every needs a positive number of epochs and a path"
            )
        self.path: Path | None = None if path is None else Path(path)
        if isinstance(layers, str) and layers != "all":
            raise PipelineError(
                f"ReplayRecorder(layers={layers!r}): pass a list of layer names, 'all', or "
                "None (what the default layout draws)"
            )
        self.layers: list[str] | str | None = (
            layers if layers is None or isinstance(layers, str) else list(layers))
        self.record_weights = weights
        self.record_gradients = gradients
        self.checkpoint_every = checkpoint_every
        self.probe_batch_size = probe_batch_size
        self.compress = compress
        self.initial_epoch = 0
        """Epoch to pass to ``fit``/``fit_fast`` as ``initial_epoch`` (non-zero after resume)."""
        self.record_seconds = 0.0
        """Wall time spent recording (for measuring the recorder's overhead)."""
        self._reset_state()
        self._fn: Any = None
        self._fn_model: Any = None
        self._loaded_meta: dict[str, Any] | None = None
        """The metadata of the replay this recorder was resumed from (see :meth:`_meta`)."""

    # ------------------------------------------------------------------------------ state
    def _reset_state(self) -> None:
        self._epochs: list[int] = []
        self._metrics: dict[str, list[float]] = {}
        self._weights: dict[str, list[np.ndarray]] = {}
        self._grads: dict[str, list[np.ndarray]] = {}
        self._outputs: dict[str, list[np.ndarray]] = {}
        self._probs: list[np.ndarray] = []
        self._losses: list[np.ndarray] = []

    @property
    def epochs(self) -> list[int]:
        """Epoch numbers recorded so far."""
        return list(self._epochs)

    def _settings(self) -> dict[str, Any]:
        return {
            "layers": self.layers,
            "weights": self.record_weights,
            "gradients": self.record_gradients,
            "checkpoint_every": self.checkpoint_every,
            "probe_batch_size": self.probe_batch_size,
            "compress": self.compress,
        }

    # --------------------------------------------------------------------- the probe function
    def _prepare(self) -> None:
        """Build the one compiled function that evaluates everything on the probe set."""

        model = self.model
        if self._fn is not None and self._fn_model is model:
            return
        if not getattr(model, "inputs", None) or not getattr(model, "outputs", None):
            raise PipelineError(
                "ReplayRecorder needs a Sequential or functional model with a known input "
                "shape (start it with keras.Input(shape)); subclassed models have no graph to "
                "take layer outputs from"
            )
        if len(model.outputs) != 1:
            raise PipelineError("ReplayRecorder supports single-output models only")
        if self.layers == "all":
            names = [ly.name for ly in model.layers if not isinstance(ly, keras.layers.InputLayer)]
        elif self.layers is None:
            names = self._drawn_layers(model)
        else:
            names = list(self.layers)
        try:
            tensors = [model.get_layer(n).output for n in names]
        except ValueError as exc:
            raise PipelineError(f"ReplayRecorder(layers={names}): {exc}") from exc
        self._layer_names = list(names)
        probe_model = keras.Model(model.inputs, [*tensors, model.outputs[0]])
        self._loss, self._loss_label, self._from_logits = per_sample_loss(model.loss)

        # Variables, named "layer/variable" so the file is readable without Keras.
        self._var_keys: list[str] = []
        self._vars: list[Any] = []
        seen: set[str] = set()
        for layer in model.layers:
            for v in layer.weights:
                key = f"{layer.name}/{v.name}"
                i = 1
                while key in seen:
                    key, i = f"{layer.name}/{v.name}_{i}", i + 1
                seen.add(key)
                self._var_keys.append(key)
                self._vars.append(v)
        self._check_resumed_names()
        trainable_ids = {id(v) for v in model.trainable_variables}
        self._grad_keys = [
            k for k, v in zip(self._var_keys, self._vars, strict=True) if id(v) in trainable_ids
        ]
        grad_vars = [v for v in self._vars if id(v) in trainable_ids]
        loss_fn = self._loss
        want_grads = self.record_gradients
        read_vars = self._vars if self.record_weights else []

        from pipeline.library import backends

        # One compiled call per epoch on the probe set; gradients the backend's way.
        probe_step = backends.current().probe_function(
            probe_model, loss_fn, grad_vars, read_vars, want_grads
        )

        self._fn = probe_step
        self._fn_model = model
        self._probe_tensors = (keras.ops.convert_to_tensor(self.probe_x),
                               keras.ops.convert_to_tensor(self.probe_y))

    def _drawn_layers(self, model: Any) -> list[str]:
        """The layers ``layers=None`` records: the default layout's view, when only a
        recording can give its outputs (see the constructor's ``layers``)."""
        view = viewed_layer(hidden_widths(_layer_table(model)))
        if view is None:
            return []
        why = "weights are not recorded (weights=False)" if not self.record_weights else None
        if why is None:
            why = _numpy_cannot_compute(model, view)
        if why is None:
            log.debug("ReplayRecorder: layer %r is drawn from the recorded weights", view)
            return []
        log.info("ReplayRecorder: recording layer %r's outputs, which the default layout draws:"
                 " %s", view, why)
        return [view]

    def _check_resumed_names(self) -> None:
        """A resumed recording must continue the same series: same layer and variable names."""
        stored_w = list(self._weights) if self.record_weights else []
        stored_o = list(self._outputs)
        now_w = self._var_keys if (self.record_weights and stored_w) else stored_w
        now_o = self._layer_names if stored_o else stored_o
        if stored_w != now_w or stored_o != now_o:
            raise PipelineError(
                f"{self.path}: the model's layer names {now_o or now_w} differ from the "
                f"recording's {stored_o or stored_w}. Keras numbers unnamed layers per process "
                "(dense, dense_1, ...): name the layers explicitly, or build the model in a "
                "fresh process (or after keras.backend.clear_session()) before resuming."
            )

    def _evaluate_probe(self) -> tuple[list[np.ndarray], np.ndarray, list[np.ndarray], list]:
        x, y = self._probe_tensors
        n = len(self.probe_x)
        bs = self.probe_batch_size or n
        if bs >= n:
            outs, per, grads, vals = self._fn(x, y)
            return (
                [_np(o) for o in outs],
                _np(per),
                [_np(g) for g in grads],
                [_np(v) for v in vals],
            )
        chunks_out: list[list[np.ndarray]] = []
        chunks_loss: list[np.ndarray] = []
        grad_sum: list[np.ndarray] | None = None
        values: list[np.ndarray] = []
        for start in range(0, n, bs):
            outs, per, grads, vals = self._fn(x[start : start + bs], y[start : start + bs])
            m = int(per.shape[0])
            chunks_out.append([_np(o) for o in outs])
            chunks_loss.append(_np(per))
            g = [_np(gi) * (m / n) for gi in grads]  # mean over all = weighted chunk means
            grad_sum = g if grad_sum is None else [a + b for a, b in zip(grad_sum, g, strict=True)]
            values = [_np(v) for v in vals]
        outs_all = [np.concatenate(parts) for parts in zip(*chunks_out, strict=True)]
        return outs_all, np.concatenate(chunks_loss), grad_sum or [], values

    def _record(self, epoch: int, logs: dict[str, Any] | None) -> None:
        start = time.perf_counter()
        if self._epochs and epoch <= self._epochs[-1]:
            raise PipelineError(
                f"ReplayRecorder already holds epoch {self._epochs[-1]} and was asked to record "
                f"epoch {epoch}: to continue training pass initial_epoch=recorder.initial_epoch "
                "(or use a new recorder)"
            )
        outs, per_sample, grads, values = self._evaluate_probe()
        n_before = len(self._epochs)
        prob = _to_probabilities(outs[-1], self._from_logits)
        row: dict[str, float] = {}
        for key, value in (logs or {}).items():
            try:
                row[key] = float(np.asarray(value))
            except (TypeError, ValueError):
                continue
        row["probe_loss"] = float(np.mean(per_sample, dtype=np.float64))
        if "crossentropy" in self._loss_label.lower() or "hinge" in self._loss_label.lower():
            row["probe_accuracy"] = _accuracy(prob, self.probe_y)
        for key in set(self._metrics) | set(row):
            series = self._metrics.setdefault(key, [math.nan] * n_before)
            series.append(row.get(key, math.nan))
        for name, out in zip(self._layer_names, outs[:-1], strict=True):
            self._outputs.setdefault(name, []).append(out)
        for key, val in zip(self._var_keys if self.record_weights else [], values, strict=True):
            self._weights.setdefault(key, []).append(val)
        for key, g in zip(self._grad_keys if self.record_gradients else [], grads, strict=True):
            self._grads.setdefault(key, []).append(np.asarray(g))
        self._probs.append(prob)
        self._losses.append(per_sample.reshape(len(per_sample)))
        self._epochs.append(int(epoch))
        self.initial_epoch = int(epoch)
        self.record_seconds += time.perf_counter() - start

    # --------------------------------------------------------------------- Keras callbacks
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Snapshot epoch 0, the state before any update (skipped when resuming)."""
        start = time.perf_counter()
        self._prepare()
        self.record_seconds += time.perf_counter() - start
        if not self._epochs:
            self._record(0, None)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Snapshot the state after epoch ``epoch + 1`` and checkpoint every N epochs."""
        self._record(epoch + 1, logs)
        report_non_finite_loss(epoch + 1, logs, self.model)  # unguarded NaN -> page says diverged
        if self.checkpoint_every and (epoch + 1) % self.checkpoint_every == 0:
            self.save(checkpoint=True)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Write the replay (with resume state when checkpointing) if a path was given."""
        if self.path is not None and self._epochs:
            self.save(checkpoint=self.checkpoint_every is not None)

    # ---------------------------------------------------------------------------- output
    def _meta(self) -> dict[str, Any]:
        if self._fn is None and self._loaded_meta is not None:
            # Resumed but not trained since (the checkpoint already held the last epoch): the
            # names and the model config are those of the file, not yet re-derived from a model.
            meta = {k: v for k, v in self._loaded_meta.items() if k != "checkpoint"}
            meta.update(format=FORMAT, version=VERSION, recorder=self._settings())
            return meta
        model = self.model
        try:
            model_config: str | None = model.to_json()
        except Exception as exc:  # custom layers without get_config
            log.warning("model config not serializable (%s); numpy forward pass unavailable", exc)
            model_config = None
        table = _layer_table(model)
        return {
            "format": FORMAT,
            "version": VERSION,
            "model_config": model_config,
            "model_name": model.name,
            "layer_names": [ly.name for ly in model.layers],
            "layer_kinds": {name: kind for name, kind, _ in table},
            "layer_widths": {name: width for name, _, width in table},
            "recorded_layers": list(self._layer_names),
            "weight_keys": list(self._var_keys) if self.record_weights else [],
            "gradient_keys": list(self._grad_keys) if self.record_gradients else [],
            "loss": self._loss_label,
            "from_logits": self._from_logits,
            "recorder": self._settings(),
            "keras_version": keras.__version__,
        }

    def arrays(self, *, checkpoint: bool = False) -> dict[str, np.ndarray]:
        """Everything recorded so far as the replay file's arrays (including ``meta``)."""
        if not self._epochs:
            raise PipelineError("ReplayRecorder has recorded nothing yet; train with it first")
        meta = self._meta()
        arrays: dict[str, np.ndarray] = {
            "epochs": np.asarray(self._epochs, dtype=np.int64),
            "probe_x": self.probe_x,
            "probe_y": self.probe_y,
            "probabilities": np.stack(self._probs),
            "sample_loss": np.stack(self._losses),
        }
        for key, series in self._metrics.items():
            arrays[f"metric/{key}"] = np.asarray(series, dtype=np.float64)
        for key, vals in self._weights.items():
            arrays[f"weight/{key}"] = np.stack(vals)
        for key, vals in self._grads.items():
            arrays[f"grad/{key}"] = np.stack(vals)
        for key, vals in self._outputs.items():
            arrays[f"output/{key}"] = np.stack(vals)
        if checkpoint:
            if self.model is None:
                raise PipelineError(
                    "ReplayRecorder.save(checkpoint=True): no model to checkpoint; train with "
                    "the recorder (or resume it with ReplayRecorder.resume_from) first"
                )
            model_vars = [np.asarray(v.numpy()) for v in self.model.weights]
            opt = self.model.optimizer
            opt_vars = [np.asarray(v.numpy()) for v in opt.variables] if opt is not None else []
            for i, a in enumerate(model_vars):
                arrays[f"ckpt/model/{i:04d}"] = a
            for i, a in enumerate(opt_vars):
                arrays[f"ckpt/optimizer/{i:04d}"] = a
            meta["checkpoint"] = {
                "epoch": self._epochs[-1],
                "n_model": len(model_vars),
                "n_optimizer": len(opt_vars),
                "optimizer_paths": [v.path for v in opt.variables] if opt is not None else [],
            }
        arrays["meta"] = np.array(json.dumps(meta))
        return arrays

    def save(self, path: str | os.PathLike[str] | None = None, *, checkpoint: bool = False) -> Path:
        """Write the replay so far atomically (to ``path`` or the recorder's own path)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise PipelineError("ReplayRecorder.save: no path given and none set on the recorder")
        start = time.perf_counter()
        write_replay_file(target, self.arrays(checkpoint=checkpoint), compress=self.compress)
        self.record_seconds += time.perf_counter() - start
        log.info("replay: %d epochs -> %s%s", len(self._epochs), target,
                 " (with checkpoint)" if checkpoint else "")
        return target

    def replay(self) -> Replay:
        """The recording so far as an in-memory :class:`Replay` (no file needed)."""
        return Replay(self.arrays())

    # ----------------------------------------------------------------------------- resume
    @classmethod
    def resume_from(
        cls, path: str | os.PathLike[str], model: keras.Model, **overrides: Any
    ) -> ReplayRecorder:
        """Continue a run from the checkpoint in ``path``: restore ``model`` and its optimizer.

        ``model`` must be built and compiled like the original (same layers, same optimizer
        class). Returns a recorder holding the epochs recorded so far; pass its
        :attr:`initial_epoch` to ``fit_fast``/``fit`` so training continues where it stopped.
        ``fit_fast``'s shuffling depends only on (seed, epoch), so the resumed run sees the same
        batches as an uninterrupted one.
        """
        replay = Replay.load(path)
        ckpt = replay.checkpoint
        if ckpt is None:
            raise PipelineError(
                f"{path}: has no checkpoint to resume from; record with "
                "ReplayRecorder(checkpoint_every=N, path=...)"
            )
        settings = {**replay.meta.get("recorder", {}), **overrides}
        rec = cls(replay.probe_x, replay.probe_y, path=path, **settings)
        _assign_all(model.weights, ckpt["model"], f"{path}: model weights")
        opt = model.optimizer
        if opt is None:
            raise PipelineError(f"{path}: compile the model before resuming (no optimizer)")
        if not opt.built:
            opt.build(model.trainable_variables)
        _assign_all(opt.variables, ckpt["optimizer"], f"{path}: optimizer variables")
        rec._load(replay)
        rec.set_model(model)  # so replay()/save() work before (or without) further training
        log.info("resumed %s at epoch %d", path, rec.initial_epoch)
        return rec

    @classmethod
    def resume_or_start(
        cls, path: str | os.PathLike[str], model: keras.Model, probe_x: Any, probe_y: Any,
        **kwargs: Any,
    ) -> ReplayRecorder:
        """The recorder a recipe wants: resumed from ``path`` when a killed run left a
        checkpoint there (see :meth:`resume_from`), else a new one recording to ``path``.

        ``kwargs`` go to the constructor of a new recorder (``layers``, ``checkpoint_every``
        ...); a resumed one keeps the settings stored in its checkpoint.
        """
        if Path(path).exists():
            return cls.resume_from(path, model)
        return cls(probe_x, probe_y, path=path, **kwargs)

    def _load(self, replay: Replay) -> None:
        self._reset_state()
        self._loaded_meta = dict(replay.meta)
        epochs = [int(e) for e in replay.epochs]
        self._epochs = epochs
        self._metrics = {k: [float(x) for x in v] for k, v in replay.metrics.items()}
        arrays = replay.arrays()
        for key in replay.weight_keys:
            self._weights[key] = list(arrays[f"weight/{key}"])
        for key in replay.gradient_keys:
            self._grads[key] = list(arrays[f"grad/{key}"])
        for key in replay.recorded_layers:
            self._outputs[key] = list(arrays[f"output/{key}"])
        self._probs = list(replay.all_probabilities)
        self._losses = list(replay.all_sample_losses)
        ckpt = replay.meta.get("checkpoint") or {}
        last = int(ckpt.get("epoch", epochs[-1]))
        if last != epochs[-1]:
            raise PipelineError(
                f"{replay.path}: checkpoint epoch {last} differs from the last recorded epoch "
                f"{epochs[-1]}; the file is inconsistent, re-record the run"
            )
        self.initial_epoch = last


def _layer_table(model: Any) -> list[tuple[str, str, int | None]]:
    """``(name, class name, values per example)`` of every layer but the input, in order."""
    table = []
    for ly in model.layers:
        if isinstance(ly, keras.layers.InputLayer):
            continue
        try:
            shape = tuple(ly.output.shape)[1:]
        except (AttributeError, ValueError):  # a layer used twice has no single output
            shape = (None,)
        width = None if any(d is None for d in shape) else int(np.prod(shape, dtype=np.int64))
        table.append((ly.name, type(ly).__name__, width))
    return table


def _numpy_cannot_compute(model: Any, layer: str) -> str | None:
    """Why :class:`~pipeline.library.replay.forward.NumpyForward` cannot compute ``layer``'s
    outputs from the model's input and weights (None when it can)."""
    from pipeline.library.replay.forward import NumpyForward

    try:
        return NumpyForward(model.to_json()).unsupported(stop_at=layer)
    except PipelineError as exc:  # a branching model
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a custom layer without get_config
        return f"the model's config cannot be serialised ({exc})"


def _assign_all(variables: Iterable[Any], values: list[np.ndarray], what: str) -> None:
    variables = list(variables)
    if len(variables) != len(values):
        raise PipelineError(
            f"{what}: the checkpoint has {len(values)} arrays but the model has "
            f"{len(variables)}; rebuild and compile the model exactly as when recording"
        )
    for var, val in zip(variables, values, strict=True):
        if tuple(var.shape) != tuple(val.shape):
            raise PipelineError(
                f"{what}: variable {var.path} has shape {tuple(var.shape)} but the checkpoint "
                f"holds {tuple(val.shape)}; rebuild the model exactly as when recording"
            )
        var.assign(val)

"""The replay as data for the page: one binary file and a JSON index per run.

Why: a replay page used to be pictures rendered in advance (a video, a GIF, one frame per epoch
for the scrubber, in each palette: tens of MB, three quarters of the build's time). The page's
script (``pipeline/site/assets/nnx-replay.js``) now draws every epoch itself, on a canvas, from
the recorded numbers, so the reader can stop at any epoch, follow one point, and see which
points sit in a histogram bar. This module writes what that script reads:

- ``<name>.json``: the index. The layout (which views, where, with which fixed axes, bins and
  colours: read from the same panel objects that draw the video, so both show the same
  thing), the metrics per epoch, the model's layers (for the page's forward pass), and one
  entry per array of the binary file: ``dtype``, ``shape``, byte ``offset`` and, for a
  quantised array, its ``range``;
- ``<name>.bin``: the arrays back to back (little-endian, each aligned to 8 bytes), so the
  page makes a zero-copy typed-array view of each.

What is in it: the probe inputs and the weights of every small layer a view evaluates, as
float32, for every recorded epoch. From those the page computes, with the same maths as
:class:`~pipeline.library.replay.forward.NumpyForward` (``nnx-replay-core.js`` implements the
same layers), the viewed layer's coordinates, the predictions, the per-sample losses, the bent
input grid and the background. That is the whole seed-000 run (2,000 points, 201 epochs) in
about 40 kB instead of 3.2 MB of coordinates, probabilities and losses. Nothing is computed on
trust: the writer evaluates the same numbers with numpy and compares them with the recording
(:data:`TOLERANCE`); what cannot be computed that way (a convolution before the viewed layer,
a loss the page does not know, a mismatch) is shipped as recorded instead, quantised to
uint16 over the array's own range (``lo + code * (hi - lo) / 65534``; code 65535 is "not a
number"). The index says which (``sources``).

A run whose data passes ``max_bytes`` (default 2 MB) is refused with
:class:`~pipeline.library.errors.ReplayDataTooLarge`, naming the largest arrays and what to
thin (points, epochs, layers). :func:`read_replay_data` decodes the files with numpy alone
(the tests compare it with the page's decoding).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.library import atomic
from pipeline.library.errors import PanelError, PipelineError, ReplayDataTooLarge
from pipeline.library.replay.forward import NumpyForward
from pipeline.library.replay.store import Replay

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_BYTES", "FORMAT", "TOLERANCE", "VERSION", "ReplayData",
           "read_replay_data", "write_replay_data"]

FORMAT = "nnx-replay-data"
VERSION = 1
DEFAULT_MAX_BYTES = 2_000_000
#: Largest finite code of a quantised array; :data:`NAN_CODE` marks a non-finite value.
MAX_CODE = 65534
NAN_CODE = 65535
#: How close a number the page computes must be to the recorded one (absolute, plus the same
#: relative to its size): float32 rounding of Keras' and numpy's orders of summation is ~1e-6.
TOLERANCE = 1e-4
_ALIGN = 8
_EPS = 1e-7  # keras.backend.epsilon(), the clip of the cross-entropies

Slot = tuple[int, int, int, int]


# ------------------------------------------------------------------------------------ arrays
@dataclass
class _Blob:
    """The binary file being assembled: arrays back to back, each aligned to 8 bytes."""

    parts: list[bytes] = field(default_factory=list)
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    size: int = 0

    def _append(self, name: str, data: np.ndarray, entry: dict[str, Any]) -> None:
        if name in self.entries:
            return
        pad = (-self.size) % _ALIGN
        if pad:
            self.parts.append(b"\0" * pad)
            self.size += pad
        raw = np.ascontiguousarray(data).astype(data.dtype.newbyteorder("<"), copy=False).tobytes()
        entry.update(dtype=str(data.dtype), shape=list(data.shape), offset=self.size,
                     bytes=len(raw))
        self.entries[name] = entry
        self.parts.append(raw)
        self.size += len(raw)

    def float32(self, name: str, data: Any) -> None:
        self._append(name, np.asarray(data, dtype=np.float32), {})

    def integers(self, name: str, data: Any) -> None:
        arr = np.asarray(data).astype(np.int64)
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        dtype = np.uint8 if lo >= 0 and hi < 256 else np.uint16 if lo >= 0 and hi < 65536 \
            else np.int32
        self._append(name, arr.astype(dtype), {})

    def quantized(self, name: str, data: Any) -> None:
        codes, lo, hi = quantize(np.asarray(data, dtype=np.float64))
        self._append(name, codes, {"range": [lo, hi], "nan": NAN_CODE})


def quantize(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``(codes, lo, hi)``: uint16 codes over the finite range; non-finite values get
    :data:`NAN_CODE`. Decoding (:func:`dequantize`) is off by at most half a step."""
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    lo = float(v[finite].min()) if finite.any() else 0.0
    hi = float(v[finite].max()) if finite.any() else 0.0
    codes = np.full(v.shape, NAN_CODE, dtype=np.uint16)
    if hi > lo:
        codes[finite] = np.rint((v[finite] - lo) * (MAX_CODE / (hi - lo))).astype(np.uint16)
    else:
        codes[finite] = 0
    return codes, lo, hi


def dequantize(codes: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """The values :func:`quantize` encoded (NaN where the code says so)."""
    out = lo + codes.astype(np.float64) * ((hi - lo) / MAX_CODE)
    out[codes == NAN_CODE] = np.nan
    return out


def quantization_step(lo: float, hi: float) -> float:
    """Distance between two neighbouring codes of an array quantised over ``[lo, hi]``."""
    return (hi - lo) / MAX_CODE


# ------------------------------------------------------------------------------- the files
@dataclass(frozen=True)
class ReplayData:
    """What :func:`write_replay_data` wrote: the two paths, their sizes, and where each
    number the page shows comes from (``derived``: computed by the page from the weights,
    checked here against the recording; ``shipped``: the recorded values, quantised)."""

    index: Path
    binary: Path
    binary_bytes: int
    index_bytes: int
    sources: dict[str, str]
    notes: list[str]

    @property
    def total_bytes(self) -> int:
        """Both files: what a reader downloads for this run."""
        return self.binary_bytes + self.index_bytes


def read_replay_data(index_path: str | os.PathLike[str]) -> tuple[dict[str, Any],
                                                                   dict[str, np.ndarray]]:
    """The index and every array of the binary file, decoded (quantised ones dequantised)."""
    path = Path(index_path)
    index = json.loads(path.read_text(encoding="utf-8"))
    if index.get("format") != FORMAT:
        raise PipelineError(f"{path}: not a replay data index (format {index.get('format')!r})")
    raw = (path.parent / index["bin"]).read_bytes()
    if len(raw) != index["bytes"]:
        raise PipelineError(f"{path}: {index['bin']} has {len(raw)} bytes, the index says "
                            f"{index['bytes']}; write both again")
    arrays: dict[str, np.ndarray] = {}
    for name, entry in index["arrays"].items():
        dtype = np.dtype(entry["dtype"]).newbyteorder("<")
        count = int(np.prod(entry["shape"])) if entry["shape"] else 1
        arr = np.frombuffer(raw, dtype=dtype, count=count, offset=entry["offset"])
        arr = arr.reshape(entry["shape"])
        if "range" in entry:
            arr = dequantize(arr, *entry["range"])
        arrays[name] = arr
    return index, arrays


# ------------------------------------------------------------------------------ the losses
_LOSSES = {
    "binarycrossentropy": "binary_crossentropy", "bce": "binary_crossentropy",
    "sparsecategoricalcrossentropy": "sparse_categorical_crossentropy",
    "scce": "sparse_categorical_crossentropy",
    "categoricalcrossentropy": "categorical_crossentropy", "cce": "categorical_crossentropy",
    "meansquarederror": "mse", "mse": "mse", "meanabsoluteerror": "mae", "mae": "mae",
}


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = np.max(z, axis=-1, keepdims=True)
    return (m + np.log(np.sum(np.exp(z - m), axis=-1, keepdims=True)))[..., 0]


def per_sample_loss(name: str, mode: str, out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The per-sample loss the page computes (``nnx-replay-core.js``, ``lossValue``), in numpy.

    ``mode`` is ``"logits"`` (``out`` holds the last layer's pre-activation: what Keras' own
    cross-entropies use when the model ends in a sigmoid or softmax, and what a
    ``from_logits`` loss gets) or ``"output"`` (the model's output: probabilities, clipped, for
    a cross-entropy). ``out`` is ``(N, k)``; ``y`` the recorded targets.
    """
    z = np.asarray(out, dtype=np.float64).reshape(len(out), -1)
    k = z.shape[1]
    if name == "binary_crossentropy":
        t = np.asarray(y, dtype=np.float64).reshape(len(z), -1)
        if mode == "logits":
            per = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
        else:
            p = np.clip(z, _EPS, 1 - _EPS)
            per = -(t * np.log(p) + (1 - t) * np.log(1 - p))
        return np.asarray(per.mean(axis=1))
    if name in ("sparse_categorical_crossentropy", "categorical_crossentropy"):
        lz = z if mode == "logits" else np.log(np.clip(z / z.sum(axis=1, keepdims=True),
                                                      _EPS, 1 - _EPS))
        lse = _logsumexp(lz)
        if name == "sparse_categorical_crossentropy":
            idx = np.asarray(y).reshape(len(z)).astype(int).clip(0, k - 1)
            return np.asarray(lse - lz[np.arange(len(z)), idx])
        t = np.asarray(y, dtype=np.float64).reshape(len(z), k)
        if mode == "logits":
            return np.asarray(lse * t.sum(axis=1) - (t * lz).sum(axis=1))
        return np.asarray(-(t * lz).sum(axis=1))
    t = np.asarray(y, dtype=np.float64).reshape(len(z), -1)
    if name == "mse":
        return np.asarray(((z - t) ** 2).mean(axis=1))
    if name == "mae":
        return np.asarray(np.abs(z - t).mean(axis=1))
    raise PipelineError(f"no per-sample loss {name!r} in the page's script")


def _close(got: np.ndarray, want: np.ndarray) -> tuple[bool, float]:
    """Within :data:`TOLERANCE` everywhere both are finite, and non-finite in the same places."""
    g = np.asarray(got, dtype=np.float64)
    w = np.asarray(want, dtype=np.float64).reshape(g.shape)
    fg, fw = np.isfinite(g), np.isfinite(w)
    if not np.array_equal(fg, fw):
        return False, math.inf
    if not fg.any():
        return True, 0.0
    diff = np.abs(g[fg] - w[fw])
    worst = float(diff.max())
    return bool(np.all(diff <= TOLERANCE * (1 + np.abs(w[fw])))), worst


# ----------------------------------------------------------------------------- the model
def _model_spec(fwd: NumpyForward, replay: Replay, needed: set[str],
                blob: _Blob) -> list[dict[str, Any]]:
    """The chain of layers for the page's forward pass; weights shipped for ``needed``."""
    keys = set(replay.weight_keys)
    layers = []
    for step in fwd.steps:
        spec: dict[str, Any] = {"name": step.name, "kind": step.kind,
                                "activation": step.activation}
        if step.unsupported is not None:
            spec["unsupported"] = step.unsupported
        for opt in ("use_bias", "negative_slope", "threshold", "max_value", "alpha", "epsilon",
                    "center", "scale", "units"):
            if opt in step.config:
                spec[opt] = step.config[opt]
        if step.name in needed and step.unsupported is None:
            weights = {}
            for key in replay.weight_keys:
                layer, _, var = key.partition("/")
                if layer == step.name and key in keys:
                    blob.float32(f"w/{key}", replay.weight_history(key))
                    weights[var] = f"w/{key}"
            spec["weights"] = weights
        layers.append(spec)
    return layers


@dataclass
class _Plan:
    """What the page computes itself and what it reads as recorded."""

    fwd: NumpyForward | None
    task: Any
    derive: bool
    blob: _Blob
    replay: Replay
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    layers_needed: set[str] = field(default_factory=set)
    input_needed: bool = False
    output: dict[str, Any] | None = None
    points: dict[str, str] = field(default_factory=dict)

    # -- slices of the chain ------------------------------------------------------------
    def names_through(self, stop_at: str | None) -> list[str]:
        assert self.fwd is not None
        names = self.fwd.layer_names
        return names if stop_at is None else names[: names.index(stop_at) + 1]

    def names_after(self, start_after: str) -> list[str]:
        assert self.fwd is not None
        names = self.fwd.layer_names
        return names[names.index(start_after) + 1 :]

    def can_run(self, *, start_after: str | None = None, stop_at: str | None = None) -> str | None:
        """None when the page can evaluate this slice of the chain, else why not."""
        if self.fwd is None:
            return "the model is not a single chain of layers the page can evaluate"
        shape = np.asarray(self.replay.probe_x).shape[1:]
        if start_after is None and len(shape) != 1 and self.fwd.steps[0].kind != "Flatten":
            return (f"its inputs have shape {shape} and its first layer is a "
                    f"{self.fwd.steps[0].kind}; the page evaluates flat inputs only")
        return self.fwd.unsupported(start_after=start_after, stop_at=stop_at)

    def missing_weights(self, names: list[str]) -> str | None:
        """Why the page cannot evaluate ``names`` for lack of recorded weights, or None."""
        assert self.fwd is not None
        have = {key.partition("/")[0] for key in self.replay.weight_keys}
        for step in self.fwd.steps:
            if step.name in names and step.kind in ("Dense", "BatchNormalization") \
                    and step.name not in have:
                return (f"the replay has no weights of layer {step.name!r} (record it with "
                        "ReplayRecorder(weights=True))")
        return None

    def need_input(self) -> None:
        if not self.input_needed:
            self.blob.float32("probe_x", np.asarray(self.replay.probe_x).reshape(
                self.replay.n_probe, -1))
            self.input_needed = True

    # -- the viewed layer's points --------------------------------------------------------
    def layer_points(self, layer: str, recorded: np.ndarray, projected: np.ndarray | None = None,
                     ) -> str:
        """``"derived"`` (the page computes the layer from the inputs) or the name of the
        shipped array of its (projected) coordinates."""
        key = f"points:{layer}"
        if key in self.points:
            return self.points[key]
        why = self.can_run(stop_at=layer) if self.derive else "derivation switched off"
        if why is None:
            why = self.missing_weights(self.names_through(layer))
        if why is None:
            assert self.fwd is not None
            got = np.stack([self.fwd(self.replay.weights(int(e)), self.replay.probe_x,
                                     stop_at=layer).reshape(self.replay.n_probe, -1)
                            for e in self.replay.epochs])
            ok, worst = _close(got, recorded)
            if ok:
                self.need_input()
                self.layers_needed.update(self.names_through(layer))
                self.sources[key] = "derived"
                self.points[key] = "derived"
                return "derived"
            why = f"computed from the weights it differs from the recording by {worst:.2g}"
        name = f"{'proj' if projected is not None else 'points'}/{layer}"
        self.blob.quantized(name, projected if projected is not None else recorded)
        self.sources[key] = "shipped"
        self.notes.append(f"Layer {layer!r} is shown as recorded (quantised): {why}.")
        self.points[key] = name
        return name

    # -- predictions and losses -----------------------------------------------------------
    def outputs(self) -> dict[str, Any]:
        """How the page gets each point's prediction and loss (computed or shipped)."""
        if self.output is not None:
            return self.output
        replay = self.replay
        n, n_epochs = replay.n_probe, len(replay.epochs)
        probs = replay.all_probabilities.reshape(n_epochs, n, -1).astype(np.float64)
        losses = replay.all_sample_losses.reshape(n_epochs, n).astype(np.float64)
        from_logits = bool(replay.meta.get("from_logits"))
        out: dict[str, Any] = {"from_logits": from_logits}
        why = self.can_run() if self.derive else "derivation switched off"
        if why is None:
            why = self.missing_weights(self.names_through(None))
        derived_out = derived_pre = None
        if why is None:
            assert self.fwd is not None
            raw, pre = [], []
            for e in replay.epochs:
                outs = self.fwd.outputs(replay.weights(int(e)), replay.probe_x)
                raw.append(next(reversed(outs.values())).reshape(n, -1))
                pre.append(_pre_activation(self.fwd, outs, replay.weights(int(e)),
                                           replay.probe_x).reshape(n, -1))
            derived_out = np.stack(raw).astype(np.float64)
            derived_pre = np.stack(pre).astype(np.float64)
            shown = _to_probabilities(derived_out) if from_logits else derived_out
            ok, worst = _close(shown, probs)
            if not ok:
                why = (f"the model's outputs computed from the weights differ from the recording "
                       f"by {worst:.2g}")
                derived_out = None
        if derived_out is not None:
            self.need_input()
            self.layers_needed.update(self.names_through(None))
            out["output"] = "derived"
            self.sources["output"] = "derived"
        else:
            out["output"] = self._ship_output(probs)
            self.sources["output"] = "shipped"
            self.notes.append(f"Predictions are shown as recorded (quantised): {why}.")
        # the loss: derived from the derived outputs when a formula reproduces the recording
        loss_name = _LOSSES.get(str(replay.loss_name).lower().replace("_", "").replace(" ", ""))
        loss_why = why
        if derived_out is not None and derived_pre is not None:
            loss_why = f"the page has no formula for the loss {replay.loss_name!r}"
            if loss_name is not None:
                # Keras' cross-entropies take the logits under a final sigmoid/softmax (its
                # TensorFlow backend does) or clip the probabilities (others may): whichever
                # reproduces the recording is the one the page uses.
                if from_logits:
                    modes = ["logits"]
                elif loss_name in ("mse", "mae"):
                    modes = ["output"]
                else:
                    modes = ["logits", "output"]
                for mode in modes:
                    source = derived_out if (from_logits or mode == "output") else derived_pre
                    y = np.asarray(replay.probe_y)
                    got = np.stack([per_sample_loss(loss_name, mode, source[i], y)
                                    for i in range(n_epochs)])
                    ok, worst = _close(got, losses)
                    if ok:
                        out["loss"] = {"name": loss_name, "mode": mode}
                        self.sources["loss"] = "derived"
                        break
                    loss_why = (f"the loss {replay.loss_name!r} computed from the outputs differs "
                                f"from the recording by {worst:.2g}")
        if "loss" not in out:
            self.blob.quantized("loss", losses)
            out["loss"] = "loss"
            self.sources["loss"] = "shipped"
            self.notes.append(f"Per-sample losses are shown as recorded (quantised): {loss_why}.")
        self.output = out
        return out

    def _ship_output(self, probs: np.ndarray) -> str:
        """The recorded predictions a view needs, quantised: P(class 1) for a binary
        classifier, P(true class) for a multiclass one, the outputs of a regression."""
        kind = self.task.kind.value
        if kind == "binary":
            self.blob.quantized("p1", probs[..., -1])
            return "p1"
        if kind == "multiclass":
            labels = self.replay.labels.clip(0, probs.shape[-1] - 1)
            self.blob.quantized("ptrue", np.take_along_axis(
                probs, labels[None, :, None], axis=2)[..., 0])
            return "ptrue"
        self.blob.quantized("pred", probs)
        return "pred"


def _to_probabilities(z: np.ndarray) -> np.ndarray:
    if z.shape[-1] == 1:
        return np.asarray(1.0 / (1.0 + np.exp(-z)))
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _pre_activation(fwd: NumpyForward, outs: Mapping[str, np.ndarray],
                    weights: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The last layer's output before its sigmoid/softmax (the logits Keras' cross-entropies
    use when a model ends in one): a Dense layer's affine part, or an Activation/Softmax
    layer's input."""
    last = fwd.steps[-1]
    names = fwd.layer_names
    before = outs[names[-2]] if len(names) > 1 else np.asarray(x, dtype=np.float32)
    if last.kind == "Dense":
        h = before @ weights[f"{last.name}/kernel"]
        if last.config.get("use_bias", True):
            h = h + weights[f"{last.name}/bias"]
        return np.asarray(h)
    if last.kind in ("Activation", "Softmax"):
        return np.asarray(before)
    return np.asarray(outs[names[-1]])


# ---------------------------------------------------------------------------------- views
def _hex(color: Any) -> str:
    from matplotlib.colors import to_hex

    return str(to_hex(color))


def _color(color: Any) -> str:
    """A data colour as hex, or ``"neutral"`` for a grey (the page takes the theme's)."""
    from matplotlib.colors import to_rgb

    rgb = np.asarray(to_rgb(color))
    return "neutral" if float(rgb.max() - rgb.min()) < 0.06 else _hex(color)


def _lut(name: str, lo: float = 0.0, hi: float = 1.0) -> str:
    """256 RGB colours of a matplotlib colormap between ``lo`` and ``hi``, as hex digits."""
    import matplotlib

    rgb = matplotlib.colormaps[name](np.linspace(lo, hi, 256))[:, :3]
    return bytes(np.rint(rgb * 255).astype(np.uint8).ravel()).hex()


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def _points_view(plan: _Plan, panel: Any, layer: str, recorded: np.ndarray,
                 projected: np.ndarray | None) -> dict[str, Any]:
    replay = plan.replay
    source = plan.layer_points(layer, recorded, projected)
    spec: dict[str, Any] = {"layer": layer, "points": source,
                            "xlim": _floats(panel.xlim), "ylim": _floats(panel.ylim)}
    if not plan.task.is_classifier:
        target = np.asarray(replay.probe_y, dtype=np.float64).reshape(replay.n_probe, -1)[:, 0]
        spec["color_by"] = {"target": True, "range": [float(np.nanmin(target)),
                                                       float(np.nanmax(target))],
                            "cmap": "viridis"}
    return spec


def _feature_view(plan: _Plan, panel: Any) -> dict[str, Any]:
    from pipeline.library.replay.panels.drawing import class_colors

    replay, task = plan.replay, plan.task
    spec = {"kind": "feature", "title": panel.title or f"Feature space: layer {panel.layer!r}",
            "xlabel": f"{panel.layer} unit 0", "ylabel": f"{panel.layer} unit 1",
            "point_size": panel.point_size}
    spec.update(_points_view(plan, panel, panel.layer,
                             panel._points_fs, None))
    notes = list(getattr(panel, "notes", []))
    if panel._lines_fs is not None:
        why = plan.can_run(stop_at=panel.layer) or plan.missing_weights(
            plan.names_through(panel.layer))
        if why is None:  # the grid needs the weights up to the layer, not the inputs
            plan.layers_needed.update(plan.names_through(panel.layer))
            (x0, x1), (y0, y1) = panel.grid_range
            spec["input_grid"] = {"range": [[float(x0), float(x1)], [float(y0), float(y1)]],
                                  "lines": list(panel.grid_lines),
                                  "points": int(panel.line_points)}
        else:
            notes.append(f"No bent input grid in the page: {why}")
    tail_missing = plan.missing_weights(plan.names_after(panel.layer)) if panel._has_tail \
        else None
    if tail_missing is not None:
        notes.append(f"No background in the page: {tail_missing}")
    elif panel._has_tail:
        plan.layers_needed.update(plan.names_after(panel.layer))
        multiclass = task.kind.value == "multiclass"
        spec["background"] = {
            "kind": "multiclass" if multiclass else "binary",
            "resolution": int(panel.boundary_resolution), "alpha": 0.45,
            "cmap": panel.cmap, "colors": [_hex(c) for c in class_colors(task.n_classes or 2)],
            "from_logits": bool(replay.meta.get("from_logits")),
        }
    spec["notes"] = notes
    return spec


def _projection_view(plan: _Plan, panel: Any) -> dict[str, Any]:
    from pipeline.library.replay.panels.data import _layer_points

    proj = panel.projection
    name = f"ProjectionPanel(layer={panel.layer!r})"
    recorded = _layer_points(plan.replay, panel.layer, name)
    spec: dict[str, Any] = {
        "kind": "projection",
        "title": panel.title or f"Layer {panel.layer!r}, projected ({proj.method})",
        "xlabel": proj.axis_label(0), "ylabel": proj.axis_label(1),
        "point_size": panel.point_size,
        "projection": {"mean": _floats(proj.mean), "components": [
            _floats(row) for row in np.asarray(proj.components)]},
    }
    spec.update(_points_view(plan, panel, panel.layer, recorded, panel._points))
    return spec


def _boundary_view(plan: _Plan, panel: Any) -> dict[str, Any]:
    from pipeline.library.replay.panels.drawing import class_colors

    why = plan.can_run() or plan.missing_weights(plan.names_through(None))
    if why is not None:
        raise PanelError(f"DecisionBoundaryPanel cannot be drawn in the page: {why}")
    plan.need_input()
    plan.layers_needed.update(plan.names_through(None))
    (x0, x1), (y0, y1) = panel.grid_range
    multiclass = panel.multiclass
    return {"kind": "boundary",
            "title": panel.title or ("Decision boundaries (predicted class)" if multiclass
                                     else "Decision boundary (P = 0.5)"),
            "xlabel": "x1", "ylabel": "x2", "xlim": [float(x0), float(x1)],
            "ylim": [float(y0), float(y1)], "resolution": int(panel.resolution),
            "alpha": float(panel.alpha), "cmap": panel.cmap, "contour": bool(panel.contour),
            "points": bool(panel.points), "point_size": panel.point_size,
            "multiclass": multiclass,
            "colors": [_hex(c) for c in class_colors(plan.task.n_classes or 2)],
            "from_logits": bool(plan.replay.meta.get("from_logits"))}


def _histogram_view(kind: str, panel: Any, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "title": panel.title or "", "xlabel": panel.xlabel, "ylabel": "count",
            "edges": _floats(panel.edges), "ymax": float(panel.ymax),
            "color": _color(panel.color), **extra}


def _probability_view(plan: _Plan, panel: Any) -> dict[str, Any]:
    from pipeline.library.replay.panels.drawing import class_colors

    plan.outputs()
    extra: dict[str, Any] = {"cls": panel.cls, "stacked": bool(panel.stacked)}
    if panel.stacked:
        colors = class_colors(int(plan.task.n_classes))
        extra["classes"] = [int(c) for c in panel.classes]
        extra["colors"] = [_hex(colors[c]) for c in panel.classes]
    return _histogram_view("probability", panel, **extra)


def _loss_view(plan: _Plan, panel: Any) -> dict[str, Any]:
    plan.outputs()
    return _histogram_view("loss", panel, clip="max")


def _residual_view(plan: _Plan, panel: Any) -> dict[str, Any]:
    plan.outputs()
    return _histogram_view("residual", panel, clip="both", output=panel.output)


def _weights_view(plan: _Plan, panel: Any) -> dict[str, Any]:
    keys = [k for k in plan.replay.weight_keys if k.startswith(f"{panel.layer}/")
            and (panel.variable is None or k == f"{panel.layer}/{panel.variable}")]
    for key in keys:
        plan.blob.float32(f"w/{key}", plan.replay.weight_history(key))
    return _histogram_view("weights", panel, weights=[f"w/{k}" for k in keys])


def _prediction_view(plan: _Plan, panel: Any) -> dict[str, Any]:
    plan.outputs()
    return {"kind": "prediction", "title": panel.title or "", "xlabel": "target",
            "ylabel": "prediction", "xlim": _floats(panel.lim), "ylim": _floats(panel.lim),
            "output": panel.output, "point_size": panel.point_size, "color": _hex("C0")}


def _curves_view(plan: _Plan, panel: Any) -> dict[str, Any]:
    import matplotlib

    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key().get("color", ["#1f77b4"])
    replay = plan.replay
    return {"kind": "curves", "title": panel.title or "", "xlabel": "epoch", "ylabel": "",
            "metrics": list(panel.metrics), "labels": list(panel.labels),
            "colors": [_hex(cycle[i % len(cycle)]) for i in range(len(panel.metrics))],
            "show_future": bool(panel.show_future),
            "xlim": [float(replay.epochs[0]), float(max(replay.epochs[-1], replay.epochs[0] + 1))],
            "ylim": _floats(panel._ylim)}


def _views() -> dict[type, Callable[[_Plan, Any], dict[str, Any]]]:
    from pipeline.library.replay.panels import (
        CurvesPanel,
        DecisionBoundaryPanel,
        FeatureSpacePanel,
        LossHistogramPanel,
        PredictionPanel,
        ProbabilityHistogramPanel,
        ProjectionPanel,
        ResidualHistogramPanel,
        WeightDistributionPanel,
    )

    return {FeatureSpacePanel: _feature_view, ProjectionPanel: _projection_view,
            DecisionBoundaryPanel: _boundary_view, ProbabilityHistogramPanel: _probability_view,
            LossHistogramPanel: _loss_view, ResidualHistogramPanel: _residual_view,
            WeightDistributionPanel: _weights_view, PredictionPanel: _prediction_view,
            CurvesPanel: _curves_view}


def _slots(panels: Any) -> tuple[Replay | None, list[tuple[Any, Slot]], tuple[int, int],
                                 tuple[float, float]]:
    """``(replay, [(panel, (row, col, rowspan, colspan))], (rows, cols), (width, height))``
    from a :class:`~pipeline.library.replay.composer.Composition` or a list of slots."""
    from pipeline.library.replay.composer import Composition

    if isinstance(panels, Composition):
        gs = panels.panels[0][1].get_subplotspec().get_gridspec()
        w, h = (float(v) for v in panels.figure.get_size_inches())
        return panels.replay, panels.slots, (gs.nrows, gs.ncols), (w, h)
    out = []
    for panel, slot in panels:
        r, c, rs, cs = (*slot, 1, 1) if len(slot) == 2 else slot
        out.append((panel, (int(r), int(c), int(rs), int(cs))))
    rows = max(r + rs for _, (r, _c, rs, _cs) in out)
    cols = max(c + cs for _, (_r, c, _rs, cs) in out)
    return None, out, (rows, cols), (3.0 * cols, 3.0 * rows)


def _size_problem(sizes: dict[str, int], total: int, max_bytes: int, replay: Replay) -> str:
    largest = sorted(sizes.items(), key=lambda kv: -kv[1])[:4]
    parts = ", ".join(f"{name} ({n / 1e6:.2f} MB)" for name, n in largest)
    n_epochs, n = len(replay.epochs), replay.n_probe
    return (f"the replay data for the page is {total / 1e6:.2f} MB, over its cap of "
            f"{max_bytes / 1e6:.2f} MB; largest arrays: {parts}. Thin it: fewer points (record a "
            f"subset of the {n} probe points: ReplayRecorder(probe_x[:k], probe_y[:k], ...)), "
            f"fewer epochs (write replay.subset(every k-th of the {n_epochs} epochs)), or fewer "
            "layers (views of a narrower layer, a projection instead of its outputs); or raise "
            "max_bytes if the page may be that heavy.")


def write_replay_data(
    path: str | os.PathLike[str],
    replay: Replay,
    panels: Any,
    *,
    fps: float = 20.0,
    title: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    derive: bool = True,
) -> ReplayData:
    """Write ``<path>`` (the JSON index, ``.json``) and the binary file beside it.

    ``panels``: a :class:`~pipeline.library.replay.composer.Composition` (the one that draws
    the video: the page shows the same views on the same axes) or a list of ``(panel, slot)``
    as a Composition takes. ``fps``: the pace of the page's "play" (epochs per second).
    ``derive=False`` ships every number as recorded instead of computing what it can.
    A view the page cannot draw is listed in the index with why, and the page says so.
    """
    from pipeline.library.replay.panels.drawing import class_colors
    from pipeline.library.replay.task import infer_task

    final = Path(path)
    if final.suffix != ".json":
        raise PipelineError(f"write_replay_data({str(final)!r}): give the index's path, "
                            "ending in .json (the binary file is written beside it)")
    source_replay, slots, grid, size = _slots(panels)
    if source_replay is not None and source_replay is not replay:
        raise PipelineError("write_replay_data: the composition draws another replay than the "
                            "one given")
    task = infer_task(replay)
    try:
        fwd: NumpyForward | None = replay.numpy_model
    except PipelineError as exc:
        log.info("replay data: no forward pass (%s)", exc)
        fwd = None
    blob = _Blob()
    plan = _Plan(fwd, task, derive, blob, replay)
    n_epochs, n = len(replay.epochs), replay.n_probe
    if task.is_classifier:
        blob.integers("labels", replay.labels)
    target = np.asarray(replay.probe_y, dtype=np.float64).reshape(n, -1)
    blob.float32("targets", target)
    views = _views()
    specs: list[dict[str, Any]] = []
    for panel, slot in slots:
        kind = type(panel).__name__
        maker = next((fn for cls, fn in views.items() if isinstance(panel, cls)), None)
        try:
            if maker is None:
                raise PanelError(f"{kind} has no view in the page's script; it is drawn only "
                                 "in the video and the still")
            if hasattr(panel, "prepare_once"):
                panel.prepare_once(replay)
            spec = maker(plan, panel)
        except PipelineError as exc:
            spec = {"kind": "unsupported", "title": kind, "why": str(exc)}
            plan.notes.append(f"{kind}: {exc}")
        spec["slot"] = list(slot)
        spec["name"] = kind
        specs.append(spec)
    outputs = plan.outputs()  # hover shows every point's prediction and loss
    model = _model_spec(fwd, replay, plan.layers_needed, blob) if fwd is not None else []
    # 7 significant digits: a float32's precision, and half the bytes of a float64's repr
    metrics = {k: [None if not np.isfinite(v) else float(f"{v:.7g}") for v in np.asarray(arr, float)]
               for k, arr in replay.metrics.items()}
    index: dict[str, Any] = {
        "format": FORMAT, "version": VERSION,
        "bin": final.with_suffix(".bin").name, "bytes": blob.size, "endian": "little",
        "title": title, "fps": float(fps),
        "epochs": [int(e) for e in replay.epochs], "n_probe": n,
        "task": {"kind": task.kind.value, "n_classes": task.n_classes,
                 "n_outputs": task.n_outputs, "n_inputs": task.n_inputs, "loss": task.loss},
        "classes": {"colors": [_hex(c) for c in class_colors(task.n_classes or 1)]}
        if task.is_classifier else None,
        "output": outputs, "sources": plan.sources,
        "model": model, "metrics": metrics,
        "grid": {"rows": grid[0], "cols": grid[1], "width": size[0], "height": size[1]},
        "panels": specs, "notes": plan.notes,
        "colormaps": {"RdBu": _lut("RdBu", 0.1, 0.9), "viridis": _lut("viridis")},
        "arrays": blob.entries,
    }
    text = atomic.dumps_strict(index, separators=(",", ":"))
    sizes = {name: int(entry["bytes"]) for name, entry in blob.entries.items()}
    total = blob.size + len(text.encode())
    if total > max_bytes:
        raise ReplayDataTooLarge(f"{final}: " + _size_problem(sizes, total, max_bytes, replay))
    binary = final.with_suffix(".bin")
    atomic.write_bytes(binary, b"".join(blob.parts))
    atomic.write_text(final, text)
    log.info("replay data %s: %d epochs x %d points, %.0f kB (%s)", final.name, n_epochs, n,
             total / 1e3, ", ".join(f"{k} {v}" for k, v in plan.sources.items()))
    return ReplayData(final, binary, blob.size, len(text.encode()), dict(plan.sources),
                      list(plan.notes))


def panel_notes(specs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every "cannot draw" note of an index's views (for logs and tests)."""
    out = []
    for spec in specs:
        out.extend(spec.get("notes", []))
        if spec.get("kind") == "unsupported":
            out.append(str(spec.get("why")))
    return out

"""What panels compute from a replay before drawing: its task, layer outputs, weights, ranges.

Why a module of its own: several panels read the same things from a replay (a layer's outputs
from the recording or the numpy forward pass, a layer's weights, axis ranges that ignore a
diverged epoch, histograms over bins fixed across epochs); one copy here keeps their error
messages and their numbers the same in every panel. Plain numpy: nothing here draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.library.errors import PanelError, PipelineError
from pipeline.library.replay.panels.base import _cannot
from pipeline.library.replay.store import Replay


def _task(replay: Replay, panel: str) -> Any:
    """:func:`pipeline.library.replay.task.infer_task`, with the panel's name on a failure."""
    from pipeline.library.replay.task import TaskError, infer_task

    try:
        return infer_task(replay)
    except TaskError as exc:
        raise PanelError(f"{panel}: {exc}") from exc


def _layer_points(replay: Replay, layer: str, panel: str) -> np.ndarray:
    """A layer's outputs on the probe set for every epoch, ``(E, N, units)``: recorded ones,
    else the numpy forward pass (a clear PanelError when neither is possible)."""
    n_epochs = len(replay.epochs)
    if layer in replay.recorded_layers:
        return replay.layer_outputs(layer).reshape(n_epochs, replay.n_probe, -1)
    try:
        fwd = replay.partial_numpy_model  # only the layers up to this one need to be numpy's
        if layer not in fwd.layer_names:
            raise _cannot(panel, f"a layer named {layer!r}",
                          f"no layer {layer!r}: its layers are {fwd.layer_names} (recorded: "
                          f"{replay.recorded_layers})")
        return np.stack([
            fwd(replay.weights(int(e)), replay.probe_x, stop_at=layer).reshape(replay.n_probe, -1)
            for e in replay.epochs
        ])
    except PanelError:
        raise
    except PipelineError as exc:
        raise PanelError(f"{panel}(layer={layer!r}): {exc}") from exc


def _as_probabilities(replay: Replay, out: np.ndarray) -> np.ndarray:
    """Model outputs as the recorder stores them: a model compiled with a ``from_logits``
    loss outputs logits, which the recorder (and so every probability panel) turns into
    probabilities with a sigmoid (one unit) or a softmax; grids evaluated with the numpy
    forward pass must do the same to agree with the recorded points."""
    if not replay.meta.get("from_logits"):
        return out
    from pipeline.library.replay.forward import ACTIVATIONS

    return ACTIVATIONS["sigmoid" if out.shape[-1] == 1 else "softmax"](out)


def _layer_values(replay: Replay, layer: str, variable: str | None) -> np.ndarray:
    """All of a layer's recorded weight values per epoch: ``(E, n)``."""
    prefix = f"{layer}/"
    keys = [k for k in replay.weight_keys
            if k.startswith(prefix) and (variable is None or k == prefix + variable)]
    if not keys:
        raise PanelError(
            f"no recorded weights for layer {layer!r}"
            + (f" variable {variable!r}" if variable else "")
            + f"; recorded: {replay.weight_keys}"
        )
    n_epochs = len(replay.epochs)
    return np.concatenate(
        [replay.weight_history(k).reshape(n_epochs, -1) for k in keys], axis=1
    )


def _limits(values: np.ndarray, margin: float = 0.05) -> tuple[float, float]:
    """Finite min/max with a margin; NaNs from a diverged epoch do not widen the axes."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (0.0, 1.0)
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * margin
    return lo - pad, hi + pad


def _histograms(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per epoch for ``values`` of shape (E, n) over fixed ``edges``; NaNs are dropped."""
    out = np.zeros((values.shape[0], len(edges) - 1), dtype=np.float64)
    for i, row in enumerate(values):
        row = row[np.isfinite(row)]
        out[i] = np.histogram(row, bins=edges)[0]
    return out

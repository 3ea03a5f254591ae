"""Layouts: which panels a replay gets, chosen from what was recorded.

Why a chooser instead of one fixed figure: the seed-000 figure (:func:`pipeline.library.explainers.seed000.seed000_layout`)
fits one model, a binary classifier with 2 inputs and a 2-unit hidden layer. A new author's
model is a 3-class classifier on 13 features, or a regression, or a deep binary network, and
should get a meaningful replay from one call without writing panels. :func:`default_layout`
reads the task (:func:`.task.infer_task`), the input width and the hidden layers' widths from
the replay and picks:

- the main view, left: the feature space of a 2-unit hidden layer (input grid and background
  where they apply); else, for a classifier with 2-D inputs, the decision boundary in the input
  plane (and a fixed PCA projection of the last hidden layer beside it, when there is one);
  else the PCA projection of the last hidden layer; else, for regression, prediction vs target;
- task views: probability histograms of class 0 and 1 (binary), of the true class stacked by
  class (multiclass; plus the input-plane boundary for 2-D inputs), prediction vs target and
  residuals (regression);
- always: loss (and accuracy where recorded) on the probe set, and the per-sample loss.

The figure is 3 inches per grid column and 6 high: 12x6 for the seed-000 shape of model.

Nothing is left out silently. Parts of a view that need the numpy forward pass (the bent input
grid: the layers before the viewed one; the background: the layers after it; the decision
boundary: all of them) are drawn where those layers are ones it can run, and the view is drawn
without them otherwise; :func:`default_layout_notes` says, in sentences for the page, what was
left out and why (``default_layout`` logs them as warnings).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from pipeline.library.errors import PipelineError
from pipeline.library.replay.composer import Composition
from pipeline.library.replay.forward import NumpyForward
from pipeline.library.replay.panels import (
    CurvesPanel,
    DecisionBoundaryPanel,
    FeatureSpacePanel,
    LossHistogramPanel,
    Panel,
    PredictionPanel,
    ProbabilityHistogramPanel,
    ProjectionPanel,
    ResidualHistogramPanel,
)
from pipeline.library.replay.panels.data import _limits
from pipeline.library.replay.store import Replay
from pipeline.library.replay.task import Task, TaskKind, infer_task
from pipeline.library.replay.viewed import PASS_THROUGH_KINDS, hidden_widths, viewed_layer

log = logging.getLogger(__name__)

__all__ = ["default_layout", "default_layout_notes", "default_panels", "hidden_layer_widths"]


def hidden_layer_widths(replay: Replay) -> dict[str, int]:
    """``{layer: units}`` for the hidden layers (every layer but the output), in model order.

    Widths come from the replay's metadata (the recorder stores every layer's width); for
    older files, from the recorded outputs where a layer was recorded, else from one numpy
    forward pass of a single probe point. Layers that only pass values through (Dropout,
    Flatten, ...) are left out: they show the same values as the layer before them. A model the
    numpy forward pass cannot run contributes only its recorded layers.
    """
    kinds, stored = replay.layer_kinds, replay.layer_widths
    if stored:
        return hidden_widths((name, kinds.get(name, ""), width) for name, width in stored.items())
    widths: dict[str, int] = {}
    recorded = set(replay.recorded_layers)
    try:
        fwd = replay.numpy_model
    except PipelineError as exc:  # a branched model: no chain to walk
        log.debug("numpy forward pass unavailable (%s); using recorded layers only", exc)
        last = replay.layer_names[-1] if replay.layer_names else None
        for name in replay.recorded_layers:
            if name != last:
                widths[name] = int(np.prod(replay.layer_outputs(name).shape[2:]))
        return widths
    # Walk the chain on one probe point as far as numpy can compute it; past a layer it cannot
    # (a convolution), widths come from the recorded outputs only.
    h: np.ndarray | None = np.asarray(replay.probe_x[:1], dtype=np.float32)
    weights = replay.weights(int(replay.epochs[0]))
    for step in fwd.steps[:-1]:
        if h is not None:
            try:
                h = step(h, weights)
            except (PipelineError, KeyError, ValueError) as exc:
                log.debug("numpy forward pass stops at %r (%s)", step.name, exc)
                h = None
        if step.kind in PASS_THROUGH_KINDS:
            continue
        if step.name in recorded:
            widths[step.name] = int(np.prod(replay.layer_outputs(step.name).shape[2:]))
        elif h is not None:
            widths[step.name] = int(np.prod(h.shape[1:]))
    return widths


def _curves(replay: Replay) -> CurvesPanel:
    """Loss and accuracy on the probe set (the weights at each epoch's end) when recorded."""
    if "probe_loss" in replay.metrics:
        metrics = ["probe_loss"] + (["probe_accuracy"] if "probe_accuracy" in replay.metrics
                                    else [])
        return CurvesPanel(metrics, labels=["loss", "accuracy"][: len(metrics)],
                           title="Loss and metric" if len(metrics) > 1 else "Loss")
    return CurvesPanel()


class _Forward:
    """Which passes of the numpy forward pass a replay allows, and why not where it does not."""

    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.fwd: NumpyForward | None = None
        self.error: str | None = None
        try:
            self.fwd = replay.partial_numpy_model
        except PipelineError as exc:  # a branching model, no stored config
            self.error = str(exc)
        if self.error is None and not replay.weight_keys:
            self.error = "no weights were recorded (ReplayRecorder(weights=False))"

    def cannot(self, *, start_after: str | None = None, stop_at: str | None = None) -> str | None:
        """Why the pass from ``start_after`` to ``stop_at`` cannot run (None: it can)."""
        if self.error is not None or self.fwd is None:
            return self.error or "the numpy forward pass is unavailable"
        for name in (start_after, stop_at):
            if name is not None and name not in self.fwd.layer_names:
                return f"the stored model config has no layer {name!r}"
        return self.fwd.unsupported(start_after=start_after, stop_at=stop_at)


def _plan(
    replay: Replay,
    layer: str | None,
    grid_range: tuple[tuple[float, float], tuple[float, float]] | None,
    task: Task | None,
) -> tuple[list[Panel], list[Panel], list[str]]:
    """The panels of :func:`default_panels` and the sentences of :func:`default_layout_notes`."""
    task = task or infer_task(replay)
    x = np.asarray(replay.probe_x)
    two_d = x.ndim == 2 and x.shape[1] == 2
    widths = hidden_layer_widths(replay)
    if layer is not None and layer not in widths:
        raise PipelineError(
            f"default_layout(layer={layer!r}): not a hidden layer of this model; hidden "
            f"layers: {list(widths)}"
        )
    if grid_range is None and two_d:
        grid_range = (_limits(x[:, 0], 0.1), _limits(x[:, 1], 0.1))
    forward = _Forward(replay)
    notes: list[str] = []
    view = viewed_layer(widths, layer)
    if view is not None and view not in replay.recorded_layers:
        why = forward.cannot(stop_at=view)
        if why is not None:
            notes.append(f"Layer '{view}' is not drawn: its outputs were not recorded and the "
                         f"numpy forward pass cannot compute them ({why}). Record it with "
                         f"ReplayRecorder(layers=['{view}']) or the default layers=None.")
            view = None
    boundary_why = forward.cannot() if task.is_classifier and two_d else None

    mains: list[Panel] = []
    if view is not None and widths[view] == 2:
        kwargs: dict[str, Any] = {}
        if two_d:
            grid_why = forward.cannot(stop_at=view)
            if grid_why is None:
                kwargs["grid_range"] = grid_range
            else:
                kwargs["grid"] = False
                notes.append(f"The input grid is not bent into layer '{view}''s plane: the "
                             f"numpy forward pass cannot run the layers before it ({grid_why}).")
        if task.is_classifier:
            tail_why = forward.cannot(start_after=view)
            kwargs["boundary"] = tail_why is None
            if tail_why is not None:
                notes.append(f"The feature space of layer '{view}' has no background (what "
                             "the rest of the network predicts there): the numpy forward pass "
                             f"cannot run the layers after it ({tail_why}).")
        mains.append(FeatureSpacePanel(view, **kwargs))
    elif task.is_classifier and two_d:
        if boundary_why is None:
            mains.append(DecisionBoundaryPanel(resolution=150))
        else:
            notes.append("The decision boundary in the input plane is not drawn: the numpy "
                         f"forward pass cannot run this model ({boundary_why}).")
        if view is not None:
            mains.append(ProjectionPanel(view))
    elif view is not None:
        mains.append(ProjectionPanel(view))

    side: list[Panel] = []
    if task.kind is TaskKind.BINARY:
        side += [ProbabilityHistogramPanel(cls=0), ProbabilityHistogramPanel(cls=1)]
    elif task.kind is TaskKind.MULTICLASS:
        side.append(ProbabilityHistogramPanel(cls=None))
        if (two_d and boundary_why is None
                and not any(isinstance(p, DecisionBoundaryPanel) for p in mains)):
            side.append(DecisionBoundaryPanel(resolution=120, point_size=1.5))
    elif mains:
        side += [PredictionPanel(), ResidualHistogramPanel()]
    else:
        mains.append(PredictionPanel())
        side.append(ResidualHistogramPanel())
    side += [_curves(replay), LossHistogramPanel()]
    return mains, side, notes


def default_panels(
    replay: Replay,
    *,
    layer: str | None = None,
    grid_range: tuple[tuple[float, float], tuple[float, float]] | None = None,
    task: Task | None = None,
) -> tuple[list[Panel], list[Panel]]:
    """The panels :func:`default_layout` draws: ``(main views, smaller views)``.

    ``layer`` picks the hidden layer to show (default: the last 2-unit hidden layer, else the
    last hidden layer); ``grid_range`` the input square of the feature-space grid (default:
    the probe inputs' range).
    """
    mains, side, _ = _plan(replay, layer, grid_range, task)
    return mains, side


def default_layout_notes(replay: Replay, *, layer: str | None = None) -> list[str]:
    """What :func:`default_layout` leaves out of ``replay``'s pictures and why, one sentence
    each, for the page (``ex.note(...)``); empty when everything is drawn."""
    return _plan(replay, layer, None, None)[2]


def default_layout(
    replay: Replay,
    *,
    layer: str | None = None,
    grid_range: tuple[tuple[float, float], tuple[float, float]] | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: float = 100,
    epoch_label: str | None = "Epoch {epoch}",
) -> Composition:
    """A :class:`Composition` of the panels that fit ``replay`` (see the module docstring).

    Main views take 2x2 grid cells on the left; the smaller views fill the columns to their
    right, two per column (a lone last one spans both rows).
    """
    mains, side, notes = _plan(replay, layer, grid_range, None)
    for note in notes:
        log.warning("default_layout: %s", note)
    slots: list[tuple[Panel, tuple[int, int, int, int]]] = []
    for i, panel in enumerate(mains):
        slots.append((panel, (0, 2 * i, 2, 2)))
    first = 2 * len(mains)
    for j, panel in enumerate(side):
        col = first + j // 2
        alone = j == len(side) - 1 and j % 2 == 0
        slots.append((panel, (j % 2, col, 2 if alone else 1, 1)))
    cols = first + math.ceil(len(side) / 2)
    size = figsize or (3.0 * cols, 6.0)
    log.info("default_layout: %s", ", ".join(type(p).__name__ for p, _ in slots))
    return Composition(replay, slots, figsize=size, dpi=dpi, grid=(2, cols),
                       epoch_label=epoch_label)


"""The projection panel: any layer's outputs in a 2-D PCA plane fixed across epochs.

Why a module of its own: it is the view for layers wider than two units, where the
feature-space panel has no plane to draw in. The projection itself (fitting and applying the
fixed PCA map) lives in :mod:`pipeline.library.replay.projection`; this module only draws it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from pipeline.library.errors import PanelError, PipelineError
from pipeline.library.replay.panels.base import Panel, _cannot
from pipeline.library.replay.panels.data import _layer_points, _limits, _task
from pipeline.library.replay.panels.drawing import (
    _class_markers,
    _move_points,
    _target_scatter,
    class_colors,
)
from pipeline.library.replay.store import Replay


class ProjectionPanel(Panel):
    """Any layer's outputs on the probe set in a 2-D projection fixed across epochs.

    For a layer wider than two units there is no plane to draw it in, so the panel fits PCA on
    the layer's outputs at ``fit_epoch`` (default: the last epoch whose outputs are finite) and
    passes every epoch's
    outputs through that same map (:class:`pipeline.library.replay.projection.FixedProjection`); the
    axis labels say it is a projection, of which layer, and fitted at which epoch. Points are
    coloured by class (classifiers) or by target (regression). Works for any input width and
    any model, as long as the layer was recorded or the numpy forward pass can compute it.
    """

    def __init__(self, layer: str, *, fit_epoch: int | None = None, point_size: float = 2.5,
                 title: str | None = None, margin: float = 0.05) -> None:
        super().__init__(title)
        self.layer = layer
        self.fit_epoch = fit_epoch
        self.point_size = point_size
        self.margin = margin
        self.projection: Any = None

    def _prepare(self, replay: Replay) -> None:
        from pipeline.library.replay.projection import fit_pca

        name = f"ProjectionPanel(layer={self.layer!r})"
        self.task = _task(replay, name)
        outputs = _layer_points(replay, self.layer, name)
        if outputs.shape[-1] < 2:
            raise _cannot(name, "a layer with at least 2 units",
                          f"{outputs.shape[-1]} unit in {self.layer!r}")
        if self.fit_epoch is None:
            # The last epoch whose outputs are all finite: a run that diverged at the end
            # still gets the plane of its last sound state.
            finite = np.flatnonzero(np.isfinite(outputs).all(axis=(1, 2)))
            if not finite.size:
                raise _cannot(name, "finite layer outputs at some epoch",
                              f"non-finite outputs of {self.layer!r} at every epoch")
            epoch = int(replay.epochs[finite[-1]])
        else:
            epoch = int(self.fit_epoch)
        try:
            i = replay.index(epoch)
        except KeyError as exc:
            raise PanelError(f"{name}: fit_epoch: {exc.args[0]}") from None
        try:
            self.projection = fit_pca(outputs[i], layer=self.layer, epoch=epoch)
        except PipelineError as exc:
            raise PanelError(f"{name}: {exc}") from exc
        self._points = self.projection.transform(outputs).astype(np.float32)
        self.xlim = _limits(self._points[..., 0], self.margin)
        self.ylim = _limits(self._points[..., 1], self.margin)

    def projected(self, epoch: int) -> np.ndarray:
        """The probe points in the projection's plane at ``epoch``: ``(N, 2)``."""
        replay = self._require_setup()
        return self._points[replay.index(epoch)]

    def _draw(self, ax: Axes) -> None:
        replay = self._require_setup()
        self._markers = []
        self._scatter = None
        if self.task.is_classifier:
            colors = class_colors(self.task.n_classes)
            self._markers = _class_markers(ax, self._points[0], replay.labels,
                                           size=self.point_size, zorder=2, colors=colors)
        else:
            self._scatter = _target_scatter(ax, self._points[0], replay, self.point_size, 2)
        ax.set_xlim(self.xlim)
        ax.set_ylim(self.ylim)
        ax.set_title(self.title or f"Layer {self.layer!r}, projected ({self.projection.method})")
        ax.set_xlabel(self.projection.axis_label(0), fontsize="small")
        ax.set_ylabel(self.projection.axis_label(1), fontsize="small")

    def update(self, epoch: int) -> list[Artist]:
        """Move the points to the layer's projected outputs at ``epoch``."""
        return _move_points(self._markers, self._scatter, self.projected(epoch))

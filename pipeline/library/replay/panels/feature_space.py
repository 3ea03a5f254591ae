"""The feature-space panel: a 2-unit layer's plane, with the input grid bent into it.

Why a module of its own: it is the largest panel (the bent input grid and the predicted
background over the feature plane each need their own forward passes) and the centre of the
seed-000 figure.
"""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection

from pipeline.library.errors import PanelError, PipelineError
from pipeline.library.palette import neutral
from pipeline.library.replay.panels.base import Panel, Range, _cannot
from pipeline.library.replay.panels.data import _as_probabilities, _layer_points, _limits, _task
from pipeline.library.replay.panels.drawing import (
    _argmax_image,
    _class_markers,
    _light_cmap,
    _move_points,
    _rgb,
    _target_scatter,
    class_colors,
)
from pipeline.library.replay.store import Replay

log = logging.getLogger(__name__)


class FeatureSpacePanel(Panel):
    """A 2-unit layer's plane: the probe points there, with the input grid bent into it.

    The probe points are that layer's recorded outputs (or the numpy forward pass of the
    replayed weights if it was not recorded): this works for any input width. Where the input
    is 2-D, the lines of a regular grid over ``grid_range`` in *input* space are mapped through
    the network up to ``layer`` too, so the picture shows how the network bends its input
    plane. With ``boundary`` (default: on for classifiers) the background shows what the rest
    of the network predicts at each point of the feature plane (P(class 1) for a binary
    classifier, the predicted class shaded by confidence for a multiclass one), so the decision
    boundary appears where the colours meet: the network has made the classes separable when
    that line splits the points. The background depends on the 2-unit layer only, so it is
    drawn for any input width. Regression points are coloured by their target.
    """

    def __init__(
        self,
        layer: str = "hidden",
        grid_range: Range = ((-1.0, 2.0), (-0.5, 1.0)),
        *,
        grid_lines: tuple[int, int] = (21, 21),
        line_points: int = 100,
        boundary: bool | None = None,
        boundary_resolution: int = 150,
        points: bool = True,
        point_size: float = 2.0,
        cmap: str = "RdBu",
        title: str | None = None,
        margin: float = 0.05,
        grid: bool | None = None,
    ) -> None:
        super().__init__(title)
        self.layer = layer
        self.grid_range = grid_range
        self.grid_lines = grid_lines
        self.line_points = line_points
        self.boundary = boundary
        self.boundary_resolution = boundary_resolution
        self.points = points
        self.point_size = point_size
        self.cmap = cmap
        self.margin = margin
        self.grid = grid

    def input_grid(self) -> np.ndarray:
        """The grid lines in input space: ``(lines, line_points, 2)``."""
        (x0, x1), (y0, y1) = self.grid_range
        nv, nh = self.grid_lines
        m = self.line_points
        tx, ty = np.linspace(x0, x1, m), np.linspace(y0, y1, m)
        vertical = [np.column_stack([np.full(m, xv), ty]) for xv in np.linspace(x0, x1, nv)]
        horizontal = [np.column_stack([tx, np.full(m, yh)]) for yh in np.linspace(y0, y1, nh)]
        return np.asarray(vertical + horizontal, dtype=np.float32)

    def _prepare(self, replay: Replay) -> None:
        name = f"FeatureSpacePanel(layer={self.layer!r})"
        task = _task(replay, name)
        self.task = task
        two_d = task.n_inputs == 2 and np.asarray(replay.probe_x).ndim == 2
        if self.grid and not two_d:
            raise _cannot(name + " with grid=True", "a model with 2 input features (the grid "
                          "is drawn in input space)", f"{task.n_inputs} input features")
        draw_grid = two_d if self.grid is None else bool(self.grid)
        if self.boundary and not task.is_classifier:
            raise _cannot(name + " with boundary=True", "a classifier",
                          task.describe() + "; pass boundary=False")
        pts = _layer_points(replay, self.layer, name).astype(np.float32, copy=False)
        if pts.shape[-1] != 2:
            raise _cannot(
                name, "a 2-unit layer",
                f"{pts.shape[-1]} units in {self.layer!r}; draw it with "
                f"ProjectionPanel({self.layer!r}) (a fixed 2-D PCA projection)",
            )
        self._points_fs = pts
        n_epochs = len(replay.epochs)
        fwd = None
        if draw_grid or self.boundary is not False:
            try:
                # partial: the background needs only the layers after this one, the grid only
                # those before it (a convolution before a 2-unit layer costs neither the other)
                fwd = replay.partial_numpy_model
                if self.layer not in fwd.layer_names:
                    raise PanelError(
                        f"FeatureSpacePanel: no layer {self.layer!r}; layers: {fwd.layer_names}"
                    )
                why = fwd.unsupported(stop_at=self.layer) if draw_grid else None
                if why is not None:
                    raise PanelError(f"{name}: the input grid needs the layers before it: "
                                     f"{why} (pass grid=False)")
            except PipelineError as exc:
                if draw_grid or self.boundary:
                    if isinstance(exc, PanelError):
                        raise
                    raise PanelError(f"{name}: {exc}") from exc
                if task.is_classifier:  # auto background: drawn without it, never silently
                    log.warning("%s: no background (%s)", name, exc)
                fwd = None
        self._lines_fs = None
        if draw_grid:
            grid = self.input_grid()
            flat = grid.reshape(-1, 2)
            lines = np.empty((n_epochs, *grid.shape[:2], 2), dtype=np.float32)
            assert fwd is not None  # a grid needs the forward pass: its errors were raised above
            for i, epoch in enumerate(replay.epochs):
                out = fwd(replay.weights(int(epoch)), flat, stop_at=self.layer)
                lines[i] = out.reshape(*grid.shape[:2], 2)
            self._lines_fs = lines
        xs = [] if self._lines_fs is None else [self._lines_fs[..., 0].ravel()]
        ys = [] if self._lines_fs is None else [self._lines_fs[..., 1].ravel()]
        if self.points or self._lines_fs is None:
            xs.append(pts[..., 0].ravel())
            ys.append(pts[..., 1].ravel())
        self.xlim = _limits(np.concatenate(xs), self.margin)
        self.ylim = _limits(np.concatenate(ys), self.margin)
        want_tail = task.is_classifier if self.boundary is None else self.boundary
        tail_why = fwd.unsupported(start_after=self.layer) if fwd is not None else None
        if want_tail and tail_why is not None:
            if self.boundary:
                raise PanelError(f"{name} with boundary=True: the background needs the layers "
                                 f"after it: {tail_why}")
            log.warning("%s: no background: %s", name, tail_why)  # never silently
        self._fwd = fwd
        self._has_tail = (bool(want_tail) and fwd is not None and tail_why is None
                          and self.layer != fwd.layer_names[-1])
        if self._has_tail:
            r = self.boundary_resolution
            gx = np.linspace(*self.xlim, r)
            gy = np.linspace(*self.ylim, r)
            xx, yy = np.meshgrid(gx, gy)
            self._fs_grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)

    def feature_coordinates(self, epoch: int) -> np.ndarray:
        """The probe points in feature space at ``epoch``: ``(N, 2)``."""
        replay = self._require_setup()
        return self._points_fs[replay.index(epoch)]

    def grid_coordinates(self, epoch: int) -> np.ndarray:
        """The bent grid lines at ``epoch``: ``(lines, line_points, 2)``."""
        replay = self._require_setup()
        if self._lines_fs is None:
            raise _cannot("FeatureSpacePanel.grid_coordinates", "a model with 2 input features",
                          f"{self.task.n_inputs} input features (no input grid is drawn)")
        return self._lines_fs[replay.index(epoch)]

    def _tail_output(self, epoch: int) -> np.ndarray:
        replay = self._require_setup()
        assert self._fwd is not None  # only called when _prepare found a runnable tail
        out = self._fwd(replay.weights(epoch), self._fs_grid, start_after=self.layer)
        return _as_probabilities(replay, out)

    def _tail_probability(self, epoch: int) -> np.ndarray:
        """P(class 1) over the feature plane (binary), ``(r, r)``."""
        r = self.boundary_resolution
        return self._tail_output(epoch)[:, -1].reshape(r, r)

    def _tail_image(self, epoch: int) -> np.ndarray:
        if self.task.kind.value != "multiclass":
            return self._tail_probability(epoch)
        r = self.boundary_resolution
        prob = self._tail_output(epoch).reshape(r, r, -1)
        return _argmax_image(prob, self._palette, 0.45, self._face)

    def _draw(self, ax: Axes) -> None:
        replay = self._require_setup()
        self._image = None
        multiclass = self.task.kind.value == "multiclass"
        self._palette = np.asarray(
            [np.asarray(_rgb(c)) for c in class_colors(self.task.n_classes or 2)])
        self._face = neutral("face")
        if self._has_tail:
            r = self.boundary_resolution
            dx = (self.xlim[1] - self.xlim[0]) / (r - 1) / 2
            dy = (self.ylim[1] - self.ylim[0]) / (r - 1) / 2
            extent = (self.xlim[0] - dx, self.xlim[1] + dx, self.ylim[0] - dy, self.ylim[1] + dy)
            if multiclass:
                self._image = ax.imshow(
                    np.ones((r, r, 3)), extent=extent, origin="lower",
                    interpolation="nearest", aspect="auto", zorder=1,
                )
            else:
                self._image = ax.imshow(
                    np.full((r, r), 0.5), extent=extent,
                    origin="lower", cmap=_light_cmap(self.cmap, 0.45), vmin=0.0, vmax=1.0,
                    interpolation="nearest", aspect="auto", zorder=1,
                )
        self._lines = None
        if self._lines_fs is not None:
            self._lines = LineCollection(
                list(self._lines_fs[0]), colors="0.35", linewidths=0.5, alpha=0.6, zorder=1.5
            )
            ax.add_collection(self._lines)
        self._markers = []
        self._scatter = None
        if self.points:
            if self.task.is_classifier:
                self._markers = _class_markers(
                    ax, self._points_fs[0], replay.labels, size=self.point_size, zorder=2,
                    colors=class_colors(self.task.n_classes) if multiclass else None,
                )
            else:
                self._scatter = _target_scatter(ax, self._points_fs[0], replay,
                                                self.point_size, zorder=2)
        ax.set_xlim(self.xlim)
        ax.set_ylim(self.ylim)
        ax.set_title(self.title or f"Feature space: layer {self.layer!r}")
        ax.set_xlabel(f"{self.layer} unit 0")
        ax.set_ylabel(f"{self.layer} unit 1")

    def update(self, epoch: int) -> list[Artist]:
        """Bend the grid and move the points to ``epoch``; recolour the background."""
        replay = self._require_setup()
        i = replay.index(epoch)
        artists: list[Artist] = []
        if self._lines is not None and self._lines_fs is not None:  # set together in _draw
            self._lines.set_segments(list(self._lines_fs[i]))
            artists.append(self._lines)
        if self._image is not None:
            self._image.set_data(self._tail_image(epoch))
            artists.insert(0, self._image)
        artists.extend(_move_points(self._markers, self._scatter, self._points_fs[i]))
        return artists

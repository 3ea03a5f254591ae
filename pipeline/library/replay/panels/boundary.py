"""The decision-boundary panel: predicted probability over the 2-D input plane, and its lines.

Why a module of its own: it evaluates the network on a grid of input points every frame and
turns the result into boundary lines by marching squares; those lines (:func:`_level_lines`,
:func:`_class_boundaries`) are used by this panel only.
"""

from __future__ import annotations

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection

from pipeline.library.errors import PanelError, PipelineError
from pipeline.library.palette import neutral
from pipeline.library.replay.panels.base import Panel, Range, _cannot
from pipeline.library.replay.panels.data import _as_probabilities, _limits, _task
from pipeline.library.replay.panels.drawing import (
    _argmax_image,
    _class_markers,
    _light_cmap,
    _rgb,
    class_colors,
)
from pipeline.library.replay.store import Replay


def _level_lines(xs: np.ndarray, ys: np.ndarray, z: np.ndarray, level: float) -> list[np.ndarray]:
    """Line segments of ``z == level`` (marching squares via contourpy, matplotlib's engine).

    Why not ``ax.contour``: a contour set cannot be updated in place, so every frame would
    create and delete artists; the lines as a ``LineCollection`` are updated with
    ``set_segments`` like every other animated artist.
    """
    import contourpy

    gen = contourpy.contour_generator(xs, ys, np.ma.masked_invalid(z), line_type="Separate")
    return [np.asarray(seg) for seg in gen.lines(level)]


def _class_boundaries(xs: np.ndarray, ys: np.ndarray, prob: np.ndarray) -> list[np.ndarray]:
    """Where the predicted class changes on a ``(ny, nx, k)`` grid: for each class the zero
    line of its probability minus the largest other one (every boundary appears once per side,
    which draws the same line twice)."""
    segments: list[np.ndarray] = []
    for c in range(prob.shape[-1]):
        others = np.delete(prob, c, axis=-1).max(axis=-1)
        segments.extend(_level_lines(xs, ys, prob[..., c] - others, 0.0))
    return segments


class DecisionBoundaryPanel(Panel):
    """Predicted probability over a 2-D input grid, its decision boundary, and the probe points.

    A filled ``contourf`` cannot be updated in place, so the probability is an ``imshow`` whose
    data is replaced each epoch (pixel centres on the grid points, nearest-neighbour, so each
    pixel *is* one grid cell's prediction) and the boundary is a ``LineCollection`` from
    marching squares. The grid is evaluated with the numpy forward pass of the replayed weights.
    Binary classifiers show P(class 1) and its 0.5 line; a classifier with k > 2 classes shows
    the predicted class in its colour, paler where the model is less sure, and the lines where
    the predicted class changes.
    """

    def __init__(
        self,
        grid_range: Range | None = None,
        resolution: int = 200,
        *,
        points: bool = True,
        point_size: float = 3.0,
        contour: bool = True,
        cmap: str = "RdBu",
        alpha: float = 0.8,
        title: str | None = None,
        margin: float = 0.1,
    ) -> None:
        super().__init__(title)
        self.grid_range = grid_range
        self.resolution = resolution
        self.points = points
        self.point_size = point_size
        self.contour = contour
        self.cmap = cmap
        self.alpha = alpha
        self.margin = margin

    def _prepare(self, replay: Replay) -> None:
        x = np.asarray(replay.probe_x)
        if x.ndim != 2 or x.shape[1] != 2:
            raise _cannot("DecisionBoundaryPanel", "a model with 2 input features (it draws "
                          "the input plane)", f"probe inputs of shape {x.shape}; use "
                          "ProjectionPanel or FeatureSpacePanel for a hidden layer instead")
        self.task = _task(replay, "DecisionBoundaryPanel")
        if not self.task.is_classifier:
            raise _cannot("DecisionBoundaryPanel", "a classifier (binary or multiclass)",
                          self.task.describe())
        try:
            replay.numpy_model  # noqa: B018 - validate the model early, with a clear error
        except PipelineError as exc:
            raise PanelError(f"DecisionBoundaryPanel: {exc}") from exc
        if self.grid_range is None:
            self.grid_range = (_limits(x[:, 0], self.margin), _limits(x[:, 1], self.margin))
        (x0, x1), (y0, y1) = self.grid_range
        self.xs = np.linspace(x0, x1, self.resolution)
        self.ys = np.linspace(y0, y1, self.resolution)
        xx, yy = np.meshgrid(self.xs, self.ys)
        self.grid_points = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
        self._cache: tuple[int, np.ndarray] | None = None

    @property
    def multiclass(self) -> bool:
        """True for a classifier with more than two classes (set up by ``setup``)."""
        return self.task.kind.value == "multiclass"

    def probability_grid(self, epoch: int) -> np.ndarray:
        """P(class 1) on the grid at ``epoch``: ``(len(ys), len(xs))``, rows along y; for a
        multiclass model every class's probability, ``(len(ys), len(xs), k)``."""
        replay = self._prepared_for
        if replay is None:
            raise PanelError("DecisionBoundaryPanel.probability_grid called before setup")
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        out = _as_probabilities(replay, replay.numpy_model(replay.weights(epoch), self.grid_points))
        grid: np.ndarray
        if self.multiclass:
            grid = out.reshape(len(self.ys), len(self.xs), -1)
        else:
            grid = out[:, -1].reshape(len(self.ys), len(self.xs))
        self._cache = (epoch, grid)
        return grid

    def predicted_class_grid(self, epoch: int) -> np.ndarray:
        """The predicted class on the grid at ``epoch`` (argmax, or P(1) > 0.5 if binary)."""
        grid = self.probability_grid(epoch)
        if self.multiclass:
            return np.argmax(grid, axis=-1)
        return (grid > 0.5).astype(int)

    def boundary_segments(self, epoch: int) -> list[np.ndarray]:
        """The decision boundary at ``epoch`` as a list of ``(n, 2)`` polylines: the 0.5
        contour (binary) or the lines where the predicted class changes (multiclass)."""
        grid = self.probability_grid(epoch)
        if self.multiclass:
            return _class_boundaries(self.xs, self.ys, grid)
        return _level_lines(self.xs, self.ys, grid, 0.5)

    def _image_data(self, epoch: int) -> np.ndarray:
        grid = self.probability_grid(epoch)
        if self.multiclass:
            return _argmax_image(grid, self._palette, self.alpha, self._face)
        return grid

    def _draw(self, ax: Axes) -> None:
        replay = self._require_setup()
        (x0, x1), (y0, y1) = self.grid_range  # type: ignore[misc]
        dx = (x1 - x0) / (self.resolution - 1) / 2
        dy = (y1 - y0) / (self.resolution - 1) / 2
        extent = (x0 - dx, x1 + dx, y0 - dy, y1 + dy)
        colors = class_colors(self.task.n_classes) if self.multiclass else None
        if colors is not None:  # multiclass
            self._palette = np.asarray([_rgb(c) for c in colors])
            self._face = neutral("face")
            self._image = ax.imshow(
                np.ones((self.resolution, self.resolution, 3)), extent=extent, origin="lower",
                interpolation="nearest", aspect="auto", zorder=1,
            )
            self._contour = LineCollection([], colors=[neutral("ink")], linewidths=1.2,
                                           zorder=2)
        else:
            self._image = ax.imshow(
                np.full((self.resolution, self.resolution), 0.5),
                extent=extent, origin="lower",
                cmap=_light_cmap(self.cmap, self.alpha), vmin=0.0, vmax=1.0,
                interpolation="nearest", aspect="auto", zorder=1,
            )
            self._contour = LineCollection([], colors="k", linewidths=1.5, zorder=2)
        ax.add_collection(self._contour)
        self._markers = []
        if self.points:
            self._markers = _class_markers(
                ax, np.asarray(replay.probe_x), replay.labels, size=self.point_size,
                zorder=3, edge="white" if not self.multiclass else neutral("face"),
                colors=colors,
            )
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        default = ("Decision boundaries (predicted class)" if self.multiclass
                   else "Decision boundary (P = 0.5)")
        ax.set_title(self.title or default)
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")

    def update(self, epoch: int) -> list[Artist]:
        """Show the prediction grid and its 0.5 line at ``epoch``."""
        self._require_setup()
        self._image.set_data(self._image_data(epoch))
        artists: list[Artist] = [self._image]
        if self.contour:
            self._contour.set_segments(self.boundary_segments(epoch))
            artists.append(self._contour)
        # Static, but drawn over the moving image, so redrawn with it.
        artists.extend(line for line, _ in self._markers)
        return artists

"""Panels: views of a replay that draw epoch k and then move to any other epoch in place.

The protocol (:class:`Panel`) has two methods:

``setup(ax, replay)``
    Draw everything that does not change (titles, labels, ticks) and create the artists that
    do. Axis ranges are computed over *all* epochs and fixed, so what moves in a video is the
    model, not the axes.
``update(epoch) -> list[Artist]``
    Change those artists' data in place (``set_data``, ``set_offsets``, ``set_segments``,
    ``set_array``) for epoch ``epoch`` and return every artist that must be redrawn for a frame,
    in any order. That includes static artists lying *above* an animated one (points drawn over
    a moving probability image), because a blitted frame draws returned artists over a cached
    background. ``update`` returns the same artist objects on every call.

Panels compute from the replay file only (numpy; a numpy forward pass where a picture needs the
network evaluated on points that were not recorded), so no TensorFlow is needed to render.
Heavy per-replay computation happens once per replay, not per ``setup``, so re-running ``setup``
(a full redraw) stays cheap. Any panel composes with any other (:mod:`.composer`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from pipeline.errors import PipelineError
from pipeline.replay.store import Replay

log = logging.getLogger(__name__)

__all__ = [
    "CLASS_COLORS",
    "CurvesPanel",
    "DecisionBoundaryPanel",
    "FeatureSpacePanel",
    "LossHistogramPanel",
    "Panel",
    "PanelError",
    "ProbabilityHistogramPanel",
    "WeightDistributionPanel",
    "weight_ridgeline",
]

CLASS_COLORS = ("#b2182b", "#2166ac")
"""Negative (0) and positive (1) class colours: the two ends of the ``RdBu`` map the
probability images use, so a red point on a red background is a confident, correct negative."""

Range = tuple[tuple[float, float], tuple[float, float]]


class PanelError(PipelineError):
    """A panel cannot draw this replay (wrong layer, missing data, unsupported model)."""


@runtime_checkable
class Panel(Protocol):
    """What the composer needs from a panel (see the module docstring)."""

    def setup(self, ax: Axes, replay: Replay) -> None:
        """Draw the static parts on ``ax`` and create the animated artists."""

    def update(self, epoch: int) -> list[Artist]:
        """Move the animated artists to ``epoch``; return the artists to redraw."""


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


def _light_cmap(name: str, alpha: float) -> Any:
    """The middle 80 % of ``name`` blended with white: looks like ``alpha`` transparency over a
    white axes (without the muddy darkest ends) but draws as an opaque image, which Agg
    renders about twice as fast."""
    from matplotlib.colors import ListedColormap

    base = _colormap(name)(np.linspace(0.1, 0.9, 256))
    base[:, :3] = alpha * base[:, :3] + (1.0 - alpha)
    base[:, 3] = 1.0
    return ListedColormap(base, name=f"{name}_light")


def _class_markers(ax: Axes, xy: np.ndarray, labels: np.ndarray, *, size: float,
                   zorder: float, edge: str | None = None) -> list[Any]:
    """One ``Line2D`` of markers per class: an order of magnitude cheaper to draw than a
    ``scatter`` with per-point colours, and updated with ``set_data``."""
    artists = []
    for k in np.unique(labels):
        color = CLASS_COLORS[int(k)] if int(k) in (0, 1) else f"C{int(k) % 10}"
        sel = labels == k
        (line,) = ax.plot(
            xy[sel, 0], xy[sel, 1], linestyle="none", marker="o", markersize=size,
            color=color, markeredgecolor=edge or color, markeredgewidth=0.3 if edge else 0.0,
            zorder=zorder,
        )
        artists.append((line, sel))
    return artists


def _histograms(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per epoch for ``values`` of shape (E, n) over fixed ``edges``; NaNs are dropped."""
    out = np.zeros((values.shape[0], len(edges) - 1), dtype=np.float64)
    for i, row in enumerate(values):
        row = row[np.isfinite(row)]
        out[i] = np.histogram(row, bins=edges)[0]
    return out


class _BasePanel:
    """Shared bookkeeping: cache per-replay preparation, keep the axes and replay."""

    def __init__(self, title: str | None = None) -> None:
        self.title = title
        self.ax: Axes | None = None
        self.replay: Replay | None = None
        self._prepared_for: Replay | None = None

    def _prepare(self, replay: Replay) -> None:  # pragma: no cover - overridden
        """Compute what depends on the whole replay (fixed ranges, per-epoch arrays)."""

    def _draw(self, ax: Axes) -> None:  # pragma: no cover - overridden
        """Create the artists on ``ax``."""

    def setup(self, ax: Axes, replay: Replay) -> None:
        """Prepare for ``replay`` (once) and draw on ``ax``."""
        if self._prepared_for is not replay:
            self._prepare(replay)
            self._prepared_for = replay
        self.ax = ax
        self.replay = replay
        # Ticks and grid below every data artist (zorder 0.5): the animated artists (zorder >= 1)
        # then never sit under a static one, so blitting needs to redraw no tick marks.
        ax.set_axisbelow(True)
        self._draw(ax)
        ax.set_autoscale_on(False)

    def _require_setup(self) -> Replay:
        if self.replay is None or self.ax is None:
            raise PanelError(f"{type(self).__name__}.update called before setup(ax, replay)")
        return self.replay

    def update(self, epoch: int) -> list[Artist]:  # pragma: no cover - overridden
        """Move to ``epoch``."""
        raise NotImplementedError


def _binary_positive(replay: Replay, what: str) -> None:
    k = replay.all_probabilities.shape[-1]
    if k > 2:
        raise PanelError(
            f"{what} draws binary classifiers (one sigmoid unit or a two-way softmax); this "
            f"model predicts {k} classes"
        )


class FeatureSpacePanel(_BasePanel):
    """The input grid bent through the network into a 2-unit layer, with the probe points.

    The lines of a regular grid over ``grid_range`` in *input* space are mapped through the
    network up to ``layer`` with the replayed weights (numpy forward pass); the probe points
    are that layer's recorded outputs (or the same forward pass if it was not recorded). With
    ``boundary=True`` the background shows what the rest of the network predicts at each point
    of the feature space, so the decision boundary appears as the line where the colours meet:
    the network has made the classes separable when that line splits the points.
    """

    def __init__(
        self,
        layer: str = "hidden",
        grid_range: Range = ((-1.0, 2.0), (-0.5, 1.0)),
        *,
        grid_lines: tuple[int, int] = (21, 21),
        line_points: int = 100,
        boundary: bool = True,
        boundary_resolution: int = 150,
        points: bool = True,
        point_size: float = 2.0,
        cmap: str = "RdBu",
        title: str | None = None,
        margin: float = 0.05,
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
        try:
            fwd = replay.numpy_model
            if self.layer not in fwd.layer_names:
                raise PanelError(
                    f"FeatureSpacePanel: no layer {self.layer!r}; layers: {fwd.layer_names}"
                )
        except PipelineError as exc:
            raise PanelError(f"FeatureSpacePanel(layer={self.layer!r}): {exc}") from exc
        grid = self.input_grid()
        flat = grid.reshape(-1, 2)
        n_epochs = len(replay.epochs)
        lines = np.empty((n_epochs, *grid.shape[:2], 2), dtype=np.float32)
        for i, epoch in enumerate(replay.epochs):
            out = fwd(replay.weights(int(epoch)), flat, stop_at=self.layer)
            if out.ndim != 2 or out.shape[1] != 2:
                raise PanelError(
                    f"FeatureSpacePanel: layer {self.layer!r} has {out.shape[-1]} units; a "
                    "feature space is drawn for a 2-unit layer"
                )
            lines[i] = out.reshape(*grid.shape[:2], 2)
        self._lines_fs = lines
        if self.layer in replay.recorded_layers:
            pts = replay.layer_outputs(self.layer).reshape(n_epochs, replay.n_probe, -1)
        else:
            pts = np.stack(
                [
                    fwd(replay.weights(int(e)), replay.probe_x, stop_at=self.layer)
                    for e in replay.epochs
                ]
            )
        self._points_fs = pts.astype(np.float32, copy=False)
        both = [lines[..., 0].ravel(), lines[..., 1].ravel()]
        if self.points:
            both = [np.concatenate([both[0], pts[..., 0].ravel()]),
                    np.concatenate([both[1], pts[..., 1].ravel()])]
        self.xlim = _limits(both[0], self.margin)
        self.ylim = _limits(both[1], self.margin)
        last = fwd.layer_names[-1]
        self._has_tail = self.boundary and self.layer != last
        if self._has_tail:
            _binary_positive(replay, "FeatureSpacePanel(boundary=True)")
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
        return self._lines_fs[replay.index(epoch)]

    def _tail_probability(self, epoch: int) -> np.ndarray:
        replay = self._require_setup()
        r = self.boundary_resolution
        p = replay.numpy_model(replay.weights(epoch), self._fs_grid, start_after=self.layer)
        return p[:, -1].reshape(r, r)

    def _draw(self, ax: Axes) -> None:
        replay = self._require_setup()
        self._image = None
        if self._has_tail:
            r = self.boundary_resolution
            dx = (self.xlim[1] - self.xlim[0]) / (r - 1) / 2
            dy = (self.ylim[1] - self.ylim[0]) / (r - 1) / 2
            self._image = ax.imshow(
                np.full((r, r), 0.5), extent=(self.xlim[0] - dx, self.xlim[1] + dx,
                                              self.ylim[0] - dy, self.ylim[1] + dy),
                origin="lower", cmap=_light_cmap(self.cmap, 0.45), vmin=0.0, vmax=1.0,
                interpolation="nearest", aspect="auto", zorder=1,
            )
        self._lines = LineCollection(
            list(self._lines_fs[0]), colors="0.35", linewidths=0.5, alpha=0.6, zorder=1.5
        )
        ax.add_collection(self._lines)
        self._markers = []
        if self.points:
            self._markers = _class_markers(
                ax, self._points_fs[0], replay.labels, size=self.point_size, zorder=2
            )
        ax.set_xlim(self.xlim)
        ax.set_ylim(self.ylim)
        ax.set_title(self.title or f"Feature space: layer {self.layer!r}")
        ax.set_xlabel(f"{self.layer} unit 0")
        ax.set_ylabel(f"{self.layer} unit 1")

    def update(self, epoch: int) -> list[Artist]:
        """Bend the grid and move the points to ``epoch``; recolour the background."""
        replay = self._require_setup()
        i = replay.index(epoch)
        self._lines.set_segments(list(self._lines_fs[i]))
        artists: list[Artist] = [self._lines]
        if self._image is not None:
            self._image.set_data(self._tail_probability(epoch))
            artists.insert(0, self._image)
        pts = self._points_fs[i]
        for line, sel in self._markers:
            line.set_data(pts[sel, 0], pts[sel, 1])
            artists.append(line)
        return artists


def _level_lines(xs: np.ndarray, ys: np.ndarray, z: np.ndarray, level: float) -> list[np.ndarray]:
    """Line segments of ``z == level`` (marching squares via contourpy, matplotlib's engine).

    Why not ``ax.contour``: a contour set cannot be updated in place, so every frame would
    create and delete artists; the lines as a ``LineCollection`` are updated with
    ``set_segments`` like every other animated artist.
    """
    import contourpy

    gen = contourpy.contour_generator(xs, ys, np.ma.masked_invalid(z), line_type="Separate")
    return [np.asarray(seg) for seg in gen.lines(level)]


class DecisionBoundaryPanel(_BasePanel):
    """Predicted probability over a 2-D input grid, its 0.5 contour, and the probe points.

    A filled ``contourf`` cannot be updated in place, so the probability is an ``imshow`` whose
    data is replaced each epoch (pixel centres on the grid points, nearest-neighbour, so each
    pixel *is* one grid cell's prediction) and the 0.5 line is a ``LineCollection`` from
    marching squares. The grid is evaluated with the numpy forward pass of the replayed weights.
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
            raise PanelError(
                f"DecisionBoundaryPanel draws models with 2-D inputs; probe_x has shape {x.shape}"
            )
        _binary_positive(replay, "DecisionBoundaryPanel")
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

    def probability_grid(self, epoch: int) -> np.ndarray:
        """P(class 1) on the grid at ``epoch``: ``(len(ys), len(xs))``, rows along y."""
        replay = self._prepared_for
        if replay is None:
            raise PanelError("DecisionBoundaryPanel.probability_grid called before setup")
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        p = replay.numpy_model(replay.weights(epoch), self.grid_points)[:, -1]
        grid = p.reshape(len(self.ys), len(self.xs))
        self._cache = (epoch, grid)
        return grid

    def boundary_segments(self, epoch: int) -> list[np.ndarray]:
        """The 0.5 contour at ``epoch`` as a list of ``(n, 2)`` polylines."""
        return _level_lines(self.xs, self.ys, self.probability_grid(epoch), 0.5)

    def _draw(self, ax: Axes) -> None:
        replay = self._require_setup()
        (x0, x1), (y0, y1) = self.grid_range  # type: ignore[misc]
        dx = (x1 - x0) / (self.resolution - 1) / 2
        dy = (y1 - y0) / (self.resolution - 1) / 2
        self._image = ax.imshow(
            np.full((self.resolution, self.resolution), 0.5),
            extent=(x0 - dx, x1 + dx, y0 - dy, y1 + dy), origin="lower",
            cmap=_light_cmap(self.cmap, self.alpha), vmin=0.0, vmax=1.0,
            interpolation="nearest", aspect="auto", zorder=1,
        )
        self._contour = LineCollection([], colors="k", linewidths=1.5, zorder=2)
        ax.add_collection(self._contour)
        self._markers = []
        if self.points:
            self._markers = _class_markers(
                ax, np.asarray(replay.probe_x), replay.labels, size=self.point_size,
                zorder=3, edge="white",
            )
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_title(self.title or "Decision boundary (P = 0.5)")
        ax.set_xlabel("$x_1$")
        ax.set_ylabel("$x_2$")

    def update(self, epoch: int) -> list[Artist]:
        """Show the prediction grid and its 0.5 line at ``epoch``."""
        self._require_setup()
        grid = self.probability_grid(epoch)
        self._image.set_data(grid)
        artists: list[Artist] = [self._image]
        if self.contour:
            self._contour.set_segments(_level_lines(self.xs, self.ys, grid, 0.5))
            artists.append(self._contour)
        # Static, but drawn over the moving image, so redrawn with it.
        artists.extend(line for line, _ in self._markers)
        return artists


class _HistogramPanel(_BasePanel):
    """A histogram per epoch over fixed bins, drawn as one ``StepPatch`` (cheap to update)."""

    color: str = "0.4"
    xlabel: str = ""

    def _set_counts(self, counts: np.ndarray, edges: np.ndarray) -> None:
        self.edges = edges
        self.counts = counts
        top = float(np.nanmax(counts)) if counts.size else 1.0
        self.ymax = max(top, 1.0) * 1.05

    def _draw(self, ax: Axes) -> None:
        self._stairs = ax.stairs(
            self.counts[0], self.edges, fill=True, color=self.color, alpha=0.85, zorder=1
        )
        ax.set_xlim(self.edges[0], self.edges[-1])
        ax.set_ylim(0, self.ymax)
        ax.set_xlabel(self.xlabel)
        ax.set_ylabel("count")
        if self.title:
            ax.set_title(self.title)

    def histogram(self, epoch: int) -> np.ndarray:
        """Counts per bin at ``epoch`` (bins are :attr:`edges`, fixed over all epochs)."""
        replay = self._require_setup()
        return self.counts[replay.index(epoch)]

    def update(self, epoch: int) -> list[Artist]:
        """Set the bar heights for ``epoch``."""
        self._stairs.set_data(values=self.histogram(epoch))
        return [self._stairs]


class ProbabilityHistogramPanel(_HistogramPanel):
    """Histogram of the predicted P(class 1) for the probe points whose true class is ``cls``.

    For the negative class a trained model piles its mass near 0, for the positive class near
    1; mass on the wrong side is misclassified points.
    """

    def __init__(self, cls: int = 1, bins: int = 20, *, title: str | None = None) -> None:
        if cls not in (0, 1):
            raise PanelError(f"ProbabilityHistogramPanel(cls={cls!r}): cls must be 0 or 1")
        default = "Negative cases (class 0)" if cls == 0 else "Positive cases (class 1)"
        super().__init__(title or default)
        self.cls = cls
        self.bins = bins
        self.color = CLASS_COLORS[cls]
        self.xlabel = "predicted P(class 1)"

    def _prepare(self, replay: Replay) -> None:
        _binary_positive(replay, "ProbabilityHistogramPanel")
        mask = replay.labels == self.cls
        if not mask.any():
            raise PanelError(f"ProbabilityHistogramPanel: no probe points of class {self.cls}")
        p = replay.positive_probability()[:, mask]
        edges = np.linspace(0.0, 1.0, self.bins + 1)
        self._set_counts(_histograms(p, edges), edges)


class LossHistogramPanel(_HistogramPanel):
    """Histogram of the per-sample loss on the probe set, over bins fixed across epochs.

    The mean of these values is the ``probe_loss`` curve; the histogram shows whether a falling
    mean comes from every point improving or from most points being right and a few very wrong.
    """

    def __init__(self, bins: int = 30, *, max_loss: float | None = None,
                 title: str | None = "Per-sample loss") -> None:
        super().__init__(title)
        self.bins = bins
        self.max_loss = max_loss
        self.xlabel = "loss"

    def _prepare(self, replay: Replay) -> None:
        losses = replay.all_sample_losses.reshape(len(replay.epochs), -1)
        finite = losses[np.isfinite(losses)]
        hi = self.max_loss or (float(finite.max()) if finite.size else 1.0)
        edges = np.linspace(0.0, max(hi, 1e-6), self.bins + 1)
        # Values beyond a user-given max_loss go into the last bin rather than vanish.
        self._set_counts(_histograms(np.minimum(losses, edges[-1]), edges), edges)


class WeightDistributionPanel(_HistogramPanel):
    """Histogram of one layer's weights (all its variables, or one) at an epoch; fixed bins."""

    def __init__(self, layer: str, *, variable: str | None = None, bins: int = 40,
                 title: str | None = None) -> None:
        super().__init__(title)
        self.layer = layer
        self.variable = variable
        self.bins = bins
        self.xlabel = "weight value"

    def _prepare(self, replay: Replay) -> None:
        values = _layer_values(replay, self.layer, self.variable)
        edges = np.linspace(*_limits(values, 0.02), self.bins + 1)
        self._set_counts(_histograms(values, edges), edges)
        if self.title is None:
            self.title = f"Weights: {self.layer}" + (f"/{self.variable}" if self.variable else "")


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


class CurvesPanel(_BasePanel):
    """Metric curves over epochs, drawn up to the current epoch, with a marker and a line there.

    ``metrics`` are names in ``replay.metrics``: Keras' logged ones (``loss``, ``accuracy``,
    ``val_loss``: NaN at epoch 0) or the recorder's ``probe_loss`` / ``probe_accuracy``
    (computed with the weights at the end of each epoch, so they match the histograms).
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("loss", "accuracy"),
        *,
        labels: Sequence[str] | None = None,
        title: str | None = "Loss and metric",
        show_future: bool = False,
        ylim: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(title)
        self.metrics = list(metrics)
        self.labels = list(labels) if labels is not None else list(self.metrics)
        if len(self.labels) != len(self.metrics):
            raise PanelError("CurvesPanel: give one label per metric")
        self.show_future = show_future
        self.ylim = ylim

    def _prepare(self, replay: Replay) -> None:
        missing = [m for m in self.metrics if m not in replay.metrics]
        if missing:
            raise PanelError(
                f"CurvesPanel: metrics {missing} are not in the replay; available: "
                f"{sorted(replay.metrics)}"
            )
        self._x = replay.epochs.astype(float)
        self._y = [np.asarray(replay.metrics[m], dtype=float) for m in self.metrics]
        self._ylim = self.ylim or _limits(np.concatenate(self._y), 0.05)

    def _draw(self, ax: Axes) -> None:
        colors = [f"C{i}" for i in range(len(self.metrics))]
        if self.show_future:
            for y, c in zip(self._y, colors, strict=True):
                ax.plot(self._x, y, color=c, alpha=0.2, linewidth=1.0, zorder=1)
        self._lines = [ax.plot([], [], color=c, linewidth=1.6, label=lab, zorder=2)[0]
                       for c, lab in zip(colors, self.labels, strict=True)]
        self._markers = [ax.plot([], [], "o", color=c, markersize=5, zorder=3)[0]
                         for c in colors]
        self._vline = ax.axvline(self._x[0], color="0.5", linewidth=0.8, linestyle="--",
                                 zorder=1.5)
        ax.set_xlim(self._x[0], max(self._x[-1], self._x[0] + 1))
        ax.set_ylim(*self._ylim)
        ax.set_xlabel("epoch")
        # Below the curves (zorder 1.2): static, so it stays in the blitted background.
        # Centre right: where the curves are least often late in training (loss near 0,
        # accuracy near 1).
        legend = ax.legend(loc="center right", fontsize="small", framealpha=0.8)
        legend.set_zorder(1.2)
        if self.title:
            ax.set_title(self.title)

    def update(self, epoch: int) -> list[Artist]:
        """Draw the curves up to ``epoch`` and move the markers and line there."""
        replay = self._require_setup()
        i = replay.index(epoch)
        for line, marker, y in zip(self._lines, self._markers, self._y, strict=True):
            line.set_data(self._x[: i + 1], y[: i + 1])
            marker.set_data([self._x[i]], [y[i]])
        self._vline.set_xdata([self._x[i], self._x[i]])
        return [*self._lines, *self._markers, self._vline]


def weight_ridgeline(
    replay: Replay,
    layers: Sequence[str] | None = None,
    *,
    variable: str | None = "kernel",
    epochs: Sequence[int] | None = None,
    max_curves: int = 20,
    bins: int = 60,
    overlap: float = 0.6,
    cmap: str = "viridis",
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """TensorBoard-style histograms over time: one ridgeline plot per layer.

    Each curve is the distribution of a layer's weights at one epoch (density over bins fixed
    for that layer across epochs), stacked from the first epoch at the top to the last at the
    bottom and coloured by epoch, so drift and spread of the weights read as a shape over time.
    Returns a matplotlib ``Figure`` not attached to pyplot (no global state is touched).
    """
    if layers is None:
        layers = list(dict.fromkeys(k.split("/")[0] for k in replay.weight_keys))
    layers = list(layers)
    if not layers:
        raise PanelError("weight_ridgeline: the replay has no recorded weights")
    if epochs is None:
        pick = np.unique(np.linspace(0, len(replay.epochs) - 1, max_curves).round().astype(int))
        epochs = [int(replay.epochs[i]) for i in pick]
    epochs = list(epochs)
    fig = Figure(figsize=figsize or (3.2 * len(layers), 4.2), layout="constrained")
    axes = fig.subplots(1, len(layers), squeeze=False)[0]
    colors = _colormap(cmap)(np.linspace(0.0, 1.0, len(epochs)))
    for ax, layer in zip(axes, layers, strict=True):
        values = _layer_values(replay, layer, variable)
        edges = np.linspace(*_limits(values, 0.02), bins + 1)
        centers = (edges[:-1] + edges[1:]) / 2
        rows = [values[replay.index(e)] for e in epochs]
        dens = _histograms(np.asarray(rows), edges)
        dens = dens / max(float(dens.max()), 1e-12)
        n = len(epochs)
        for j in range(n):  # first epoch at the top, drawn first (behind)
            base = (n - 1 - j) * overlap
            ax.fill_between(centers, base, base + dens[j], color="white", zorder=2 * j)
            ax.plot(centers, base + dens[j], color=colors[j], linewidth=1.0, zorder=2 * j + 1)
        ticks = [(n - 1 - j) * overlap for j in range(n)]
        step = max(1, n // 6)
        ax.set_yticks(ticks[::step], [str(e) for e in epochs][::step])
        ax.set_ylabel("epoch")
        ax.set_xlabel("weight value")
        ax.set_title(layer + (f"/{variable}" if variable else ""))
        ax.set_xlim(edges[0], edges[-1])
    fig.suptitle("Weight distributions over training")
    return fig


def _colormap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name]

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
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from pipeline.library.errors import PanelError, PipelineError
from pipeline.library.replay.store import Replay

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

log = logging.getLogger(__name__)

__all__ = [
    "CLASS_COLORS",
    "CurvesPanel",
    "DecisionBoundaryPanel",
    "FeatureSpacePanel",
    "LossHistogramPanel",
    "Panel",
    "PanelError",
    "PredictionPanel",
    "ProbabilityHistogramPanel",
    "ProjectionPanel",
    "ResidualHistogramPanel",
    "WeightDistributionPanel",
    "class_colors",
    "weight_ridgeline",
]

CLASS_COLORS = ("#b2182b", "#2166ac")
"""Negative (0) and positive (1) class colours: the two ends of the ``RdBu`` map the
probability images use, so a red point on a red background is a confident, correct negative."""

Range = tuple[tuple[float, float], tuple[float, float]]


def _cannot(panel: str, needs: str, got: str) -> PanelError:
    """The one shape of every "cannot draw" message: which panel, what it needs, what it got."""
    return PanelError(f"{panel} needs {needs}; this replay has {got}")


def class_colors(n_classes: int) -> list[Any]:
    """One colour per class: red/blue (:data:`CLASS_COLORS`) for two classes, so binary
    pictures look as they always did; matplotlib's qualitative ``tab10``/``tab20`` above."""
    if n_classes <= 2:
        return list(CLASS_COLORS[:max(n_classes, 1)])
    name = "tab10" if n_classes <= 10 else "tab20"
    base = list(_colormap(name).colors)
    return [base[k % len(base)] for k in range(n_classes)]


def _neutral(role: str) -> Any:
    """A neutral colour from the active matplotlib style (``rcParams``), never hard-coded.

    Why: the same panels are re-rendered under other styles (a dark palette); reading the
    style when the artists are created keeps new panels legible under any of them.
    ``role``: ``"ink"`` (lines, reference marks), ``"face"`` (the axes background, used to
    blend light images) or ``"grid"``.
    """
    import matplotlib

    rc = matplotlib.rcParams
    keys: dict[str, RcKeyType] = {"ink": "axes.edgecolor", "face": "axes.facecolor",
                                  "grid": "grid.color"}
    key = keys[role]
    return rc[key]


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
        fwd = replay.numpy_model
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


def _blend(colors: np.ndarray, strength: np.ndarray, face: Any) -> np.ndarray:
    """RGB of ``colors`` laid over the axes background with opacity ``strength`` (0..1)."""
    from matplotlib.colors import to_rgb

    bg = np.asarray(to_rgb(face), dtype=np.float64)
    a = np.clip(strength, 0.0, 1.0)[..., None]
    return np.clip(a * colors + (1.0 - a) * bg, 0.0, 1.0)


def _argmax_image(prob: np.ndarray, palette: np.ndarray, alpha: float, face: Any) -> np.ndarray:
    """A multiclass prediction grid ``(..., k)`` as an RGB image: the predicted class's colour,
    stronger where the model is more confident (white-ish, i.e. background, at 1/k)."""
    k = prob.shape[-1]
    top = np.nanargmax(np.nan_to_num(prob, nan=-1.0), axis=-1)
    conf = (np.nanmax(prob, axis=-1) - 1.0 / k) / (1.0 - 1.0 / k)
    return _blend(palette[top], alpha * np.nan_to_num(conf), face)


def _class_boundaries(xs: np.ndarray, ys: np.ndarray, prob: np.ndarray) -> list[np.ndarray]:
    """Where the predicted class changes on a ``(ny, nx, k)`` grid: for each class the zero
    line of its probability minus the largest other one (every boundary appears once per side,
    which draws the same line twice)."""
    segments: list[np.ndarray] = []
    for c in range(prob.shape[-1]):
        others = np.delete(prob, c, axis=-1).max(axis=-1)
        segments.extend(_level_lines(xs, ys, prob[..., c] - others, 0.0))
    return segments


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
                   zorder: float, edge: str | None = None,
                   colors: Sequence[Any] | None = None) -> list[Any]:
    """One ``Line2D`` of markers per class: an order of magnitude cheaper to draw than a
    ``scatter`` with per-point colours, and updated with ``set_data``."""
    artists = []
    for k in np.unique(labels):
        if colors is not None:
            color = colors[int(k) % len(colors)]
        else:
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


class FeatureSpacePanel(_BasePanel):
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
                fwd = replay.numpy_model
                if self.layer not in fwd.layer_names:
                    raise PanelError(
                        f"FeatureSpacePanel: no layer {self.layer!r}; layers: {fwd.layer_names}"
                    )
            except PipelineError as exc:
                if draw_grid or self.boundary:
                    if isinstance(exc, PanelError):
                        raise
                    raise PanelError(f"{name}: {exc}") from exc
                fwd = None  # auto background on a model numpy cannot run: points only
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
        self._has_tail = bool(want_tail) and fwd is not None and self.layer != fwd.layer_names[-1]
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
        out = replay.numpy_model(replay.weights(epoch), self._fs_grid, start_after=self.layer)
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
        self._face = _neutral("face")
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
        pts = self._points_fs[i]
        for line, sel in self._markers:
            line.set_data(pts[sel, 0], pts[sel, 1])
            artists.append(line)
        if self._scatter is not None:
            self._scatter.set_offsets(pts)
            artists.append(self._scatter)
        return artists


def _rgb(color: Any) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(color)


def _target_scatter(ax: Axes, xy: np.ndarray, replay: Replay, size: float, zorder: float) -> Any:
    """Probe points coloured by their (first) regression target, with a colour bar."""
    target = np.asarray(replay.probe_y, dtype=np.float64).reshape(replay.n_probe, -1)[:, 0]
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=target, cmap="viridis", s=size ** 2 * 2,
                    linewidths=0, zorder=zorder)
    ax.figure.colorbar(sc, ax=ax, label="target", fraction=0.05, pad=0.02)
    return sc


class ProjectionPanel(_BasePanel):
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
        pts = self.projected(epoch)
        artists: list[Artist] = []
        for line, sel in self._markers:
            line.set_data(pts[sel, 0], pts[sel, 1])
            artists.append(line)
        if self._scatter is not None:
            self._scatter.set_offsets(pts)
            artists.append(self._scatter)
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
            self._face = _neutral("face")
            self._image = ax.imshow(
                np.ones((self.resolution, self.resolution, 3)), extent=extent, origin="lower",
                interpolation="nearest", aspect="auto", zorder=1,
            )
            self._contour = LineCollection([], colors=[_neutral("ink")], linewidths=1.2,
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
                zorder=3, edge="white" if not self.multiclass else _neutral("face"),
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
    """Histogram of predicted probabilities on the probe set, for any classifier.

    ``cls=0`` or ``cls=1`` on a binary classifier (the seed-000 pair): P(class 1) for the
    probe points whose true class is ``cls``; a trained model piles the negatives near 0 and
    the positives near 1, and mass on the wrong side is misclassified points.
    ``cls=k`` on a k-class model: P(class k) for the points of class k (near 1 when they are
    recognised). ``cls=None`` (any classifier): the probability each point's *true* class
    gets, stacked by class in the class colours, so one panel shows every class: mass near 1
    is points classified right and confidently, mass below 1/k is points some other class wins.
    """

    def __init__(self, cls: int | None = 1, bins: int = 20, *, title: str | None = None) -> None:
        if cls is not None and (not isinstance(cls, (int, np.integer)) or cls < 0):
            raise PanelError(
                f"ProbabilityHistogramPanel(cls={cls!r}): cls must be a class number (0, 1, "
                "...) or None for the probability of each point's true class"
            )
        super().__init__(title)
        self.cls = None if cls is None else int(cls)
        self.bins = bins
        if self.cls in (0, 1):
            self.color = CLASS_COLORS[self.cls]

    def _prepare(self, replay: Replay) -> None:
        name = f"ProbabilityHistogramPanel(cls={self.cls!r})"
        task = _task(replay, name)
        self.task = task
        if not task.is_classifier:
            raise _cannot(name, "a classifier (binary or multiclass)",
                          task.describe() + "; use PredictionPanel or ResidualHistogramPanel")
        k = int(task.n_classes)
        labels = replay.labels
        edges = np.linspace(0.0, 1.0, self.bins + 1)
        if self.cls is not None and self.cls >= k:
            raise _cannot(name, f"a class number below {k}", task.describe())
        self.stacked = self.cls is None
        if self.stacked:
            probs = replay.all_probabilities.reshape(len(replay.epochs), replay.n_probe, -1)
            if task.kind.value == "binary":
                p1 = replay.positive_probability()
                true_p = np.where(labels[None, :] == 1, p1, 1.0 - p1)
            else:
                true_p = np.take_along_axis(
                    probs, labels[None, :, None].clip(0, k - 1), axis=2)[..., 0]
            present = [c for c in range(k) if (labels == c).any()]
            self.class_counts = np.stack(
                [_histograms(true_p[:, labels == c], edges) for c in present], axis=1)
            self.classes = present
            self._set_counts(self.class_counts.sum(axis=1), edges)
            self.xlabel = "predicted P(true class)"
            self.title = self.title or "Probability of the true class"
            return
        assert self.cls is not None  # None is the stacked case, returned above
        mask = labels == self.cls
        if not mask.any():
            raise PanelError(f"ProbabilityHistogramPanel: no probe points of class {self.cls}")
        if task.kind.value == "binary":
            p = replay.positive_probability()[:, mask]
            self.xlabel = "predicted P(class 1)"
            default = "Negative cases (class 0)" if self.cls == 0 else "Positive cases (class 1)"
        else:
            p = replay.all_probabilities.reshape(len(replay.epochs), replay.n_probe, -1)
            p = p[:, mask, self.cls]
            self.xlabel = f"predicted P(class {self.cls})"
            default = f"Class {self.cls} cases"
            self.color = class_colors(k)[self.cls]
        self.title = self.title or default
        self._set_counts(_histograms(p, edges), edges)

    def _draw(self, ax: Axes) -> None:
        if not self.stacked:
            super()._draw(ax)
            return
        colors = class_colors(int(self.task.n_classes))
        self._stack = []
        base = np.zeros(len(self.edges) - 1)
        for j, c in enumerate(self.classes):
            top = base + self.class_counts[0, j]
            self._stack.append(ax.stairs(top, self.edges, baseline=base.copy(), fill=True,
                                         color=colors[c], alpha=0.85, zorder=1,
                                         label=f"class {c}"))
            base = top
        ax.set_xlim(self.edges[0], self.edges[-1])
        ax.set_ylim(0, self.ymax)
        ax.set_xlabel(self.xlabel)
        ax.set_ylabel("count")
        if len(self.classes) <= 6:  # above the bars (redrawn with them when blitting)
            ax.legend(loc="upper left", fontsize="x-small", framealpha=0.8)
        if self.title:
            ax.set_title(self.title)

    def class_histograms(self, epoch: int) -> np.ndarray:
        """Stacked mode: counts per (present) class and bin at ``epoch``: ``(classes, bins)``."""
        replay = self._require_setup()
        if not self.stacked:
            return self.histogram(epoch)[None, :]
        return self.class_counts[replay.index(epoch)]

    def update(self, epoch: int) -> list[Artist]:
        """Set the bar heights for ``epoch``."""
        if not self.stacked:
            return super().update(epoch)
        counts = self.class_histograms(epoch)
        base = np.zeros(counts.shape[1])
        for patch, row in zip(self._stack, counts, strict=True):
            # matplotlib takes an array baseline (stacked steps); its stubs say float only
            patch.set_data(values=base + row, baseline=base.copy())  # type: ignore[arg-type]
            base = base + row
        return list(self._stack)


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


def _regression_arrays(replay: Replay, panel: str, output: int | None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Predictions ``(E, M)`` and targets ``(M,)`` of a regression replay, flattened over the
    chosen output (``None``: all outputs)."""
    task = _task(replay, panel)
    if task.is_classifier:
        raise _cannot(panel, "a regression model (a loss such as 'mse' or 'mae')",
                      task.describe() + "; use ProbabilityHistogramPanel")
    pred = replay.all_probabilities.reshape(len(replay.epochs), replay.n_probe, -1)
    target = np.asarray(replay.probe_y, dtype=np.float64).reshape(replay.n_probe, -1)
    if target.shape[1] != pred.shape[2]:
        raise _cannot(panel, "one target per model output",
                      f"targets of width {target.shape[1]} for {pred.shape[2]} outputs")
    if output is not None:
        if not 0 <= output < pred.shape[2]:
            raise _cannot(panel, f"output < {pred.shape[2]}", f"output={output}")
        pred, target = pred[..., output : output + 1], target[:, output : output + 1]
    return pred.reshape(len(replay.epochs), -1).astype(np.float64), target.reshape(-1)


class PredictionPanel(_BasePanel):
    """Regression: each probe point's prediction against its target, with the line y = x.

    A perfect model puts every point on the diagonal; the vertical distance of a point from
    it is that point's residual. The axes are fixed over all epochs (targets and every
    epoch's predictions), so the cloud is seen collapsing onto the diagonal as training goes.
    """

    def __init__(self, *, output: int | None = None, point_size: float = 2.5,
                 title: str | None = "Prediction vs target") -> None:
        super().__init__(title)
        self.output = output
        self.point_size = point_size

    def _prepare(self, replay: Replay) -> None:
        name = "PredictionPanel"
        self._pred, self._target = _regression_arrays(replay, name, self.output)
        both = np.concatenate([self._target, self._pred.ravel()])
        self.lim = _limits(both, 0.05)

    def predictions(self, epoch: int) -> np.ndarray:
        """The predictions drawn at ``epoch`` (the same order as :attr:`targets`)."""
        replay = self._require_setup()
        return self._pred[replay.index(epoch)]

    @property
    def targets(self) -> np.ndarray:
        """The targets (x coordinates of the points)."""
        return self._target

    def _draw(self, ax: Axes) -> None:
        ax.plot(self.lim, self.lim, color=_neutral("ink"), linewidth=0.8, linestyle="--",
                alpha=0.6, zorder=1)
        (self._points,) = ax.plot(self._target, self._pred[0], linestyle="none", marker="o",
                                  markersize=self.point_size, color="C0", alpha=0.7,
                                  markeredgewidth=0.0, zorder=2)
        ax.set_xlim(self.lim)
        ax.set_ylim(self.lim)
        ax.set_xlabel("target")
        ax.set_ylabel("prediction")
        if self.title:
            ax.set_title(self.title)

    def update(self, epoch: int) -> list[Artist]:
        """Move the points to the predictions of ``epoch``."""
        self._points.set_ydata(self.predictions(epoch))
        return [self._points]


class ResidualHistogramPanel(_HistogramPanel):
    """Regression: histogram of the residuals (prediction minus target) over fixed bins.

    Centred on 0 and narrow when the model fits; a shifted histogram is a biased model, a wide
    one an imprecise model. Bins are fixed over all epochs and symmetric around 0 (values
    beyond ``max_abs`` go into the outer bins rather than vanish).
    """

    def __init__(self, bins: int = 30, *, output: int | None = None,
                 max_abs: float | None = None, title: str | None = "Residuals") -> None:
        super().__init__(title)
        self.bins = bins
        self.output = output
        self.max_abs = max_abs
        self.xlabel = "prediction - target"
        self.color = "C0"

    def _prepare(self, replay: Replay) -> None:
        pred, target = _regression_arrays(replay, "ResidualHistogramPanel", self.output)
        self.residuals = pred - target[None, :]
        finite = np.abs(self.residuals[np.isfinite(self.residuals)])
        hi = self.max_abs or (float(np.percentile(finite, 99.5)) if finite.size else 1.0)
        edges = np.linspace(-max(hi, 1e-6), max(hi, 1e-6), self.bins + 1)
        clipped = np.clip(self.residuals, edges[0], edges[-1])
        self._set_counts(_histograms(clipped, edges), edges)


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
        try:
            values = _layer_values(replay, self.layer, self.variable)
        except PanelError as exc:
            raise PanelError(f"WeightDistributionPanel(layer={self.layer!r}): {exc}") from exc
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
    ``metrics=None`` (the default) draws ``loss`` and, where it was recorded, ``accuracy``: a
    regression model (MSE) records no accuracy, so it gets the loss alone. Named metrics that
    the replay lacks are an error.
    """

    def __init__(
        self,
        metrics: Sequence[str] | None = None,
        *,
        labels: Sequence[str] | None = None,
        title: str | None = "Loss and metric",
        show_future: bool = False,
        ylim: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(title)
        self._auto = metrics is None
        self.metrics = ["loss", "accuracy"] if metrics is None else list(metrics)
        self.labels = list(labels) if labels is not None else list(self.metrics)
        if len(self.labels) != len(self.metrics):
            raise PanelError("CurvesPanel: give one label per metric")
        self.show_future = show_future
        self.ylim = ylim

    def _prepare(self, replay: Replay) -> None:
        if self._auto and "accuracy" not in replay.metrics and "loss" in replay.metrics:
            keep = [i for i, m in enumerate(self.metrics) if m != "accuracy"]
            self.metrics = [self.metrics[i] for i in keep]
            self.labels = [self.labels[i] for i in keep]
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

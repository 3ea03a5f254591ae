"""Colours, markers and images that several panels draw the same way.

Why a module of its own: the class colours, the neutral colours read from the active style,
the light colour maps and the per-class markers must look the same in every panel (a red point
means class 0 everywhere, and every panel stays legible under the dark palette), so they are
defined once here rather than in each panel.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from pipeline.library.replay.store import Replay

CLASS_COLORS = ("#b2182b", "#2166ac")
"""Negative (0) and positive (1) class colours: the two ends of the ``RdBu`` map the
probability images use, so a red point on a red background is a confident, correct negative."""


def class_colors(n_classes: int) -> list[Any]:
    """One colour per class: red/blue (:data:`CLASS_COLORS`) for two classes, so binary
    pictures look as they always did; matplotlib's qualitative ``tab10``/``tab20`` above."""
    if n_classes <= 2:
        return list(CLASS_COLORS[:max(n_classes, 1)])
    name = "tab10" if n_classes <= 10 else "tab20"
    base = list(_colormap(name).colors)
    return [base[k % len(base)] for k in range(n_classes)]


def _colormap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name]


def _rgb(color: Any) -> tuple[float, float, float]:
    from matplotlib.colors import to_rgb

    return to_rgb(color)


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


def _move_points(markers: Sequence[tuple[Any, np.ndarray]], scatter: Any,
                 pts: np.ndarray) -> list[Artist]:
    """Move the probe points drawn by :func:`_class_markers` (one line per class) or
    :func:`_target_scatter` to ``pts`` ``(N, 2)``; return the moved artists, markers first.

    Why shared: the feature-space and projection panels draw their points the same way and
    must move them the same way."""
    artists: list[Artist] = []
    for line, sel in markers:
        line.set_data(pts[sel, 0], pts[sel, 1])
        artists.append(line)
    if scatter is not None:
        scatter.set_offsets(pts)
        artists.append(scatter)
    return artists


def _target_scatter(ax: Axes, xy: np.ndarray, replay: Replay, size: float, zorder: float) -> Any:
    """Probe points coloured by their (first) regression target, with a colour bar."""
    target = np.asarray(replay.probe_y, dtype=np.float64).reshape(replay.n_probe, -1)[:, 0]
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=target, cmap="viridis", s=size ** 2 * 2,
                    linewidths=0, zorder=zorder)
    ax.figure.colorbar(sc, ax=ax, label="target", fraction=0.05, pad=0.02)
    return sc


def __getattr__(name: str) -> Any:
    """``_neutral``, the neutral colours' name before it was public: served for one release."""
    if name == "_neutral":
        warnings.warn("pipeline.library.replay.panels.drawing._neutral is now the public "
                      "pipeline.library.palette.neutral; call that (the old name goes in the "
                      "next release)", DeprecationWarning, stacklevel=2)
        from pipeline.library.palette import neutral

        return neutral
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

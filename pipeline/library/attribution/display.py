"""Attribution arrays as pictures: heatmaps, overlays on the image, one figure of several maps.

matplotlib and scikit-image are imported inside the functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from pipeline.library.errors import PipelineError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.figure import Figure


def attribution_to_heatmap(attr: np.ndarray, clip_percentile: float = 99) -> np.ndarray:
    """``(H, W)`` map in [0, 1] from ``(H, W, C)`` attributions, for display.

    Absolute values are summed over channels (a pixel's total influence, either sign) and
    divided by the ``clip_percentile`` value, then clipped: a few extreme pixels would otherwise
    take the whole colour range and leave the rest of the map dark, as Sundararajan et al. note.
    """
    a = np.asarray(attr, dtype=np.float64)
    if a.ndim == 3:
        m = np.abs(a).sum(axis=-1)
    elif a.ndim == 2:
        m = np.abs(a)
    else:
        raise PipelineError(f"attributions must be (H, W, C) or (H, W), got shape {a.shape}.")
    if not 0 < clip_percentile <= 100:
        raise PipelineError(f"clip_percentile must be in (0, 100], got {clip_percentile!r}.")
    m = np.nan_to_num(m)
    top = float(np.percentile(m, clip_percentile))
    if top <= 0:
        top = float(m.max())
    if top <= 0:
        return np.zeros_like(m)
    return np.clip(m / top, 0.0, 1.0)


def _image_to_unit_rgb(image: np.ndarray) -> np.ndarray:
    """Any displayable image as float RGB in [0, 1]: uint8 / 255, [0, 1] floats as they are,
    other floats (e.g. mean-subtracted network inputs) min-max scaled."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise PipelineError(
            f"image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {img.shape}."
        )
    img = img[..., :3]
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    f = img.astype(np.float64)
    lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
    if lo >= 0.0 and hi <= 1.0:
        return f
    return (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)


def _resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if a.shape[:2] == shape:
        return a
    from skimage.transform import resize

    return resize(a, shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True)


def overlay(
    image: np.ndarray,
    heatmap: np.ndarray,
    cmap: str = "jet",
    alpha: float = 0.5,
) -> np.ndarray:
    """The image with a colour-mapped heatmap blended on top, as ``uint8`` RGB ``(H, W, 3)``.

    ``heatmap`` is expected in [0, 1] (as from :func:`grad_cam` or
    :func:`attribution_to_heatmap`); other ranges are min-max scaled. A heatmap of another size
    (e.g. a raw Grad-CAM map) is bilinearly resized to the image. Returning an array rather than
    drawing keeps it usable in figures, GIF frames and tests alike.
    """
    from matplotlib import colormaps

    if not 0 <= alpha <= 1:
        raise PipelineError(f"alpha must be in [0, 1], got {alpha!r}.")
    try:
        colormap = colormaps[cmap]
    except KeyError as exc:
        raise PipelineError(f"cmap={cmap!r} is not a matplotlib colormap (try 'jet').") from exc
    img = _image_to_unit_rgb(image)
    heat = np.nan_to_num(np.asarray(heatmap, dtype=np.float64))
    if heat.ndim != 2:
        raise PipelineError(
            f"heatmap must be (H, W), got {heat.shape}; use attribution_to_heatmap() first."
        )
    lo, hi = float(heat.min()), float(heat.max())
    if lo < 0 or hi > 1:
        heat = (heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat)
    heat = np.clip(_resize(heat, img.shape[:2]), 0.0, 1.0)
    colored = colormap(heat)[..., :3]
    out = (1.0 - alpha) * img + alpha * colored
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def plot_attributions(
    image: np.ndarray,
    maps: Mapping[str, np.ndarray],
    cmap: str = "jet",
    alpha: float = 0.5,
    title: str | None = None,
    cols: int | None = None,
    panel_size: float = 2.6,
) -> Figure:
    """One figure: the image, then each map overlaid on it, titled by its key.

    Maps may be ``(H, W)`` heatmaps or ``(H, W, C)`` attributions (converted with
    :func:`attribution_to_heatmap`). Built on :class:`matplotlib.figure.Figure` directly, so it
    touches no pyplot state or rcParams and is never left open in pyplot's registry; save it with
    ``ex.save_figure(fig, ...)`` or display it as a cell's last expression.
    """
    from matplotlib.figure import Figure

    if not maps:
        raise PipelineError("plot_attributions: maps is empty; pass {'name': heatmap, ...}.")
    panels: list[tuple[str, np.ndarray]] = [("image", _image_to_unit_rgb(image))]
    for name, m in maps.items():
        arr = np.asarray(m)
        heat = attribution_to_heatmap(arr) if arr.ndim == 3 else arr
        panels.append((str(name), overlay(image, heat, cmap=cmap, alpha=alpha)))
    n = len(panels)
    ncols = cols or n
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(panel_size * ncols, panel_size * nrows + (0.4 if title else 0.0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, (name, img) in zip(axes.ravel(), panels, strict=False):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(name, fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

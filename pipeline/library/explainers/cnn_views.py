"""Small helpers for the "inside a network" explainers (seed 002 parts 2 and 4, seed 004).

What the general modules (:mod:`pipeline.library.inspection`, :mod:`pipeline.library.attribution`) do not
cover, and what the three ``content/inside`` recipes would otherwise each re-implement:

* preparing photos for a network the way the seeds do (squash-resize, grey scale in [0, 1]);
* recording what a model says about a few fixed probe inputs at every epoch
  (:func:`probe_recorder`), so a page can show codes and reconstructions *changing*;
* pictures that return exactly the arrays they drew (as ``inspection.feature_map_grid`` does),
  so a test can compare the picture with the model: :func:`probe_rows_figure`,
  :func:`epoch_strip_figure`, :func:`feature_map_pair_figure`; :func:`update_probe_rows`
  turns a :func:`probe_rows_figure` into the next frame of an animation without building a
  new figure;
* an atomic MP4 writer (:func:`write_mp4`) for animations;
* numbers that answer "is the model looking at the animal?": :func:`box_share`;
* the expected spread of Glorot-uniform weights (:func:`glorot_uniform_std`), to check an
  untrained model's weight statistics against theory;
* a few ImageNet class names (:func:`imagenet_name`): Keras fetches the full index from the
  internet, which a build here cannot do.

Keras, TensorFlow, matplotlib and Pillow are imported inside functions: importing this module
is cheap and has no side effects.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.library.errors import PipelineError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

__all__ = [
    "IMAGENET_NAMES",
    "ProbeRow",
    "box_share",
    "center_square",
    "channel_mosaic",
    "codes_to_images",
    "epoch_strip_figure",
    "feature_map_pair_figure",
    "glorot_uniform_std",
    "imagenet_name",
    "pick_epochs",
    "probe_recorder",
    "probe_rows_figure",
    "update_probe_rows",
    "save_model_without_optimizer",
    "squash_resize",
    "to_unit_gray",
    "weight_stats_html",
    "write_mp4",
]

# ImageNet (ILSVRC-2012) class names, in the Keras ``imagenet_class_index.json`` order, for the
# classes the explainers show. Keras's ``decode_predictions`` downloads the full index, which an
# offline build cannot; other ids are shown as "class N" rather than guessed.
IMAGENET_NAMES: dict[int, str] = {
    21: "kite",
    22: "bald eagle",
    23: "vulture",
    94: "hummingbird",
    128: "black stork",
    163: "bloodhound",
    180: "American Staffordshire terrier",
    225: "malinois",
    242: "boxer",
    243: "bull mastiff",
    281: "tabby",
    282: "tiger cat",
    285: "Egyptian cat",
    287: "lynx",
    300: "tiger beetle",
    302: "ground beetle",
    304: "leaf beetle",
    305: "dung beetle",
    306: "rhinoceros beetle",
    307: "weevil",
    315: "mantis",
    317: "leafhopper",
    318: "lacewing",
    319: "dragonfly",
    362: "badger",
}


def imagenet_name(index: int) -> str:
    """A readable name for ImageNet class ``index`` ("class N" when not in :data:`IMAGENET_NAMES`)."""
    return IMAGENET_NAMES.get(int(index), f"class {int(index)}")


# --------------------------------------------------------------------------------------------
# Images in
# --------------------------------------------------------------------------------------------


def squash_resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize a uint8 image to ``size`` (an int means square) ignoring its aspect ratio.

    This is what ``keras.utils.load_img(path, target_size=...)`` does in the seeds, but with
    Pillow's antialiased bicubic filter instead of Keras's default nearest neighbour, which
    aliases badly when a 451-pixel photo becomes 28 pixels. Returns uint8 of the same channels.
    """
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise PipelineError(f"squash_resize expects a uint8 image, got dtype {arr.dtype}.")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3):
        raise PipelineError(f"squash_resize expects (H, W) or (H, W, C), got shape {arr.shape}.")
    h, w = (size, size) if isinstance(size, (int, np.integer)) else size
    if h < 1 or w < 1:
        raise PipelineError(f"squash_resize: size must be positive, got {size!r}.")
    return np.asarray(Image.fromarray(arr).resize((int(w), int(h)), Image.Resampling.BICUBIC))


def center_square(image: np.ndarray) -> np.ndarray:
    """The largest centred square of an image (the usual ImageNet evaluation crop, before resizing).

    Keeps the aspect ratio that a classifier trained on ImageNet crops expects, at the cost of
    the image's edges; a square image is returned unchanged.
    """
    arr = np.asarray(image)
    if arr.ndim < 2:
        raise PipelineError(f"center_square expects an image, got shape {arr.shape}.")
    h, w = arr.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return arr[top : top + s, left : left + s]


def to_unit_gray(image: np.ndarray, size: int = 28) -> np.ndarray:
    """An RGB or grey uint8 photo as a ``(size, size, 1)`` float32 grey image in [0, 1].

    Grey is ITU-R 601 luma (Pillow's ``convert("L")``, as ``color_mode="grayscale"`` in Keras),
    resized with :func:`squash_resize`, divided by 255 like the seed's ``img_tensor /= 255.``.
    """
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise PipelineError(f"to_unit_gray expects a uint8 image, got dtype {arr.dtype}.")
    if arr.ndim == 3 and arr.shape[-1] == 3:
        arr = np.asarray(Image.fromarray(arr).convert("L"))
    elif arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise PipelineError(f"to_unit_gray expects (H, W), (H, W, 1) or (H, W, 3), got {arr.shape}.")
    small = squash_resize(arr, size)
    return (small.astype(np.float32) / 255.0)[..., None]


# --------------------------------------------------------------------------------------------
# Recording probes during training
# --------------------------------------------------------------------------------------------


def probe_recorder(
    models: Mapping[str, keras.Model], x: np.ndarray, record_initial: bool = True
) -> Any:
    """A Keras callback that stores ``model.predict(x)`` for each named model at every epoch.

    Why: a page that says "the codes sharpen as the autoencoder trains" should show the codes
    at each epoch, computed by the model as it was then. The callback records once before
    training (epoch 0, the untrained network, when ``record_initial``) and after every epoch
    (epoch ``k`` = after ``k`` epochs). The models usually share layers with the one being
    trained (an encoder inside an autoencoder), so they see its current weights.

    After training, ``callback.epochs`` is the list of recorded epochs and
    ``callback.arrays()`` returns ``{name: array (n_records, *predict_shape)}``.
    Works with ``model.fit`` and :func:`pipeline.library.training.fit_fast`.
    """
    import keras

    if not models:
        raise PipelineError("probe_recorder: pass at least one {name: model}.")
    probe = np.asarray(x, dtype=np.float32)

    class ProbeRecorder(keras.callbacks.Callback):
        """Records ``predict`` outputs for the probe inputs (see :func:`probe_recorder`)."""

        def __init__(self) -> None:
            super().__init__()
            self.models = dict(models)
            self.x = probe
            self.epochs: list[int] = []
            self.records: dict[str, list[np.ndarray]] = {name: [] for name in self.models}

        def _record(self, epoch: int) -> None:
            self.epochs.append(int(epoch))
            for name, model in self.models.items():
                self.records[name].append(np.asarray(model.predict(self.x, verbose=0)))

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            if record_initial and not self.epochs:
                self._record(0)

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._record(epoch + 1)

        def arrays(self) -> dict[str, np.ndarray]:
            return {name: np.stack(recs) for name, recs in self.records.items() if recs}

    return ProbeRecorder()


def pick_epochs(epochs: Sequence[int], k: int) -> list[int]:
    """At most ``k`` of ``epochs``, evenly spaced, always keeping the first and the last."""
    ep = [int(e) for e in epochs]
    if not ep:
        raise PipelineError("pick_epochs: no epochs recorded.")
    if k < 1:
        raise PipelineError(f"pick_epochs: k must be at least 1, got {k}.")
    if len(ep) <= k:
        return ep
    if k == 1:
        return [ep[-1]]
    idx = np.unique(np.linspace(0, len(ep) - 1, k).round().astype(int))
    return [ep[i] for i in idx]


def codes_to_images(codes: np.ndarray, shape: tuple[int, int] = (8, 4)) -> np.ndarray:
    """Reshape code vectors ``(..., d)`` to ``(..., rows, cols)`` pictures (seed 002: 32 -> 8x4).

    Row-major, as numpy's ``reshape(8, 4)`` in the seed: unit ``i`` is at row ``i // 4``,
    column ``i % 4``.
    """
    arr = np.asarray(codes)
    d = math.prod(shape)
    if arr.shape[-1] != d:
        raise PipelineError(
            f"codes_to_images: codes have {arr.shape[-1]} units but shape {shape} holds {d}."
        )
    return arr.reshape(*arr.shape[:-1], *shape)


# --------------------------------------------------------------------------------------------
# Pictures that return what they drew
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeRow:
    """One row of :func:`probe_rows_figure`: ``images`` is ``(n, h, w)``, one per column."""

    label: str
    images: np.ndarray
    cmap: str = "gray"
    vmin: float | None = None
    vmax: float | None = None
    colorbar: bool = False


def probe_rows_figure(
    rows: Sequence[ProbeRow],
    col_titles: Sequence[str] | None = None,
    title: str | None = None,
    panel_size: float = 1.0,
    figure: Figure | None = None,
) -> tuple[Figure, dict[str, np.ndarray]]:
    """Rows of small pictures (digits, their codes, their reconstructions), one column each.

    Every row uses one colour scale for all its panels (``vmin``/``vmax``, or the row's own
    min and max), so panels in a row can be compared. Returns ``(figure, shown)``:
    ``shown[row.label]`` is the exact array drawn in that row.
    """
    from matplotlib.figure import Figure

    if not rows:
        raise PipelineError("probe_rows_figure: no rows to draw.")
    n = len(rows[0].images)
    for row in rows:
        if np.asarray(row.images).ndim != 3 or len(row.images) != n:
            raise PipelineError(
                f"probe_rows_figure: row {row.label!r} must be (n, h, w) with n = {n}, got "
                f"shape {np.shape(row.images)}."
            )
    if col_titles is not None and len(col_titles) != n:
        raise PipelineError(f"probe_rows_figure: {len(col_titles)} column titles for {n} columns.")
    extra = 0.6 if any(r.colorbar for r in rows) else 0.0
    fig = figure or Figure(
        figsize=(panel_size * n + 1.4 + extra, panel_size * 1.15 * len(rows) + (0.5 if title else 0.2))
    )
    axes = fig.subplots(len(rows), n, squeeze=False)
    shown: dict[str, np.ndarray] = {}
    for r, row in enumerate(rows):
        imgs = np.asarray(row.images)
        vmin, vmax = _row_limits(row, imgs)
        im = None
        for c in range(n):
            ax = axes[r, c]
            im = ax.imshow(imgs[c], cmap=row.cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and col_titles is not None:
                ax.set_title(col_titles[c], fontsize=9)
        axes[r, 0].set_ylabel(row.label, fontsize=9, rotation=0, ha="right", va="center")
        if row.colorbar and im is not None:
            fig.colorbar(im, ax=list(axes[r, :]), fraction=0.02, pad=0.01)
        shown[row.label] = imgs
    if title:
        fig.suptitle(title)
    return fig, shown


def _row_limits(row: ProbeRow, imgs: np.ndarray) -> tuple[float, float]:
    """The row's colour scale, as :func:`probe_rows_figure` picks it."""
    vmin = float(imgs.min()) if row.vmin is None else row.vmin
    vmax = float(imgs.max()) if row.vmax is None else row.vmax
    return vmin, (vmin + 1e-6 if vmax <= vmin else vmax)


def update_probe_rows(
    fig: Figure,
    rows: Sequence[ProbeRow],
    title: str | None = None,
) -> dict[str, np.ndarray]:
    """Show ``rows`` in ``fig``, a :func:`probe_rows_figure` of rows of the same shape.

    Why: an animation's frames differ only in their pictures and title, and building the
    figure (dozens of axes) and restyling it for a palette cost far more than drawing it.
    Only the image data, each row's colour scale and the title change, so the drawn pixels
    equal those of a new :func:`probe_rows_figure` with the same arguments (tested),
    including a figure already restyled by :func:`~pipeline.library.palette.restyle_figure`
    (the title keeps its colour). ``title=None`` keeps the current title. Returns ``shown``
    as :func:`probe_rows_figure` does.
    """
    images = [ax.images[0] for ax in fig.axes if ax.images]
    if not rows:
        raise PipelineError("update_probe_rows: no rows to draw.")
    n = len(rows[0].images)
    if len(images) != n * len(rows):
        raise PipelineError(
            f"update_probe_rows: the figure shows {len(images)} pictures, the rows "
            f"{len(rows)} x {n}; pass the figure probe_rows_figure drew for rows of this shape."
        )
    shown: dict[str, np.ndarray] = {}
    for r, row in enumerate(rows):
        imgs = np.asarray(row.images)
        if imgs.ndim != 3 or len(imgs) != n:
            raise PipelineError(
                f"update_probe_rows: row {row.label!r} must be (n, h, w) with n = {n}, got "
                f"shape {imgs.shape}."
            )
        vmin, vmax = _row_limits(row, imgs)
        for c in range(n):
            im = images[r * n + c]
            im.set_data(imgs[c])
            im.set_clim(vmin, vmax)
        shown[row.label] = imgs
    if title is not None:
        fig.suptitle(title)
    return shown


def epoch_strip_figure(
    images: np.ndarray,
    epochs: Sequence[int],
    col_titles: Sequence[str] | None = None,
    title: str | None = None,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    panel_size: float = 0.8,
    colorbar_label: str | None = None,
) -> tuple[Figure, np.ndarray]:
    """An epochs x probes grid: row ``i`` shows ``images[i]`` (``(n, h, w)``) after ``epochs[i]``.

    One colour scale for the whole strip (so a code unit that grows over training looks
    brighter), shown as a colour bar when ``colorbar_label`` is given. Returns
    ``(figure, shown)`` where ``shown`` is exactly ``images``.
    """
    from matplotlib.figure import Figure

    arr = np.asarray(images)
    if arr.ndim != 4:
        raise PipelineError(
            f"epoch_strip_figure: images must be (epochs, n, h, w), got shape {arr.shape}."
        )
    if len(epochs) != len(arr):
        raise PipelineError(
            f"epoch_strip_figure: {len(epochs)} epoch labels for {len(arr)} rows of images."
        )
    e, n = arr.shape[:2]
    lo = float(arr.min()) if vmin is None else vmin
    hi = float(arr.max()) if vmax is None else vmax
    if hi <= lo:
        hi = lo + 1e-6
    aspect = arr.shape[2] / arr.shape[3]
    fig = Figure(
        figsize=(panel_size * n / max(aspect, 1.0) + 1.6, panel_size * e + (0.6 if title else 0.3))
    )
    axes = fig.subplots(e, n, squeeze=False)
    im = None
    for i in range(e):
        for j in range(n):
            ax = axes[i, j]
            im = ax.imshow(arr[i, j], cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0 and col_titles is not None:
                ax.set_title(col_titles[j], fontsize=8)
        axes[i, 0].set_ylabel(f"epoch {epochs[i]}", fontsize=8, rotation=0, ha="right",
                              va="center")
    if colorbar_label and im is not None:
        cb = fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02)
        cb.set_label(colorbar_label, fontsize=8)
    if title:
        fig.suptitle(title)
    return fig, arr


def channel_mosaic(maps: np.ndarray, cols: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Channels of an ``(H, W, C)`` map tiled into one 2-D array, each scaled to [0, 1].

    Scaling each channel on its own is what ``imshow`` does for one panel per channel; doing it
    in one array lets a figure draw all channels with a single ``imshow`` (a grid of 128 axes
    takes seconds to lay out). Gaps are NaN (drawn blank); a gap row above each tile leaves room
    for its label. A channel that is zero everywhere stays 0. Returns the mosaic and the
    ``(x, y)`` data coordinates of each tile's label (centred above the tile).
    """
    arr = np.asarray(maps, dtype=np.float64)
    h, w, k = arr.shape
    cols = max(1, min(cols, k))
    rows = math.ceil(k / cols)
    gap_x = max(1, round(0.15 * w))
    gap_y = max(1, round(0.45 * h))
    mosaic = np.full((rows * (h + gap_y), cols * (w + gap_x) - gap_x), np.nan)
    anchors = []
    for i in range(k):
        r, c = divmod(i, cols)
        ch = arr[..., i]
        lo, hi = float(ch.min()), float(ch.max())
        scaled = (ch - lo) / (hi - lo) if hi > lo else np.zeros_like(ch)
        y0, x0 = r * (h + gap_y) + gap_y, c * (w + gap_x)
        mosaic[y0 : y0 + h, x0 : x0 + w] = scaled
        anchors.append((x0 + (w - 1) / 2, y0 - 0.6))
    return mosaic, anchors


def feature_map_pair_figure(
    left: np.ndarray,
    right: np.ndarray,
    titles: tuple[str, str] = ("untrained", "trained"),
    suptitle: str | None = None,
    cols: int = 8,
    cmap: str = "viridis",
    panel_size: float = 0.62,
) -> tuple[Figure, tuple[np.ndarray, np.ndarray]]:
    """Every channel of two ``(H, W, C)`` maps of the same layer, side by side, labelled.

    Used for "the untrained network's maps beside the trained ones". Each tile is one channel
    with its own colour scale (as one ``imshow`` per channel would give) and is labelled with
    its channel index; a channel that is zero everywhere (a ReLU that never fires for this
    input) is labelled "i:0" in red, because a flat tile alone is easy to overlook. Returns
    ``(figure, (left, right))``, the exact arrays whose channels are drawn.
    """
    from matplotlib.figure import Figure

    a, b = np.asarray(left), np.asarray(right)
    for name, arr in (("left", a), ("right", b)):
        if arr.ndim != 3:
            raise PipelineError(
                f"feature_map_pair_figure: {name} must be one (H, W, C) map, got {arr.shape}."
            )
    if a.shape != b.shape:
        raise PipelineError(
            f"feature_map_pair_figure: the two maps differ in shape ({a.shape} vs {b.shape})."
        )
    if cols < 1:
        raise PipelineError(f"feature_map_pair_figure: cols must be positive, got {cols}.")
    cols = min(cols, a.shape[-1])
    mosaics = [channel_mosaic(arr, cols) for arr in (a, b)]
    mh, mw = mosaics[0][0].shape
    top = 0.8 if suptitle else 0.45
    ax_w = cols * panel_size * 1.15
    ax_h = ax_w * mh / mw
    width = 2 * ax_w + 0.5
    height = ax_h + top + 0.1
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.1 / width, right=1 - 0.1 / width, bottom=0.05 / height,
                        top=1 - top / height, wspace=0.3 / ax_w)
    font = 7 if a.shape[0] > 4 else 6
    for ax, arr, (mosaic, anchors), title in zip(axes, (a, b), mosaics, titles, strict=True):
        ax.imshow(mosaic, cmap=cmap, interpolation="nearest", vmin=0.0, vmax=1.0)
        for i, (x, y) in enumerate(anchors):
            dead = not np.any(arr[..., i])
            ax.text(x, y, f"{i}:0" if dead else str(i), ha="center", va="bottom",
                    fontsize=font, color="#c00" if dead else "#222")
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig, (a, b)


def weight_stats_html(rows: Sequence[Any], caption: str | None = None) -> str:
    """``inspection.weight_stats`` rows as an HTML ``<table>`` fragment for ``include(...)``.

    Columns follow seed 004's ``get_weights()`` view; the markup (escaped text, ``scope``d
    headers, right-aligned numbers) comes from :func:`pipeline.library.tables.html_table`.
    """
    from pipeline.library.tables import html_table

    columns = ("Layer", "Weight", "Shape", "Count", "Mean", "Std", "Min", "Max", "Zeros")
    cells = [[r.layer, r.name, "(" + ", ".join(str(d) for d in r.shape) + ")", f"{r.count:,}",
              f"{r.mean:.4g}", f"{r.std:.4g}", f"{r.min:.4g}", f"{r.max:.4g}",
              f"{r.zero_fraction:.1%}"] for r in rows]
    return html_table(columns, cells, numeric=range(3, 9), nowrap=(2,), caption=caption)


# --------------------------------------------------------------------------------------------
# Video
# --------------------------------------------------------------------------------------------


def write_mp4(
    path: str | os.PathLike[str], frames: Sequence[np.ndarray], fps: float = 4.0, crf: int = 23
) -> Path:
    """Write uint8 RGB frames as an H.264 MP4 (yuv420p, plays in every browser), atomically.

    Frames must share one size; odd sizes are padded by one edge pixel (yuv420p needs even
    sides). ``+faststart`` puts the index first so a page can start playing before the whole
    file has arrived. The file appears under its name only when complete, so a killed build
    never publishes half a video. Uses the ffmpeg binary that ``imageio-ffmpeg`` ships.
    """
    from pipeline.library.replay.composer import mp4_writer

    if len(frames) == 0:
        raise PipelineError("write_mp4: no frames to write.")
    if not fps > 0:
        raise PipelineError(f"write_mp4: fps must be positive, got {fps!r}.")
    first = np.asarray(frames[0])
    for i, frame in enumerate(frames):
        arr = np.asarray(frame)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[-1] != 3:
            raise PipelineError(
                f"write_mp4: frame {i} must be uint8 (H, W, 3), got {arr.dtype} {arr.shape}."
            )
        if arr.shape != first.shape:
            raise PipelineError(
                f"write_mp4: frame {i} is {arr.shape}, frame 0 is {first.shape}; render every "
                "frame at the same size."
            )
    h, w = first.shape[:2]
    target = Path(path)
    with contextlib.ExitStack() as stack:
        writer = mp4_writer(stack, target, w, h, fps=fps, crf=int(crf), preset="medium",
                            pix_fmt_in="rgb24")
        for frame in frames:
            arr = np.asarray(frame)
            if h % 2 or w % 2:
                arr = np.pad(arr, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
            writer.send(np.ascontiguousarray(arr))
    log.info("wrote %s (%d frames at %g fps)", target, len(frames), fps)
    return target


# --------------------------------------------------------------------------------------------
# Models out
# --------------------------------------------------------------------------------------------


def save_model_without_optimizer(model: keras.Model, path: str | os.PathLike[str]) -> Path:
    """Save ``model`` as a ``.keras`` file holding its architecture and weights only.

    A compiled model's file also carries the optimizer's state (Adam keeps two moments per
    weight, tripling the size), and ``keras.models.clone_model`` of a compiled Sequential model
    is compiled too. A page asset only needs the weights to recompute its pictures, so the
    model is rebuilt from its config, given the same weights, and saved uncompiled.
    """
    from pipeline.library import atomic

    copy = type(model).from_config(model.get_config())
    copy.set_weights(model.get_weights())
    target = Path(path)
    if target.suffix != ".keras":
        raise PipelineError(f"save_model_without_optimizer: {target.name} must end in .keras.")
    with atomic.atomic_path(target) as tmp:
        copy.save(tmp)
    return target


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


def box_share(heatmap: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float]:
    """``(share of the heatmap's positive mass inside box, share of the image the box covers)``.

    ``box`` is ``(x0, y0, x1, y1)`` in pixels, end-exclusive. A model that looks at the animal
    puts more of its evidence inside the animal's box than the box's area alone would give:
    the first number exceeds the second. Negative values (evidence against the class) are
    ignored; an all-zero map gives a share of 0.
    """
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float64)), 0.0, None)
    if heat.ndim != 2:
        raise PipelineError(f"box_share: heatmap must be (H, W), got shape {heat.shape}.")
    h, w = heat.shape
    x0, y0, x1, y1 = (int(v) for v in box)
    if not (0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h):
        raise PipelineError(
            f"box_share: box {box} is not inside the {w}x{h} image (x0 < x1 <= width, "
            "y0 < y1 <= height)."
        )
    total = heat.sum()
    inside = heat[y0:y1, x0:x1].sum()
    area = (x1 - x0) * (y1 - y0) / (h * w)
    return (float(inside / total) if total > 0 else 0.0, float(area))


def glorot_uniform_std(shape: Sequence[int]) -> float:
    """Standard deviation of Keras's Glorot-uniform initialiser for a kernel of ``shape``.

    ``limit = sqrt(6 / (fan_in + fan_out))`` and a uniform variable on ``[-limit, limit]`` has
    std ``limit / sqrt(3) = sqrt(2 / (fan_in + fan_out))``. For a conv kernel
    ``(kh, kw, cin, cout)`` the receptive field multiplies both fans, as in Keras.
    """
    dims = [int(d) for d in shape]
    if len(dims) < 2 or any(d < 1 for d in dims):
        raise PipelineError(f"glorot_uniform_std: need a kernel shape of rank >= 2, got {shape}.")
    receptive = math.prod(dims[:-2]) if len(dims) > 2 else 1
    fan_in, fan_out = dims[-2] * receptive, dims[-1] * receptive
    return math.sqrt(2.0 / (fan_in + fan_out))

"""Compose panels in one figure; draw any epoch of a replay; write stills and posters.

Why blitting: for a 1200x600 four-panel figure a full redraw runs at about 6 frames per second,
and most of that is ticks, labels and titles, which never change. A :class:`Composition` draws
the figure once without the animated artists, keeps that background, and for each frame
restores it and draws only the artists the panels returned from ``update``, then reads the RGBA
buffer. The artists are drawn in the order a full redraw would draw them (by axes, then zorder)
and static artists that lie above them in the same axes (spines, legends) are redrawn on top,
so a blitted frame has the same pixels as a full redraw of that epoch (a test checks this).

The figure is a plain ``matplotlib.figure.Figure`` on an Agg canvas: no pyplot, no backend
switch, no rcParams changes, so a recipe's inline figures are unaffected. Every file is written
atomically (temporary name, then ``os.replace``).

Videos and GIFs of a composition are written by one pipeline only,
:func:`pipeline.library.replay.parallel_render.render_outputs` (each epoch drawn once, on as many
cores as are idle); this module keeps the pieces it shares with other video writers
(:func:`mp4_writer`, :func:`select_epochs`). The page draws the replay itself from its data
(:mod:`pipeline.library.replay.browser_data`), so there are no per-epoch frame files any more.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Generator, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.gridspec import SubplotSpec

from pipeline.library.atomic import atomic_path
from pipeline.library.errors import PipelineError
from pipeline.library.replay.panels import Panel
from pipeline.library.replay.store import Replay

log = logging.getLogger(__name__)

__all__ = ["Composition", "Slot", "select_epochs"]

Slot = tuple[int, int] | tuple[int, int, int, int] | SubplotSpec
"""Where a panel goes: ``(row, col)``, ``(row, col, rowspan, colspan)`` or a ``SubplotSpec``."""

_FRAME_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "png": "PNG"}


def select_epochs(
    available: Sequence[int] | np.ndarray,
    epochs: Iterable[int] | None = None,
    max_frames: int | None = None,
) -> list[int]:
    """The epochs to render: ``epochs`` (checked) or all, thinned evenly to ``max_frames``.

    Thinning keeps the first and the last epoch, so a video always starts before training and
    ends on the trained model.
    """
    avail = [int(e) for e in available]
    if epochs is None:
        chosen = avail
    else:
        chosen = [int(e) for e in epochs]
        missing = sorted(set(chosen) - set(avail))
        if missing:
            raise PipelineError(
                f"epochs {missing[:5]} are not in the replay (it has {avail[0]}..{avail[-1]})"
            )
    if not chosen:
        raise PipelineError("no epochs to render")
    if max_frames is not None and len(chosen) > max_frames:
        if max_frames < 1:
            raise PipelineError("max_frames must be at least 1")
        idx = np.unique(np.linspace(0, len(chosen) - 1, max_frames).round().astype(int))
        chosen = [chosen[i] for i in idx]
    return chosen


def _even(frame: np.ndarray) -> np.ndarray:
    """Pad a frame to even width and height (H.264 in yuv420p needs both even)."""
    h, w = frame.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return frame
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")


def _rgb_image(frame: np.ndarray) -> Any:
    """A Pillow RGB image of an ``(H, W, 4)`` RGBA canvas buffer or an ``(H, W, 3)`` array.

    Why: Pillow reads the RGBA buffer in place and drops the alpha in one C pass, about 4x
    less work than copying the strided RGB view with numpy and then into Pillow. The pixels
    are the same (Agg's canvas is opaque; ``convert("RGB")`` keeps R, G and B as they are).
    """
    from PIL import Image

    if frame.ndim == 3 and frame.shape[2] == 4 and frame.dtype == np.uint8:
        buf = np.ascontiguousarray(frame)  # the canvas buffer already is: no copy
        h, w = buf.shape[:2]
        return Image.frombuffer("RGBA", (w, h), buf, "raw", "RGBA", 0, 1).convert("RGB")
    return Image.fromarray(np.ascontiguousarray(frame))


class Composition:
    """Panels placed on a grid in one figure, rendered for any epoch of a replay.

    ``panels`` is a list of ``(panel, slot)``; the grid shape is inferred from the slots unless
    ``grid=(rows, cols)`` is given. ``epoch_label`` (a format string with ``{epoch}``, or None)
    is shown as the figure title. The layout is computed once (constrained layout) and then
    frozen, so every epoch, still and frame has identical geometry.
    """

    def __init__(
        self,
        replay: Replay,
        panels: Sequence[tuple[Panel, Slot]],
        *,
        figsize: tuple[float, float] = (12, 6),
        dpi: float = 100,
        grid: tuple[int, int] | None = None,
        epoch_label: str | None = "Epoch {epoch}",
        palette: str = "light",
    ) -> None:
        if not panels:
            raise PipelineError("Composition needs at least one (panel, slot)")
        self.replay = replay
        self.figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        self.canvas = FigureCanvasAgg(self.figure)
        self.epoch_label = epoch_label
        rows, cols = grid or self._grid_shape(panels)
        spec = self.figure.add_gridspec(rows, cols)
        self.panels: list[tuple[Panel, Any]] = []
        for panel, slot in panels:
            if isinstance(slot, SubplotSpec):
                where = slot
            else:
                r, c, rs, cs = (*slot, 1, 1) if len(slot) == 2 else slot
                where = spec[r : r + rs, c : c + cs]
            ax = self.figure.add_subplot(where)
            panel.setup(ax, replay)
            self.panels.append((panel, ax))
        last = int(replay.epochs[-1])
        self._label = (
            self.figure.suptitle(epoch_label.format(epoch=last)) if epoch_label else None
        )
        self.epoch: int | None = None
        self.update(last)
        self.canvas.draw()  # run the layout once ...
        self.figure.set_layout_engine("none")  # ... and freeze it for every later frame
        self.width, self.height = (int(v) for v in self.canvas.get_width_height())
        self.palette = "light"
        self.set_palette(palette)

    def set_palette(self, palette: str) -> None:
        """Recolour the figure for the site's ``"light"`` or ``"dark"`` palette.

        Only theme colours change (:func:`pipeline.library.palette.restyle_figure`); the panels' data,
        colormaps and the frozen layout stay, so the dark pass reuses everything the panels
        computed. The light version must be rendered first: going back to light is refused.
        """
        from pipeline.library import palette as palettes

        palettes.check_palette(palette)
        if palette == self.palette:
            return
        if self.palette != "light":
            raise PipelineError("Composition.set_palette: render the light version first; a "
                                "dark composition cannot be turned back to light")
        palettes.restyle_figure(self.figure, palette)
        self.palette = palette

    @staticmethod
    def _grid_shape(panels: Sequence[tuple[Panel, Slot]]) -> tuple[int, int]:
        rows = cols = 1
        for _, slot in panels:
            if isinstance(slot, SubplotSpec):
                g = slot.get_gridspec()
                return g.nrows, g.ncols
            r, c, rs, cs = (*slot, 1, 1) if len(slot) == 2 else slot
            rows, cols = max(rows, r + rs), max(cols, c + cs)
        return rows, cols

    # ------------------------------------------------------------------------- one epoch
    def update(self, epoch: int) -> list[Artist]:
        """Move every panel to ``epoch``; return all artists that change (for blitting)."""
        epoch = int(epoch)
        self.replay.index(epoch)  # a clear error for an epoch the replay does not have
        artists: list[Artist] = []
        for panel, _ in self.panels:
            artists.extend(panel.update(epoch))
        if self._label is not None and self.epoch_label:
            self._label.set_text(self.epoch_label.format(epoch=epoch))
            artists.append(self._label)
        self.epoch = epoch
        return list(dict.fromkeys(artists))  # unique, order kept

    @property
    def slots(self) -> list[tuple[Panel, tuple[int, int, int, int]]]:
        """Each panel with its ``(row, col, rowspan, colspan)`` on the grid (the page's data
        writer lays its views out the same way)."""
        out = []
        for panel, ax in self.panels:
            spec = ax.get_subplotspec()
            rows, cols = spec.rowspan, spec.colspan
            out.append((panel, (rows.start, cols.start, rows.stop - rows.start,
                                cols.stop - cols.start)))
        return out

    def _repr_png_(self) -> bytes:
        """Show the composition (at its current epoch) when it is a notebook cell's result."""
        import io

        buf = io.BytesIO()
        self.figure.savefig(buf, format="png")
        return buf.getvalue()

    def _grab(self) -> np.ndarray:
        """The canvas as an ``(H, W, 3)`` uint8 array (a copy: the buffer is reused)."""
        return np.array(np.asarray(self.canvas.buffer_rgba())[..., :3])

    def render(self, epoch: int, *, blit: bool = False) -> np.ndarray:
        """One frame as ``(H, W, 3)`` uint8: a full redraw, or the blitted path when ``blit``."""
        if blit:
            frames = self.iter_frames([epoch])
            try:
                return next(frames)[1]
            finally:
                frames.close()
        self.update(epoch)
        self.canvas.draw()
        return self._grab()

    # ------------------------------------------------------------------------- blitting
    def _draw_list(self, artists: list[Artist]) -> list[Artist]:
        """Animated artists plus static ones above them, in the order a full draw uses.

        A full draw renders each axes' children sorted by zorder. Static children at or above
        the lowest animated zorder of that axes (spines, legends, the tick marks of an axis
        whose inner end touches a moving image) must be drawn after the animated artists again,
        so they are added to the per-frame list (and left out of the background). Tick labels
        and axis labels lie outside the axes and stay in the background: they are the
        expensive part of a redraw.
        """
        fig = self.figure
        axes_order = sorted(fig.axes, key=lambda a: a.get_zorder())  # stable, like Figure.draw
        by_axes: dict[int, list[Artist]] = {}
        for a in artists:
            by_axes.setdefault(id(a.axes) if a.axes is not None else -1, []).append(a)
        ordered: list[Artist] = []
        for ax in axes_order:
            mine = by_axes.get(id(ax))
            if not mine:
                continue
            lowest = min(a.get_zorder() for a in mine)
            children = ax.get_children()
            position = {id(c): i for i, c in enumerate(children)}
            chosen = {id(a) for a in mine}
            keyed: list[tuple[tuple[float, int, int], Artist]] = [
                ((a.get_zorder(), position.get(id(a), len(children)), 0), a) for a in mine
            ]
            for c in children:
                if id(c) in chosen or c is ax.patch or c is ax.title or not c.get_visible():
                    continue
                if c.get_zorder() < lowest:
                    continue
                if isinstance(c, Axis):
                    ticks = self._tick_lines(c)
                    keyed.extend(((c.get_zorder(), position[id(c)], j + 1), t)
                                 for j, t in enumerate(ticks))
                elif not (hasattr(c, "get_text") and not c.get_text()):
                    keyed.append(((c.get_zorder(), position[id(c)], 0), c))
            keyed.sort(key=lambda item: item[0])
            ordered.extend(a for _, a in keyed)
        figure_level = sorted(by_axes.get(-1, []), key=lambda a: a.get_zorder())
        return ordered + figure_level

    @staticmethod
    def _tick_lines(axis: Axis) -> list[Artist]:
        """The visible tick marks and grid lines of ``axis`` that a full draw renders."""
        lo, hi = sorted(float(v) for v in axis.get_view_interval())
        tol = (hi - lo) * 1e-9
        lines: list[Artist] = []
        for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
            if not lo - tol <= float(tick.get_loc()) <= hi + tol:
                continue
            for line in (tick.gridline, tick.tick1line, tick.tick2line):
                if line.get_visible():
                    lines.append(line)
        return lines

    @contextlib.contextmanager
    def _blitting(self, first_epoch: int) -> Iterator[list[Artist]]:
        """Draw the static background once (animated artists hidden); yield the draw list."""
        draw_list = self._draw_list(self.update(first_epoch))
        hidden = [a for a in draw_list if a.get_visible()]
        for a in hidden:
            a.set_visible(False)
        try:
            self.canvas.draw()
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        finally:
            for a in hidden:
                a.set_visible(True)
        try:
            yield hidden
        finally:
            self._background = None

    def _iter_rgba(self, epochs: Iterable[int] | None) -> Iterator[tuple[int, np.ndarray]]:
        """Blitted frames as a *live view* of the canvas' RGBA buffer (valid until the next
        frame): the video writer streams it without a copy."""
        chosen = select_epochs(self.replay.epochs, epochs)
        with self._blitting(chosen[0]) as draw_list:
            draw = self.figure.draw_artist
            for epoch in chosen:
                self.update(epoch)
                self.canvas.restore_region(self._background)
                for artist in draw_list:
                    draw(artist)
                yield epoch, np.asarray(self.canvas.buffer_rgba())

    def iter_frames(
        self, epochs: Iterable[int] | None = None
    ) -> Generator[tuple[int, np.ndarray], None, None]:
        """Yield ``(epoch, frame)`` for each epoch via blitting: background once, then only
        the animated artists per frame. Frames are ``(H, W, 3)`` uint8 copies."""
        for epoch, rgba in self._iter_rgba(epochs):
            yield epoch, np.array(rgba[..., :3])

    # --------------------------------------------------------------------------- outputs
    def still(self, epoch: int, path: str | os.PathLike[str], *, dpi: float | None = None,
              **savefig_kwargs: Any) -> Path:
        """Save a full redraw of ``epoch`` (format from the suffix: png, webp, svg, pdf, jpg ...).

        ``savefig_kwargs`` go to matplotlib's ``savefig``, e.g. ``pil_kwargs={"quality": 90}``
        for a WebP (a third of the PNG's bytes for a replay figure).
        """
        self.update(epoch)
        final = Path(path)
        fmt = final.suffix.lstrip(".").lower() or "png"
        with atomic_path(final) as tmp:
            self.figure.savefig(tmp, format=fmt, dpi=dpi or self.figure.dpi, **savefig_kwargs)
        log.info("still epoch %s -> %s", epoch, final)
        return final

    def poster(self, path: str | os.PathLike[str], epoch: int | None = None) -> Path:
        """A PNG of one frame (default: the last epoch) at the video's pixel size."""
        from PIL import Image

        epoch = int(self.replay.epochs[-1]) if epoch is None else int(epoch)
        frame = _even(self.render(epoch, blit=True))
        final = Path(path)
        with atomic_path(final) as tmp:
            Image.fromarray(frame).save(tmp, format=_FRAME_FORMATS.get(
                final.suffix.lstrip(".").lower(), "PNG"))
        return final


def mp4_writer(stack: contextlib.ExitStack, mp4_path: str | os.PathLike[str], width: int,
               height: int, fps: float, crf: int, preset: str, pix_fmt_in: str = "rgba") -> Any:
    """An H.264 (yuv420p, faststart) ffmpeg writer into a temporary sibling of ``mp4_path``,
    renamed into place when ``stack`` closes; send it frames of even size (:func:`_even`) in
    ``pix_fmt_in`` (``"rgba"``: the composer's canvases; ``"rgb24"``: RGB arrays).

    The one place that knows the video settings, so every renderer writes the same file
    (``Composition.animate``, the one-pass renderer, ``cnn_views.write_mp4``).
    """
    import imageio_ffmpeg

    tmp = stack.enter_context(atomic_path(mp4_path))
    w, h = width + width % 2, height + height % 2
    writer = imageio_ffmpeg.write_frames(
        str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_in=pix_fmt_in,
        pix_fmt_out="yuv420p", quality=None, macro_block_size=2,
        ffmpeg_log_level="error",
        output_params=["-crf", str(crf), "-preset", preset, "-movflags", "+faststart"],
    )
    writer.send(None)
    stack.callback(writer.close)
    return writer


def _gif_frame(frame: np.ndarray, scale: float) -> Any:
    """Downscale and palette-quantize one frame (RGBA canvas or RGB array) for the GIF."""
    from PIL import Image

    img = _rgb_image(frame)
    if scale != 1.0:
        size = (max(2, round(img.width * scale)), max(2, round(img.height * scale)))
        img = img.resize(size, Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR)
    return img.quantize(colors=256, method=Image.Quantize.FASTOCTREE)

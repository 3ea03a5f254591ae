"""Write a replay's video and GIF: the one render pipeline, each epoch drawn once.

Why one function: the MP4 and the GIF (for downloads, slides and READMEs; the page draws the
replay itself from its data, :mod:`pipeline.library.replay.browser_data`) come from the same
frames, and drawing a frame (matplotlib, single-threaded) is most of the cost. So
:func:`render_outputs` draws each needed epoch once, in ``workers`` spawned processes, each
holding its own :class:`~pipeline.library.replay.composer.Composition` built by the same layout
function from the same replay:

* contiguous chunks of epochs go to the workers; each chunk is blitted (the background drawn
  once per chunk, then only the animated artists), and a blitted frame equals a full redraw
  (the composer's test), so the pixels do not depend on the number of workers;
* the workers quantize the GIF frames themselves;
* the video frames come back in order and are piped to one ffmpeg (libx264 uses every core
  itself) with :func:`~pipeline.library.replay.composer.mp4_writer`'s settings.

The files are byte for byte the same for any number of workers (tested). The layout must be
importable by name for workers > 1 (a module-level function such as
:func:`~pipeline.library.explainers.seed000.seed000_layout`), as spawned workers rebuild the
figure from it; with one worker everything runs in this process, and ``composition=`` (an
existing figure, say a layout defined in the recipe) is drawn as it is.

By default it renders in this process: every video frame drawn by a worker travels back to
the one ffmpeg (2.9 MB for a 1200x600 frame), and measured on the seed-000 video (201 frames,
2 cores) two spawned workers took 13.8 s where one process took 3.6 s. ``workers=N`` or
``NNX_RENDER_WORKERS=N`` still splits the drawing. What does pay on two cores is
:func:`render_in_background`: the whole render in a forked process while the recipe goes on
(the seed-000 recipe draws its dark stills and its second run meanwhile).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.library import cores as library_cores
from pipeline.library.atomic import atomic_path
from pipeline.library.errors import PipelineError
from pipeline.library.forked import ForkedCall, can_fork, fork_call
from pipeline.library.replay.composer import (
    Composition,
    _even,
    _gif_frame,
    mp4_writer,
    select_epochs,
)
from pipeline.library.replay.store import Replay

log = logging.getLogger(__name__)

__all__ = ["BackgroundRender", "render_in_background", "render_outputs", "render_workers"]

#: Environment variable: number of render processes (``1``: render in this process).
RENDER_WORKERS_ENV = "NNX_RENDER_WORKERS"
#: Chunks per worker: more balance the load, fewer redraw the static background less often.
CHUNKS_PER_WORKER = 2

Layout = Callable[..., Composition]


def render_workers(frames: int, requested: int | None = None) -> int:
    """How many processes render ``frames`` frames: ``requested``, else ``NNX_RENDER_WORKERS``,
    else one (see the module docstring for why); never more than the frames allow."""
    if requested is None:
        raw = os.environ.get(RENDER_WORKERS_ENV, "").strip()
        if raw:
            try:
                requested = int(raw)
            except ValueError:
                raise PipelineError(f"{RENDER_WORKERS_ENV}={raw!r}: use a number of processes "
                                    "(1 renders in the recipe's own process)") from None
    if requested is not None:
        return max(1, requested)
    return 1


@dataclass(frozen=True)
class _Chunk:
    """One worker task: the epochs to draw and what to make of each."""

    epochs: tuple[int, ...]
    video: frozenset[int]
    gif: frozenset[int]
    gif_scale: float


@dataclass
class _ChunkResult:
    video: list[np.ndarray]
    gif: list[Any]


_worker_composition: Composition | None = None


def _init_worker(layout: Layout, replay: Replay, layout_kwargs: dict[str, Any]) -> None:
    """Build this worker's own figure once (the layout is frozen, as in the parent)."""
    global _worker_composition
    _worker_composition = layout(replay, **layout_kwargs)


def _render_chunk(chunk: _Chunk, comp: Composition | None = None,
                  video_sink: Callable[[np.ndarray], Any] | None = None) -> _ChunkResult:
    """Draw the chunk's epochs (blitted) and turn each into what the chunk asks for.

    ``video_sink`` (rendering in this process): takes each video frame as it is drawn, a
    live view of the canvas, instead of a copy kept in the result (a 1200x600 frame is
    2.9 MB: 200 of them would be held at once).
    """
    comp = comp or _worker_composition
    if comp is None:  # pragma: no cover - a worker whose initializer failed never gets here
        raise PipelineError("render worker has no composition")
    result = _ChunkResult([], [])
    for epoch, rgba in comp._iter_rgba(chunk.epochs):
        if epoch in chunk.video:
            if video_sink is not None:
                video_sink(_even(rgba))
            else:
                result.video.append(np.array(_even(rgba)))  # a copy: the buffer is reused
        if epoch in chunk.gif:
            result.gif.append(_gif_frame(rgba, chunk.gif_scale))
    return result


def _chunks(epochs: Sequence[int], parts: int) -> list[tuple[int, ...]]:
    """``epochs`` in ``parts`` contiguous slices of nearly equal length (none empty)."""
    parts = max(1, min(parts, len(epochs)))
    bounds = np.linspace(0, len(epochs), parts + 1).round().astype(int)
    return [tuple(epochs[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def render_outputs(
    layout: Layout | None,
    replay: Replay,
    *,
    layout_kwargs: dict[str, Any] | None = None,
    mp4_path: str | os.PathLike[str] | None = None,
    gif_path: str | os.PathLike[str] | None = None,
    epochs: Iterable[int] | None = None,
    fps: float = 20,
    gif_scale: float = 0.5,
    gif_max_frames: int = 60,
    crf: int = 23,
    preset: str = "medium",
    workers: int | None = None,
    composition: Composition | None = None,
) -> dict[str, Any]:
    """Write an H.264 MP4 and/or a GIF of the chosen epochs, each epoch drawn once.

    MP4: libx264, yuv420p (plays everywhere, including browsers), ``+faststart`` (the index at
    the front, so a video starts before it has downloaded), ``fps`` frames per second, ``crf``
    and ``preset`` as ffmpeg takes them. GIF: ``gif_scale`` of the size and at most
    ``gif_max_frames`` frames (evenly thinned, first and last kept), with the same total
    duration as the MP4, because GIFs are several times larger. ``epochs``: which epochs
    (default all). ``layout(replay, **layout_kwargs)`` builds the figure (in each worker);
    ``composition``: one already built, drawn in this process (``layout`` may then be None
    and the render is serial). Returns the paths, the epochs, the seconds and ``workers``.
    """
    if mp4_path is None and gif_path is None:
        raise PipelineError("render_outputs: give mp4_path, gif_path or both")
    if layout is None and composition is None:
        raise PipelineError("render_outputs: give a layout function or a composition")
    layout_kwargs = dict(layout_kwargs or {})
    start = time.perf_counter()
    chosen = select_epochs(replay.epochs, epochs)
    video = set(chosen) if mp4_path is not None else set()
    gif = set(select_epochs(chosen, None, gif_max_frames)) if gif_path is not None else set()
    needed = sorted(video | gif)
    count = 1 if layout is None else render_workers(len(needed), workers)

    with contextlib.ExitStack() as stack:
        comp = composition
        if comp is None and count == 1:
            assert layout is not None  # checked above: one of the two is given
            comp = layout(replay, **layout_kwargs)
        if comp is None:
            assert layout is not None
            width, height = _size(layout, replay, layout_kwargs)
        else:
            width, height = comp.width, comp.height
        writer = (mp4_writer(stack, mp4_path, width, height, fps, crf, preset)
                  if mp4_path is not None else None)
        tasks = [
            _Chunk(part, frozenset(video & set(part)), frozenset(gif & set(part)), gif_scale)
            for part in _chunks(needed, count * (CHUNKS_PER_WORKER if count > 1 else 1))
        ]
        if count == 1:  # video frames go to ffmpeg as they are drawn, without a copy
            sink = writer.send if writer is not None else None
            results: Iterable[_ChunkResult] = (_render_chunk(t, comp, sink) for t in tasks)
        else:
            assert layout is not None  # more than one worker only with a layout to rebuild
            pool = stack.enter_context(ProcessPoolExecutor(
                max_workers=count, mp_context=get_context("spawn"), initializer=_init_worker,
                initargs=(layout, replay, layout_kwargs)))
            results = pool.map(_render_chunk, tasks)
        gif_frames: list[Any] = []
        for result in results:  # in epoch order
            if writer is not None:
                for frame in result.video:
                    writer.send(frame)
            gif_frames.extend(result.gif)
    out: dict[str, Any] = {"epochs": chosen, "fps": fps, "workers": count}
    if mp4_path is not None:
        out["mp4"] = Path(mp4_path)
    if gif_path is not None:
        duration_ms = max(20, int(round(1000 * len(chosen) / fps / max(len(gif_frames), 1))))
        final = Path(gif_path)
        with atomic_path(final) as tmp:
            gif_frames[0].save(tmp, format="GIF", save_all=True, append_images=gif_frames[1:],
                               duration=duration_ms, loop=0, disposal=1)
        out["gif"] = final
    out["seconds"] = time.perf_counter() - start
    log.info("rendered %d epochs in %.1f s with %d process(es)", len(needed), out["seconds"],
             count)
    return out


class BackgroundRender:
    """A :func:`render_outputs` call running in a forked process: :meth:`result` waits for it.

    If the child fails (a forked matplotlib can trip over state it shares with its parent),
    :meth:`result` logs why and renders again in this process, so the files are never lost.
    """

    def __init__(self, args: tuple[Any, ...], kwargs: dict[str, Any], *,
                 child: ForkedCall | None = None, out: dict[str, Any] | None = None) -> None:
        self._args = args
        self._kwargs = kwargs
        self._child = child
        self._out = out
        self.forked = child is not None

    def result(self) -> dict[str, Any]:
        """What :func:`render_outputs` returns, once the files are written."""
        if self._out is not None:
            return self._out
        assert self._child is not None
        answer, failure = self._child.wait()
        if failure is None:
            out = dict(answer)
            for key in ("mp4", "gif"):
                if key in out:
                    out[key] = Path(out[key])
            self._out = out
            return out
        log.warning("rendering in a forked process failed (%s); rendering again here", failure)
        self._out = render_outputs(*self._args, **self._kwargs)
        return self._out


def render_in_background(layout: Layout | None, replay: Replay, **kwargs: Any) -> BackgroundRender:
    """Start :func:`render_outputs` (one process, same arguments) in a forked child; call
    ``.result()`` before the recipe finishes. Without ``fork`` or with one core it renders now.

    Why a fork: the child gets the composition with everything its panels computed (nothing
    pickled or recomputed) and writes the files itself, so only their names travel back
    (:mod:`pipeline.library.forked`).
    """
    kwargs = {**kwargs, "workers": 1}
    if not can_fork() or library_cores.usable_cores() < 2:
        return BackgroundRender((layout, replay), kwargs, out=render_outputs(layout, replay,
                                                                           **kwargs))

    def render_here() -> dict[str, Any]:
        out = render_outputs(layout, replay, **kwargs)
        return {k: str(v) if isinstance(v, Path) else v for k, v in out.items()}

    return BackgroundRender((layout, replay), kwargs, child=fork_call(render_here))


def _size(layout: Layout, replay: Replay, layout_kwargs: dict[str, Any]) -> tuple[int, int]:
    """The figure's pixel size, from a throwaway composition."""
    comp = layout(replay, **layout_kwargs)
    return comp.width, comp.height

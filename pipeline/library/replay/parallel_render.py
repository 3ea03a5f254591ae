"""Render a replay's video, GIF and scrubber frames in one pass, split across processes.

Why: drawing a frame (matplotlib, single-threaded) and encoding WebP frames are most of a
replay explainer's time, and :meth:`Composition.animate` plus :meth:`Composition.frames` draw
every epoch twice, on one core. :func:`render_outputs` draws each needed epoch once, in
``workers`` spawned processes, each holding its own :class:`Composition` built by the same
layout function from the same replay:

* contiguous chunks of epochs go to the workers; each chunk is blitted like the serial path
  (the background drawn once per chunk, then only the animated artists), so each frame's
  pixels equal the serial render's (the composer's blitted frames equal a full redraw);
* the workers encode the WebP/JPEG scrubber frames and quantize the GIF frames themselves and
  write the frame files straight into the temporary frames folder;
* the video frames come back in order and are piped to one ffmpeg (libx264 uses every core
  itself), with the serial path's exact settings, so the MP4 is the same file.

The MP4, GIF and frame files are byte for byte those of :meth:`Composition.animate` and
:meth:`Composition.frames` with the same arguments (tested). The layout must be importable by
name (a module-level function such as :func:`~pipeline.library.explainers.seed000.seed000_layout`), as
spawned workers rebuild the figure from it; with one worker everything runs in this process.
By default it uses the cores that are idle (:func:`idle_cores`); ``NNX_RENDER_WORKERS``
overrides the number of workers (``1``: serial, still one pass).
"""

from __future__ import annotations

import contextlib
import json
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
from pipeline.library.atomic import atomic_directory, atomic_path
from pipeline.library.errors import PipelineError
from pipeline.library.replay.composer import (
    _FRAME_FORMATS,
    Composition,
    _even,
    _gif_frame,
    _rgb_image,
    frame_metrics,
    mp4_writer,
    select_epochs,
)
from pipeline.library.replay.store import Replay

log = logging.getLogger(__name__)

__all__ = ["render_outputs", "render_workers"]

#: Environment variable: number of render processes (``1``: render in this process).
RENDER_WORKERS_ENV = "NNX_RENDER_WORKERS"
#: Below this many frames per worker, starting a process (about a second: Python, numpy,
#: matplotlib, the figure's first layout) costs more than it saves.
MIN_FRAMES_PER_WORKER = 24
#: Chunks per worker: more balance the load, fewer redraw the static background less often.
CHUNKS_PER_WORKER = 2

Layout = Callable[..., Composition]


def render_workers(frames: int, requested: int | None = None) -> int:
    """How many processes render ``frames`` frames (``NNX_RENDER_WORKERS``, else the cores)."""
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
    return max(1, min(idle_cores(), frames // MIN_FRAMES_PER_WORKER))


def idle_cores() -> int:
    """Cores not busy with other work: usable cores minus the load, plus this process's own.

    Why not simply every core: in a parallel build the other recipes' kernels already keep the
    cores busy, and extra render processes then only add their start-up and the frames' trip
    between processes. The files do not depend on the number of workers, only the time does.
    """
    cores = library_cores.usable_cores()  # looked up on the module, so a test can pin it
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return cores
    return max(1, min(cores, int(cores - load + 1.5)))


@dataclass(frozen=True)
class _Chunk:
    """One worker task: the epochs to draw and what to make of each."""

    epochs: tuple[int, ...]
    video: frozenset[int]
    gif: frozenset[int]
    frames: frozenset[int]
    frames_dir: str | None
    frame_format: str
    frame_options: tuple[tuple[str, Any], ...]
    frame_size: tuple[int, int] | None
    gif_scale: float


@dataclass
class _ChunkResult:
    video: list[np.ndarray]
    gif: list[Any]
    files: dict[int, str]


_worker_composition: Composition | None = None


def _init_worker(layout: Layout, replay: Replay, layout_kwargs: dict[str, Any]) -> None:
    """Build this worker's own figure once (the layout is frozen, as in the parent)."""
    global _worker_composition
    _worker_composition = layout(replay, **layout_kwargs)


def _render_chunk(chunk: _Chunk, comp: Composition | None = None,
                  video_sink: Callable[[np.ndarray], Any] | None = None) -> _ChunkResult:
    """Draw the chunk's epochs (blitted) and turn each into what the chunk asks for.

    ``video_sink`` (rendering in this process): takes each video frame as it is drawn, a
    live view of the canvas as :meth:`Composition.animate` sends it to ffmpeg, instead of a
    copy kept in the result (a 1200x600 frame is 2.9 MB: 200 of them would be held at once).
    """
    from PIL import Image

    comp = comp or _worker_composition
    if comp is None:  # pragma: no cover - a worker whose initializer failed never gets here
        raise PipelineError("render worker has no composition")
    result = _ChunkResult([], [], {})
    options = dict(chunk.frame_options)
    for epoch, rgba in comp._iter_rgba(chunk.epochs):
        if epoch in chunk.video:
            if video_sink is not None:
                video_sink(_even(rgba))
            else:
                result.video.append(np.array(_even(rgba)))  # a copy: the buffer is reused
        if epoch in chunk.gif:
            result.gif.append(_gif_frame(rgba, chunk.gif_scale))
        if epoch in chunk.frames and chunk.frames_dir is not None:
            img = _rgb_image(rgba)
            if chunk.frame_size is not None:
                img = img.resize(chunk.frame_size, Image.Resampling.LANCZOS)
            name = f"epoch_{epoch:04d}.{chunk.frame_format}"
            img.save(Path(chunk.frames_dir) / name, format=_FRAME_FORMATS[chunk.frame_format],
                     **options)
            result.files[epoch] = name
    return result


def _chunks(epochs: Sequence[int], parts: int) -> list[tuple[int, ...]]:
    """``epochs`` in ``parts`` contiguous slices of nearly equal length (none empty)."""
    parts = max(1, min(parts, len(epochs)))
    bounds = np.linspace(0, len(epochs), parts + 1).round().astype(int)
    return [tuple(epochs[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def render_outputs(
    layout: Layout,
    replay: Replay,
    *,
    layout_kwargs: dict[str, Any] | None = None,
    mp4_path: str | os.PathLike[str] | None = None,
    gif_path: str | os.PathLike[str] | None = None,
    frames_dir: str | os.PathLike[str] | None = None,
    epochs: Iterable[int] | None = None,
    frame_epochs: Iterable[int] | None = None,
    fps: float = 20,
    gif_scale: float = 0.5,
    gif_max_frames: int = 60,
    crf: int = 23,
    preset: str = "medium",
    frame_format: str = "jpg",
    max_frames: int | None = 100,
    quality: int = 85,
    scale: float = 1.0,
    webp_method: int = 2,
    workers: int | None = None,
    composition: Composition | None = None,
) -> dict[str, Any]:
    """The MP4/GIF of :meth:`Composition.animate` and the frames of :meth:`Composition.frames`.

    Arguments mean what they mean there (``epochs``/``fps``/``gif_*``/``crf``/``preset`` for
    the animation; ``frame_epochs``/``frame_format``/``max_frames``/``quality``/``scale``/
    ``webp_method`` for the frames), and the files are the same; each epoch is drawn once.
    ``composition``: an existing ``layout(replay, **layout_kwargs)`` to use when rendering
    in this process (saves building the figure again). Returns the paths, the epochs and
    the seconds, and ``workers``.
    """
    if mp4_path is None and gif_path is None and frames_dir is None:
        raise PipelineError("render_outputs: give mp4_path, gif_path, frames_dir or several")
    layout_kwargs = dict(layout_kwargs or {})
    fmt = frame_format.lower().lstrip(".")
    if frames_dir is not None and fmt not in _FRAME_FORMATS:
        raise PipelineError(
            f"render_outputs(frame_format={frame_format!r}): use one of "
            f"{sorted(set(_FRAME_FORMATS) - {'jpeg'})}"
        )
    start = time.perf_counter()
    animated = mp4_path is not None or gif_path is not None
    chosen = select_epochs(replay.epochs, epochs) if animated else []
    video = set(chosen) if mp4_path is not None else set()
    gif = set(select_epochs(chosen, None, gif_max_frames)) if gif_path is not None else set()
    framed = (select_epochs(replay.epochs, frame_epochs, max_frames)
              if frames_dir is not None else [])
    needed = sorted(video | gif | set(framed))
    count = render_workers(len(needed), workers)

    options: dict[str, Any] = {}
    if fmt in {"jpg", "jpeg", "webp"}:
        options["quality"] = quality
    if fmt == "webp":
        options["method"] = webp_method

    with contextlib.ExitStack() as stack:
        comp = composition
        if comp is None and count == 1:
            comp = layout(replay, **layout_kwargs)
        width, height = _size(comp, layout, replay, layout_kwargs)
        frame_size = None
        if scale != 1.0:
            frame_size = (max(1, round(width * scale)), max(1, round(height * scale)))
        frames_tmp = stack.enter_context(atomic_directory(frames_dir)) if frames_dir else None
        writer = (mp4_writer(stack, mp4_path, width, height, fps, crf, preset)
                  if video and mp4_path is not None else None)  # video is empty without mp4_path
        tasks = [
            _Chunk(part, frozenset(video & set(part)), frozenset(gif & set(part)),
                   frozenset(set(framed) & set(part)), str(frames_tmp) if frames_tmp else None,
                   fmt, tuple(options.items()), frame_size, gif_scale)
            for part in _chunks(needed, count * (CHUNKS_PER_WORKER if count > 1 else 1))
        ]
        if count == 1:  # video frames go to ffmpeg as they are drawn, without a copy
            sink = writer.send if writer is not None else None
            results: Iterable[_ChunkResult] = (_render_chunk(t, comp, sink) for t in tasks)
        else:
            pool = stack.enter_context(ProcessPoolExecutor(
                max_workers=count, mp_context=get_context("spawn"), initializer=_init_worker,
                initargs=(layout, replay, layout_kwargs)))
            results = pool.map(_render_chunk, tasks)
        gif_frames: list[Any] = []
        files: dict[int, str] = {}
        for result in results:  # in epoch order
            if writer is not None:
                for frame in result.video:
                    writer.send(frame)
            gif_frames.extend(result.gif)
            files.update(result.files)
        if frames_tmp is not None:
            size = frame_size or (width, height)
            palette = comp.palette if comp is not None else layout_kwargs.get("palette", "light")
            index = {"epochs": framed, "files": [files[e] for e in framed], "width": size[0],
                     "height": size[1], "format": fmt, "palette": palette,
                     "metrics": frame_metrics(replay, framed)}
            (frames_tmp / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    out: dict[str, Any] = {"epochs": chosen, "fps": fps, "frame_epochs": framed,
                           "workers": count}
    if mp4_path is not None:
        out["mp4"] = Path(mp4_path)
    if gif_path is not None:
        duration_ms = max(20, int(round(1000 * len(chosen) / fps / max(len(gif_frames), 1))))
        final = Path(gif_path)
        with atomic_path(final) as tmp:
            gif_frames[0].save(tmp, format="GIF", save_all=True, append_images=gif_frames[1:],
                               duration=duration_ms, loop=0, disposal=1)
        out["gif"] = final
    if frames_dir is not None:
        out["frames"] = Path(frames_dir) / "index.json"
    out["seconds"] = time.perf_counter() - start
    log.info("rendered %d epochs in %.1f s with %d process(es)", len(needed), out["seconds"],
             count)
    return out


def _size(comp: Composition | None, layout: Layout, replay: Replay,
          layout_kwargs: dict[str, Any]) -> tuple[int, int]:
    """The figure's pixel size (from the given composition, or a throwaway one)."""
    if comp is None:
        comp = layout(replay, **layout_kwargs)
    return comp.width, comp.height


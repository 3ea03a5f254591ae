"""``publish_replay(ex, recorder)``: one call from a recorded training run to the page's files.

Why one call: every replay page needs the same set of files, registered with alt text: the
data the page draws the replay from, live, at every epoch (a JSON index and a binary file,
:mod:`pipeline.library.replay.browser_data`), a still of the last epoch and a poster (both
palettes; for readers without JavaScript and for social cards), an MP4 to download, and the
replay file itself (numpy ``.npz``) so anyone can check the pictures against the model. Writing
them by hand took 40 lines of a recipe and knowledge of the composer, the renderer and the
palettes; an author bringing a ``model.fit`` script should need none of it.

What it calls: :func:`~pipeline.library.replay.layouts.default_layout` (or the layout given),
:func:`~pipeline.library.replay.browser_data.write_replay_data` (the page's data, within its
size cap: a build error says what to thin) and
:func:`~pipeline.library.replay.parallel_render.render_in_background` (the MP4 in a forked
process while the dark still and poster are drawn here). The replay file is kept within
``max_file_epochs`` epochs and ``file_budget_mb`` (thinned, with a log line, when larger;
an error naming what to thin when even two epochs are over it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.library.errors import PipelineError
from pipeline.library.replay.store import Replay

log = logging.getLogger(__name__)

__all__ = ["PublishedReplay", "publish_replay"]

#: Epochs kept in the published replay file; its size budget, in MB (10**6 bytes).
DEFAULT_FILE_EPOCHS = 50
DEFAULT_FILE_BUDGET_MB = 5.0
MB = 1_000_000


@dataclass
class PublishedReplay:
    """The asset names :func:`publish_replay` wrote and registered (light names; the still and
    the poster have a dark twin, ``variant_name(name, "dark")``)."""

    still: str
    poster: str
    video: str | None
    #: The live replay's JSON index (``{{ replay("<name>.json") }}``); its binary file beside it.
    data: str
    replay_file: str | None
    epochs: list[int]
    panels: list[str]
    bytes: dict[str, int] = field(default_factory=dict)
    #: Where each number the page shows comes from (``derived`` or ``shipped``).
    sources: dict[str, str] = field(default_factory=dict)


def _replay_of(source: Any) -> Replay:
    """A :class:`Replay` from a recorder (its ``replay()``), a Replay, or a replay file path."""
    if isinstance(source, Replay):
        return source
    if hasattr(source, "replay") and callable(source.replay):
        return source.replay()
    if isinstance(source, str | Path):
        return Replay.load(source)
    raise PipelineError(
        f"publish_replay(ex, {type(source).__name__}): pass the ReplayRecorder given to "
        "model.fit(callbacks=[...]), a Replay, or the path of a replay file"
    )


def _default_fps(frames: int) -> float:
    """A video of about 8 seconds, at 5 to 20 frames per second."""
    return float(max(5, min(20, round(frames / 8))))


def _save_within_budget(ex: Any, replay: Replay, name: str, max_epochs: int,
                        budget_mb: float) -> tuple[str | None, int]:
    """Write the replay file with :meth:`Replay.publish`: at most ``max_epochs`` epochs, fewer
    (every k-th, the first and the last always, with a log line) while the file is over
    ``budget_mb``; returns ``(asset name, bytes)``. When even the first and the last epoch do
    not fit, :class:`~pipeline.library.errors.ReplayBudgetError` stops the build, naming what
    takes the space and what to thin (points, epochs, layers)."""
    path = ex.asset_path(name)
    replay.publish(path, budget_mb=budget_mb, max_epochs=max(2, int(max_epochs)))
    return name, path.stat().st_size


def _bytes_of(ex: Any, names: list[str]) -> int:
    total = 0
    for n in names:
        p = ex.asset_dir / n
        if p.is_dir():
            total += sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
        elif p.exists():
            total += p.stat().st_size
    return total


def publish_replay(
    ex: Any,
    recorder: Any,
    *,
    name: str = "replay",
    layout: Callable[..., Any] | None = None,
    layout_kwargs: dict[str, Any] | None = None,
    fps: float | None = None,
    video: bool = True,
    replay_file: bool = True,
    max_file_epochs: int = DEFAULT_FILE_EPOCHS,
    file_budget_mb: float = DEFAULT_FILE_BUDGET_MB,
    max_data_mb: float = 2.0,
    description: str | None = None,
) -> PublishedReplay | None:
    """Draw a recorded run and register everything a replay page shows.

    ``recorder``: the :class:`~pipeline.library.replay.ReplayRecorder` passed to
    ``model.fit(..., callbacks=[recorder])`` (or a :class:`Replay`, or a replay file's path).
    Writes, for ``name="replay"``: ``replay.json`` and ``replay.bin`` (every recorded epoch, for
    ``{{ replay("replay.json") }}``: the page draws it live; at most ``max_data_mb``, else a
    build error says what to thin), ``replay-still.png`` (the last epoch) and
    ``replay-poster.png`` in both palettes, ``replay.mp4`` (every recorded epoch, at ``fps``
    epochs per second, the page's play pace too; ``video=False`` skips it) and ``replay.npz``
    (``replay_file=False`` skips it). ``layout(replay, **layout_kwargs)`` chooses the panels
    (default :func:`~pipeline.library.replay.default_layout`, which fits binary, multiclass and
    regression models of any input width). ``description`` completes the alt texts ("the
    training of <description>"; default: the task, e.g. "a 10-class classifier").

    When the run diverged (``ex.is_diverged``) nothing is drawn and None is returned: the page
    then says so instead of showing the pictures.
    """
    from pipeline.library.palette import variant_name
    from pipeline.library.replay.browser_data import write_replay_data
    from pipeline.library.replay.layouts import default_layout
    from pipeline.library.replay.parallel_render import render_in_background
    from pipeline.library.replay.task import infer_task

    replay = _replay_of(recorder)
    if ex.is_diverged:
        log.warning("training diverged: publish_replay draws nothing (the page says why)")
        return None
    if layout is None or layout is default_layout:  # what it cannot draw is said on the page
        from pipeline.library.replay.layouts import default_layout_notes

        for note in default_layout_notes(replay, layer=(layout_kwargs or {}).get("layer")):
            ex.note(note)
    layout = layout or default_layout
    layout_kwargs = dict(layout_kwargs or {})
    epochs = [int(e) for e in replay.epochs]
    last = epochs[-1]
    fps = float(fps) if fps is not None else _default_fps(len(epochs))
    names = {"still": f"{name}-still.png", "poster": f"{name}-poster.png",
             "video": f"{name}.mp4", "data": f"{name}.json"}
    dark = {key: variant_name(names[key], "dark") for key in ("still", "poster")}

    with ex.timer("render"):
        comp = layout(replay, **layout_kwargs)
        panels = [type(panel).__name__ for panel, _ in comp.panels]
        data = write_replay_data(ex.asset_path(names["data"]), replay, comp, fps=fps,
                                 max_bytes=int(max_data_mb * MB))
        comp.still(last, ex.asset_path(names["still"]))
        comp.poster(ex.asset_path(names["poster"]))
        job = (render_in_background(None, replay, composition=comp, fps=fps, preset="veryfast",
                                    mp4_path=ex.asset_path(names["video"])) if video else None)
        comp.set_palette("dark")  # the still and the poster follow the reader's palette
        comp.still(last, ex.asset_path(dark["still"]))
        comp.poster(ex.asset_path(dark["poster"]))
        if job is not None:
            job.result()
    what = description or infer_task(replay).describe()
    shown = ", ".join(panels)
    ex.add_output(names["still"], kind="image", dark=dark["still"],
                  alt=f"The training of {what} after its last epoch ({last}): {shown}")
    ex.add_output(names["poster"], kind="image", dark=dark["poster"],
                  alt=f"The training of {what} at epoch {last}")
    extra: dict[str, Any] = {}
    if video:
        ex.add_output(names["video"], kind="video", poster=names["poster"],
                      alt=f"Video of {len(epochs)} recorded epochs (0 to {last}) of the training "
                          f"of {what}: {shown}")
        extra["video"] = names["video"]
    ex.add_output(names["data"], kind="live-replay", poster=names["poster"],
                  alt=f"The training of {what}, all {len(epochs)} recorded epochs (0 to {last}), "
                      f"drawn by the page: {shown}", **extra)
    file_name: str | None = None
    file_bytes = 0
    if replay_file:
        file_name, file_bytes = _save_within_budget(ex, replay, f"{name}.npz", max_file_epochs,
                                                    file_budget_mb)
        if file_name is not None:
            ex.add_output(file_name, kind="replay",
                          alt=f"The recorded training of {what} (numpy .npz replay file)")
    sizes = {
        "data": data.total_bytes,
        "still": _bytes_of(ex, [names["still"], dark["still"]]),
        "poster": _bytes_of(ex, [names["poster"], dark["poster"]]),
        "video": _bytes_of(ex, [names["video"]]) if video else 0,
        "replay_file": file_bytes,
    }
    log.info("publish_replay %s: %s", name, ", ".join(f"{k} {v / MB:.2f} MB"
                                                     for k, v in sizes.items()))
    return PublishedReplay(
        still=names["still"], poster=names["poster"], video=names["video"] if video else None,
        data=names["data"], replay_file=file_name, epochs=epochs, panels=panels, bytes=sizes,
        sources=dict(data.sources),
    )

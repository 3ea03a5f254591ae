"""``publish_replay(ex, recorder)``: one call from a recorded training run to the page's files.

Why one call: every replay page needs the same set of files, in both palettes, registered with
alt text: a still of the last epoch (for readers without JavaScript and for social cards), a
poster, an MP4 to play or download, the frames the page's epoch scrubber moves through, and the
replay file itself (numpy ``.npz``) so anyone can check the pictures against the model. Writing
them by hand took 40 lines of a recipe and knowledge of the composer, the parallel renderer and
the palettes; an author bringing a ``model.fit`` script should need none of it.

What it calls: :func:`~pipeline.library.replay.layouts.default_layout` (or the layout given),
:func:`~pipeline.library.palette.render_palettes` (the dark palette drawn in a forked process
beside the light one) and :func:`~pipeline.library.replay.parallel_render.render_outputs` (the
MP4 and the scrubber frames in one pass over the epochs). Budgets keep a page within what
GitHub Pages serves comfortably: at most ``max_frames`` scrubber frames, and a replay file of at
most ``max_file_epochs`` epochs and ``file_budget_mb`` (thinned, with a log line, when larger;
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

#: Scrubber frames per palette (each a WebP of the whole figure, 20-60 kB).
DEFAULT_MAX_FRAMES = 61
#: Epochs kept in the published replay file; its size budget, in MB (10**6 bytes).
DEFAULT_FILE_EPOCHS = 50
DEFAULT_FILE_BUDGET_MB = 5.0
MB = 1_000_000


@dataclass
class PublishedReplay:
    """The asset names :func:`publish_replay` wrote and registered (light names; each image,
    video and frames folder has a dark twin, ``variant_name(name, "dark")``)."""

    still: str
    poster: str
    video: str | None
    frames: str
    replay_file: str | None
    epochs: list[int]
    frame_epochs: list[int]
    panels: list[str]
    bytes: dict[str, int] = field(default_factory=dict)
    #: Files written by the browser replay data writer (see :func:`_write_browser_data`).
    browser_data: list[str] = field(default_factory=list)


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


def _write_browser_data(ex: Any, replay: Replay, name: str) -> list[str]:
    """SEAM for the page's browser replay data (a binary file plus a JSON index, drawn by the
    page's own script): its writer is being built in ``pipeline/library/replay/`` and is called
    from here once it lands, so recipes that use :func:`publish_replay` get it without a change.

    Today nothing is written here: the page's epoch scrubber shows the pre-rendered frames that
    :func:`publish_replay` writes, and the replay file (``.npz``) is the data. Returns the asset
    names written.
    """
    return []


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
    max_frames: int | None = DEFAULT_MAX_FRAMES,
    video: bool = True,
    replay_file: bool = True,
    max_file_epochs: int = DEFAULT_FILE_EPOCHS,
    file_budget_mb: float = DEFAULT_FILE_BUDGET_MB,
    description: str | None = None,
) -> PublishedReplay | None:
    """Draw a recorded run and register everything a replay page shows, in both palettes.

    ``recorder``: the :class:`~pipeline.library.replay.ReplayRecorder` passed to
    ``model.fit(..., callbacks=[recorder])`` (or a :class:`Replay`, or a replay file's path).
    Writes, for ``name="replay"``: ``replay-still.png`` (the last epoch), ``replay-poster.png``,
    ``replay.mp4`` (every recorded epoch; ``video=False`` skips it), ``replay-frames/`` (at
    most ``max_frames`` epochs, for ``{{ video("replay.mp4", scrub="replay-frames") }}`` or
    ``{{ frames("replay-frames") }}``) and ``replay.npz`` (``replay_file=False`` skips it), each
    image, video and frames folder also in the dark palette. ``layout(replay, **layout_kwargs)``
    chooses the panels (default :func:`~pipeline.library.replay.default_layout`, which fits
    binary, multiclass and regression models of any input width). ``description`` completes
    the alt texts ("the training of <description>"; default: the task, e.g. "a 10-class
    classifier").

    When the run diverged (``ex.is_diverged``) nothing is drawn and None is returned: the page
    then says so instead of showing the pictures.
    """
    from pipeline.library.palette import render_palettes, variant_name
    from pipeline.library.replay.layouts import default_layout
    from pipeline.library.replay.parallel_render import render_outputs
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
             "video": f"{name}.mp4", "frames": f"{name}-frames/index.json"}
    result: dict[str, Any] = {}

    def render(comp: Any, palette: str) -> None:
        def path(asset: str) -> Path:
            return ex.asset_path(variant_name(asset, palette))

        comp.still(last, path(names["still"]))
        comp.poster(path(names["poster"]))
        out = render_outputs(layout, replay, layout_kwargs=layout_kwargs, composition=comp,
                             workers=1, mp4_path=path(names["video"]) if video else None,
                             fps=fps, preset="veryfast",
                             frames_dir=path(names["frames"]).parent, frame_format="webp",
                             quality=80, max_frames=max_frames)
        result.update(out)

    with ex.timer("render"):
        comp = layout(replay, **layout_kwargs)
        panels = [type(panel).__name__ for panel, _ in comp.panels]
        render_palettes(comp, render)
    frame_epochs = [int(e) for e in result.get("frame_epochs", [])]
    what = description or infer_task(replay).describe()
    shown = ", ".join(panels)
    dark = {key: variant_name(value, "dark") for key, value in names.items()}
    ex.add_output(names["still"], kind="image", dark=dark["still"],
                  alt=f"The training of {what} after its last epoch ({last}): {shown}")
    ex.add_output(names["poster"], kind="image", dark=dark["poster"],
                  alt=f"The training of {what} at epoch {last}")
    if video:
        ex.add_output(names["video"], kind="video", poster=names["poster"], dark=dark["video"],
                      alt=f"Video of {len(epochs)} recorded epochs (0 to {last}) of the training "
                          f"of {what}: {shown}")
    ex.add_output(names["frames"], kind="frames", dark=dark["frames"],
                  alt=f"The training of {what}, one frame for each of {len(frame_epochs)} "
                      f"epochs from 0 to {last}, for the page's epoch scrubber: {shown}")
    file_name: str | None = None
    file_bytes = 0
    if replay_file:
        file_name, file_bytes = _save_within_budget(ex, replay, f"{name}.npz", max_file_epochs,
                                                    file_budget_mb)
        if file_name is not None:
            ex.add_output(file_name, kind="replay",
                          alt=f"The recorded training of {what} (numpy .npz replay file)")
    browser = _write_browser_data(ex, replay, name)
    frames_dir = str(Path(names["frames"]).parent)
    sizes = {
        "still": _bytes_of(ex, [names["still"], dark["still"]]),
        "poster": _bytes_of(ex, [names["poster"], dark["poster"]]),
        "video": _bytes_of(ex, [names["video"], dark["video"]]) if video else 0,
        "frames": _bytes_of(ex, [frames_dir, str(Path(dark["frames"]).parent)]),
        "replay_file": file_bytes,
    }
    log.info("publish_replay %s: %s", name, ", ".join(f"{k} {v / MB:.2f} MB"
                                                     for k, v in sizes.items()))
    return PublishedReplay(
        still=names["still"], poster=names["poster"], video=names["video"] if video else None,
        frames=frames_dir, replay_file=file_name, epochs=epochs, frame_epochs=frame_epochs,
        panels=panels, bytes=sizes, browser_data=browser,
    )

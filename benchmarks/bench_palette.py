"""Benchmark: drawing both palettes must not double the seed-000 explainer's render bill.

Run ``python -m benchmarks.bench_palette`` (``--epochs 50`` for a quick run). One process, side
by side, on the same recorded replay:

- ``single``: the seed-000 explainer's full-profile pictures in one palette: train 200 epochs
  with the recorder, then render the still, the poster and the MP4 + GIF of every epoch;
- ``both``: the same training, then the light palette's files and the dark palette's still and
  poster (as the recipe draws them: the video and the GIF are downloads in one palette, and
  the page draws the replay itself in the reader's palette) through
  :func:`pipeline.library.palette.render_palettes` (the dark one in a forked process).

The target (issue 15): ``both`` takes at most 1.2x ``single``. The training is run once and its
time added to both totals (it is the same work). On a shared machine timings vary by 10-20 %;
compare the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_RATIO = 1.2


def _render(comp: Any, out: Path, palette: str, still_epoch: int) -> None:
    from pipeline.library.palette import variant_name

    def v(name: str) -> Path:
        path = out / variant_name(name, palette)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    from pipeline.library.replay.parallel_render import render_outputs

    comp.still(still_epoch, v("still.png"))
    comp.poster(v("poster.png"))
    if palette == "light":
        render_outputs(None, comp.replay, composition=comp, mp4_path=v("replay.mp4"),
                       gif_path=v("replay.gif"), fps=20, preset="veryfast")


def bench_palettes(epochs: int = 200, parallel: bool | None = None) -> dict[str, Any]:
    """Seconds for training, a one-palette render and a two-palette render; the ratio."""
    from benchmarks.bench_replay import moons_data, seed000_model
    from pipeline.library.explainers.seed000 import seed000_layout
    from pipeline.library.palette import render_palettes
    from pipeline.library.replay import ReplayRecorder
    from pipeline.library.training import fit_fast

    x, y = moons_data()
    model = seed000_model(0)
    recorder = ReplayRecorder(x, y, layers=["hidden"])
    t = time.perf_counter()
    fit_fast(model, x, y, epochs=epochs, batch_size=16, seed=0, callbacks=[recorder])
    train = time.perf_counter() - t
    replay = recorder.replay()
    still = min(160, int(replay.epochs[-1]))
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        comp = seed000_layout(replay)
        _render(comp, Path(tmp) / "single", "light", still)
        single = time.perf_counter() - t
        t = time.perf_counter()
        comp = seed000_layout(replay)
        parts = render_palettes(comp, lambda c, p: _render(c, Path(tmp) / "both", p, still),
                                parallel=parallel)
        both = time.perf_counter() - t
    ratio = (train + both) / (train + single)
    return {"epochs": epochs, "train_s": round(train, 2), "render_single_s": round(single, 2),
            "render_both_s": round(both, 2), "render_light_s": round(parts["light"], 2),
            "render_dark_s": round(parts["dark"], 2),
            "explainer_ratio": round(ratio, 3), "render_ratio": round(both / single, 3),
            "target_ratio": TARGET_RATIO, "ok": ratio <= TARGET_RATIO}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--sequential", action="store_true", help="draw the palettes one after the other")
    args = parser.parse_args(argv)
    result = bench_palettes(args.epochs, parallel=False if args.sequential else None)
    print(json.dumps(result, indent=1))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""The replay(...) shortcode: a live replay, its fallback, its downloads and its table."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pipeline.site.pages import PageContext, expand_shortcodes


def _index(epochs: list[int], loss: list[float | None]) -> dict:
    return {"format": "nnx-replay-data", "version": 1, "bin": "r.bin", "bytes": 8,
            "epochs": epochs, "metrics": {"probe_loss": loss, "probe_accuracy": [0.5] * len(epochs),
                                          "loss": [None] * len(epochs)},
            "panels": [{"kind": "curves", "metrics": ["probe_loss", "probe_accuracy"],
                        "labels": ["loss", "accuracy"]}]}


def _ctx(tmp_path: Path, outputs: list[dict], files: dict[str, object]) -> PageContext:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content) if isinstance(content, dict) else str(content))
    return PageContext(
        slug="demo", manifest={"outputs": outputs}, state={},
        url_for=lambda n: f"../assets/demo/{n}" if (tmp_path / n).exists() else None,
        path_for=lambda n: str(tmp_path / n) if (tmp_path / n).exists() else None)


OUTPUTS = [
    {"name": "poster.png", "kind": "image", "alt": "Poster", "extra": {"dark": "poster.dark.png"}},
    {"name": "replay.mp4", "kind": "video", "alt": "The video", "poster": "poster.png"},
    {"name": "replay.gif", "kind": "gif", "alt": "The GIF", "poster": "poster.png"},
    {"name": "replay.json", "kind": "live-replay", "alt": "The replay, drawn by the page",
     "poster": "poster.png", "extra": {"video": "replay.mp4", "gif": "replay.gif"}},
    {"name": "other.json", "kind": "live-replay", "alt": "Another run", "poster": "poster.png"},
]
FILES = {"poster.png": "x", "poster.dark.png": "x", "replay.mp4": "x", "replay.gif": "x",
         "r.bin": "01234567", "replay.json": _index([0, 1, 2], [0.7, 0.4, None]),
         "other.json": _index([0, 2], [0.9, 0.8])}


def test_one_run_is_a_live_figure_with_the_video_behind_it(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, OUTPUTS, FILES)
    out = expand_shortcodes('{{ replay("replay.json", caption="All epochs") }}', ctx)
    assert not ctx.warnings, ctx.warnings
    assert out.startswith('<figure class="nnx-replay" data-nnx-autoplay="true" role="group" '
                          'aria-label="All epochs">')
    assert 'data-nnx-replay="../assets/demo/replay.json"' in out
    # a placeholder of the poster's size until the page draws the replay; readers without
    # JavaScript get the poster and the video, readers whose data fails the same, palette-aware
    assert '<div class="nnx-replay-placeholder">' in out  # no poster file here: no size known
    noscript = re.search(r"<noscript>(.*?)</noscript>", out).group(1)
    assert 'poster="../assets/demo/poster.png"' in noscript
    assert 'src="../assets/demo/replay.mp4"' in noscript
    template = re.search(r'<template class="nnx-replay-fallback">(.*?)</template>', out).group(1)
    assert 'data-nnx-poster-light="../assets/demo/poster.png"' in template
    assert 'data-nnx-poster-dark="../assets/demo/poster.dark.png"' in template
    assert " poster=" not in template  # nothing is fetched unless the script shows it
    assert re.search(r'<p class="nnx-replay-downloads">Download: <a href="../assets/demo/replay.mp4"'
                     r' download>video \(MP4\)</a> · <a href="../assets/demo/replay.gif" '
                     r'download>GIF</a></p>', out)
    # the numbers per epoch, a table with row headers (the missing loss stays empty)
    assert '<th scope="col">loss</th><th scope="col">accuracy</th>' in out
    assert '<tr><th scope="row">1</th><td>0.4</td><td>0.5</td></tr>' in out
    assert '<tr><th scope="row">2</th><td></td><td>0.5</td></tr>' in out
    assert "\n\n" not in out  # one raw-HTML block for Markdown


def test_runs_side_by_side_share_one_figure_and_one_table(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, OUTPUTS, FILES)
    out = expand_shortcodes('{{ replay(["replay.json", "other.json"], labels=["good", "stuck"], '
                            'autoplay=False) }}', ctx)
    assert not ctx.warnings, ctx.warnings
    assert 'class="nnx-replay nnx-replay-compare" data-nnx-autoplay="false"' in out
    assert out.count('class="nnx-replay-run"') == 2
    assert 'data-nnx-label="good"' in out and 'data-nnx-label="stuck"' in out
    # the second run has no video: its poster is its fallback, palette-aware
    assert 'data-nnx-light="../assets/demo/poster.png" data-nnx-dark="../assets/demo/poster.dark.png"' in out
    assert '<th scope="col">good: loss</th>' in out and '<th scope="col">stuck: accuracy</th>' in out
    assert '<tr><th scope="row">1</th><td>0.4</td><td>0.5</td><td></td><td></td></tr>' in out
    assert 'aria-label="The replay, drawn by the page"' in out  # the first run's alt text


def test_bad_uses_are_named(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, OUTPUTS, {**FILES, "bad.json": {"format": "something"},
                                   "nobin.json": {**_index([0], [1.0]), "bin": "gone.bin"}})
    for call, words in (
        ('replay("replay.mp4")', "needs the .json index"),
        ('replay(["replay.json", "other.json"], labels=["one"])', "2 runs but 1 labels"),
        ('replay("bad.json")', "not a replay data index"),
        ('replay("nobin.json")', "binary file 'gone.bin' is missing"),
        ('replay("missing.json")', "missing.json"),
        ('replay("replay.json", autoplai=False)', "Did you mean 'autoplay'"),
    ):
        ctx.warnings.clear()
        out = expand_shortcodes("{{ " + call + " }}", ctx)
        assert any(words in w for w in ctx.warnings), (call, ctx.warnings)
        assert "nnx-missing" in out or "data-nnx-replay" not in out

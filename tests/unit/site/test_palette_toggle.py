"""Shortcodes for pictures with light and dark versions, and runs side by side."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.site.pages import PageContext, expand_shortcodes


def _ctx(tmp_path: Path, outputs: list[dict], files: list[str]) -> PageContext:
    for name in files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("index.json"):
            path.write_text(json.dumps({"epochs": [0, 5], "files": ["e0.png", "e5.png"],
                                        "width": 40, "height": 20}))
        else:
            path.write_bytes(b"x")
    return PageContext(
        slug="demo", manifest={"outputs": outputs}, state={},
        url_for=lambda n: f"../assets/demo/{n}" if (tmp_path / n).exists() else None,
        path_for=lambda n: str(tmp_path / n) if (tmp_path / n).exists() else None)


def test_figure_with_a_dark_version_names_both_and_loads_neither(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, [{"name": "a.png", "kind": "image", "alt": "A plot", "extra": {"dark": "a.dark.png"}}],
               ["a.png", "a.dark.png"])
    out = expand_shortcodes('{{ figure("a.png") }}', ctx)
    img = re.search(r"<img [^>]*>", out).group(0)
    assert 'data-nnx-light="../assets/demo/a.png"' in img
    assert 'data-nnx-dark="../assets/demo/a.dark.png"' in img
    assert " src=" not in img and 'loading="lazy"' in img and 'alt="A plot"' in img
    assert '<noscript><img src="../assets/demo/a.png"' in out  # without JavaScript: light
    assert not ctx.warnings


def test_figure_without_a_dark_version_is_a_plain_lazy_image(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, [{"name": "a.png", "kind": "image", "alt": "A plot"}], ["a.png"])
    out = expand_shortcodes('{{ figure("a.png") }}', ctx)
    assert '<img src="../assets/demo/a.png" alt="A plot" loading="lazy"' in out
    assert "data-nnx" not in out


def test_gif_names_its_still_for_reduced_motion(tmp_path: Path) -> None:
    outputs = [{"name": "p.png", "kind": "image", "alt": "P", "extra": {"dark": "p.dark.png"}},
               {"name": "a.gif", "kind": "gif", "alt": "Anim", "poster": "p.png",
                "extra": {"dark": "a.dark.gif"}}]
    ctx = _ctx(tmp_path, outputs, ["p.png", "p.dark.png", "a.gif", "a.dark.gif"])
    out = expand_shortcodes('{{ figure("a.gif") }}', ctx)
    assert 'data-nnx-still-light="../assets/demo/p.png"' in out
    assert 'data-nnx-still-dark="../assets/demo/p.dark.png"' in out


def test_video_with_a_dark_version_has_no_url_until_the_script_picks_one(tmp_path: Path) -> None:
    outputs = [{"name": "p.png", "kind": "image", "alt": "P", "extra": {"dark": "p.dark.png"}},
               {"name": "v.mp4", "kind": "video", "alt": "Vid", "poster": "p.png",
                "extra": {"dark": "v.dark.mp4"}},
               {"name": "fr/index.json", "kind": "frames", "alt": "F",
                "extra": {"dark": "fr.dark/index.json"}}]
    ctx = _ctx(tmp_path, outputs, ["p.png", "p.dark.png", "v.mp4", "v.dark.mp4", "fr/index.json",
                                   "fr.dark/index.json"])
    out = expand_shortcodes('{{ video("v.mp4", scrub="fr") }}', ctx)
    live = out.split("<noscript>")[0]
    assert "poster=" not in live and " src=" not in live
    assert 'data-nnx-poster-dark="../assets/demo/p.dark.png"' in live
    assert '<source data-nnx-light="../assets/demo/v.mp4" data-nnx-dark="../assets/demo/v.dark.mp4"' in live
    assert 'data-nnx-frames-dark="../assets/demo/fr.dark/index.json"' in live
    assert 'poster="../assets/demo/p.png"' in out.split("<noscript>")[1]


def test_compare_lays_out_each_run_with_its_label(tmp_path: Path) -> None:
    outputs = [{"name": f"{r}/index.json", "kind": "frames", "alt": f"Run {r}",
                "extra": {"dark": f"{r}.dark/index.json"}} for r in ("a", "b")]
    ctx = _ctx(tmp_path, outputs, ["a/index.json", "a/e5.png", "a.dark/index.json", "a.dark/e5.png",
                                   "b/index.json", "b/e5.png", "b.dark/index.json", "b.dark/e5.png"])
    out = expand_shortcodes('{{ compare(["a", "b"], labels=["seed 0", "seed 42"], caption="Two") }}', ctx)
    assert not ctx.warnings, ctx.warnings
    assert out.count('class="nnx-video nnx-compare-run"') == 2
    assert 'data-nnx-frames="../assets/demo/a/index.json"' in out
    assert 'data-nnx-frames-dark="../assets/demo/b.dark/index.json"' in out
    assert 'data-nnx-light="../assets/demo/a/e5.png" data-nnx-dark="../assets/demo/a.dark/e5.png"' in out
    assert 'alt="seed 42: Run b (epoch 5)"' in out and 'width="40" height="20"' in out
    assert '<figcaption>seed 0</figcaption>' in out and 'aria-label="Two"' in out


@pytest.mark.parametrize("call, message", [
    ('compare(["a"])', "two or more frames folders"),
    ('compare(["a", "b"], labels=["only one"])', "2 runs but 1 labels"),
    ('compare(["a", "zzz"])', "'zzz/index.json' is not among the outputs"),
])
def test_compare_errors_say_what_to_do(tmp_path: Path, call: str, message: str) -> None:
    outputs = [{"name": f"{r}/index.json", "kind": "frames", "alt": r} for r in ("a", "b")]
    ctx = _ctx(tmp_path, outputs, ["a/index.json", "a/e5.png", "b/index.json", "b/e5.png"])
    out = expand_shortcodes("{{ " + call + " }}", ctx)
    assert "nnx-missing" in out
    assert any(message in w for w in ctx.warnings), ctx.warnings


def test_frames_shortcode_is_one_scrubbable_figure(tmp_path: Path) -> None:
    outputs = [{"name": "ig/index.json", "kind": "frames", "alt": "Attributions",
                "extra": {"dark": "ig.dark/index.json"}}]
    ctx = _ctx(tmp_path, outputs, ["ig/index.json", "ig/e5.png", "ig.dark/index.json", "ig.dark/e5.png"])
    out = expand_shortcodes('{{ frames("ig", caption="Over training") }}', ctx)
    assert not ctx.warnings, ctx.warnings
    assert out.startswith('<figure class="nnx-video nnx-frames-figure" data-nnx-frames="../assets/demo/ig/index.json"')
    assert 'alt="Attributions (epoch 5)"' in out and "<figcaption>Over training</figcaption>" in out

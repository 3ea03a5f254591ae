"""The built site in real Chromium: loads cleanly, stays offline, scrubs, is accessible.

A fixture site is built once per session from two tiny TensorFlow-free recipes (a figure recipe
and a fake "replay" recipe that writes two MP4s, posters and two scrubber frame folders), served
from 127.0.0.1 and visited once per page; every check is a function in tests/browser_support.py
that returns a list of problems. The "broken" tests show each check failing on a deliberately
broken copy of the site. When ``nox -s build`` has made ``site/``, five crawls of it (one per
viewport, palettes alternating) run the same checks plus first-load budgets and palette checks:
``test_real_site`` and ``test_real_site_first_load_within_budget_at_any_viewport``.

Run: ``.venv/bin/python -m pytest tests/browser/test_browser.py -m browser -o addopts="" -p no:cacheprovider``
Screenshots go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser_support import (
    FIRST_LOAD_BUDGET,
    PageVisit,
    StaticServer,
    UrlChecker,
    axe_problems,
    console_problems,
    ensure_axe,
    external_request_problems,
    http_problems,
    link_problems,
    live_replay_problems,
    media_problems,
    open_page,
    resource_problems,
    reveal_deferred,
    scrubber_problems,
    site_pages,
)
from tests.conftest import REPO_ROOT, MiniProject, need_module, tiny_recipe
from tests.sitebuild import build_site

pytestmark = pytest.mark.browser

SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"

INDEX = """---
title: Explainers
hide:
  - navigation
---

# Fixture gallery

{{ gallery() }}
"""

REPLAY_RECIPE = textwrap.dedent('''\
    # ---
    # explainer:
    #   title: Replay fixture
    #   description: Two scrubbable panels and an embedded page, drawn with numpy and matplotlib.
    #   seed_article: "000 (test fixture)"
    #   datasets: []
    #   thumbnail: poster-a.png
    #   order: 1
    #   profiles:
    #     quick: {epochs: 6}
    #     full: {epochs: 6}
    # ---

    # %% [markdown]
    # A fake replay: the frames show a loss curve with a marker at the epoch.

    # %% tags=["parameters"]
    profile = "quick"
    seed = 0
    asset_dir = "_assets"
    data_dir = None
    sizes = {"epochs": 6}

    # %%
    import json

    import imageio.v2 as imageio
    import matplotlib.pyplot as plt
    import numpy as np

    from pipeline.library.runtime import Explainer

    ex = Explainer(asset_dir=asset_dir, profile=profile, seed=seed, data_dir=data_dir, sizes=sizes)
    ex.use_data({"dataset": "parabola", "origin": "generated", "n_train": 32, "n_test": None,
                 "description": "32 points of a parabola", "subset": False, "location": "",
                 "stand_in": "the article never defines its data"})
    epochs = [2 * k for k in range(sizes["epochs"])]  # epochs 0, 2, 4, ...: label != position
    with ex.timer("train"):
        loss = 1.0 / (1.0 + np.arange(len(epochs)))

    def frame(panel, k):
        fig, ax = plt.subplots(figsize=(3.2, 1.6), dpi=100)
        color = "tab:blue" if panel == "a" else "tab:orange"
        ax.plot(epochs, loss, color=color)
        ax.plot([epochs[k]], [loss[k]], "o", color="black")
        ax.set_title(f"panel {panel}: epoch {epochs[k]}", fontsize=8)
        fig.canvas.draw()
        pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
        plt.close(fig)
        return pixels

    with ex.timer("render"):
        for panel in "ab":
            frames = [frame(panel, k) for k in range(len(epochs))]
            files = []
            for epoch, pixels in zip(epochs, frames):
                name = f"epoch_{epoch:04d}.png"
                imageio.imwrite(ex.asset_path(f"frames-{panel}/{name}"), pixels)
                files.append(name)
            index = {"epochs": epochs, "files": files, "width": 320, "height": 160}
            ex.asset_path(f"frames-{panel}/index.json").write_text(json.dumps(index))
            ex.add_output(f"frames-{panel}/index.json", kind="frames",
                          alt=f"Frames of panel {panel}, one per recorded epoch")
            with imageio.get_writer(ex.asset_path(f"replay-{panel}.mp4"), fps=4, codec="libx264",
                                    macro_block_size=8, ffmpeg_log_level="error",
                                    ffmpeg_params=["-movflags", "+faststart"]) as writer:
                for pixels in frames:
                    writer.append_data(pixels)
            imageio.imwrite(ex.asset_path(f"poster-{panel}.png"), frames[-1])
            ex.add_output(f"poster-{panel}.png", kind="image",
                          alt=f"Panel {panel}: the loss curve with the last epoch marked")
            ex.add_output(f"replay-{panel}.mp4", kind="video", poster=f"poster-{panel}.png",
                          alt=f"Panel {panel}: a marker moves along the falling loss curve")
    ex.save_text("widget.html", "<!doctype html><html lang=en><head><title>Widget</title></head>"
                 "<body><p>An embedded page.</p></body></html>", kind="iframe",
                 alt="A tiny embedded page")
    ex.metric("final_loss", float(loss[-1]))

    # %%
    ex.finish()
    ''')

REPLAY_PAGE = """# Replay fixture

Both panels below move together when the scrubber moves.

{{ notebook_link() }}

{{ video("replay-a.mp4", caption="Panel A", scrub="frames-a") }}

Some prose between the panels.

{{ video("replay-b.mp4", caption="Panel B", scrub="frames-b") }}

{{ iframe("widget.html", height=120, title="A tiny embedded page") }}

The final loss was {{ metric("final_loss", ".3f") }}.
"""

PALETTE_RECIPE = textwrap.dedent('''\
    # ---
    # explainer:
    #   title: Palette fixture
    #   description: Light and dark versions of a figure, a video, a GIF and two runs side by side.
    #   seed_article: "000 (test fixture)"
    #   datasets: []
    #   order: 2
    #   thumbnail: anim-poster.png
    #   profiles:
    #     quick: {epochs: 5}
    #     full: {epochs: 5}
    # ---

    # %% tags=["parameters"]
    profile = "quick"
    seed = 0
    asset_dir = "_assets"
    data_dir = None
    sizes = {"epochs": 5}

    # %%
    import json

    import imageio.v2 as imageio
    import matplotlib.pyplot as plt
    import numpy as np

    from pipeline.library.palette import restyle_figure, variant_name
    from pipeline.library.runtime import Explainer

    ex = Explainer(asset_dir=asset_dir, profile=profile, seed=seed, data_dir=data_dir, sizes=sizes)
    ex.use_data({"dataset": "ramp", "origin": "generated", "description": "a ramp"})
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.imshow(np.linspace(0, 1, 64).reshape(8, 8), cmap="viridis")
    ax.set_title("a colormapped ramp")
    ex.save_figure(fig, "heat.png", alt="A ramp of colours from dark purple to yellow")

    epochs = [3 * k for k in range(sizes["epochs"])]  # 0, 3, 6, 9, 12
    losses = {"a": 1.0 / (1.0 + np.arange(len(epochs))), "b": 1.0 - 0.1 * np.arange(len(epochs))}

    def frame(run, k, palette):
        fig, ax = plt.subplots(figsize=(3.2, 1.6), dpi=100)
        ax.plot(epochs, losses[run], color="tab:blue" if run == "a" else "tab:orange")
        ax.plot([epochs[k]], [losses[run][k]], "o", color="black")
        ax.set_ylim(0, 1.05)  # the same limits for both runs
        ax.set_title(f"run {run}: epoch {epochs[k]}", fontsize=8)
        restyle_figure(fig, palette)
        fig.canvas.draw()
        pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
        plt.close(fig)
        return pixels

    for run in "ab":
        for palette in ("light", "dark"):
            folder = variant_name(f"run-{run}/index.json", palette).rsplit("/", 1)[0]
            frames = [frame(run, k, palette) for k in range(len(epochs))]
            files = []
            for epoch, pixels in zip(epochs, frames):
                files.append(f"epoch_{epoch:04d}.png")
                imageio.imwrite(ex.asset_path(f"{folder}/{files[-1]}"), pixels)
            index = {"epochs": epochs, "files": files, "width": 320, "height": 160,
                     "metrics": {"loss": [float(v) for v in losses[run]]}}
            ex.asset_path(f"{folder}/index.json").write_text(json.dumps(index))
            if run == "a":
                with imageio.get_writer(ex.asset_path(variant_name("anim.mp4", palette)), fps=4,
                                        codec="libx264", macro_block_size=8,
                                        ffmpeg_log_level="error") as writer:
                    for pixels in frames:
                        writer.append_data(pixels)
                imageio.imwrite(ex.asset_path(variant_name("anim-poster.png", palette)), frames[-1])
                imageio.mimsave(ex.asset_path(variant_name("anim.gif", palette)), frames,
                                duration=250, loop=0)
        ex.add_output(f"run-{run}/index.json", kind="frames", dark=f"run-{run}.dark/index.json",
                      alt=f"The loss curve of run {run} with the epoch marked")
    ex.add_output("anim-poster.png", kind="image", dark="anim-poster.dark.png",
                  alt="Run a's loss curve with its last epoch marked")
    ex.add_output("anim.mp4", kind="video", poster="anim-poster.png", dark="anim.dark.mp4",
                  alt="Run a: a marker moves along the falling loss curve")
    ex.add_output("anim.gif", kind="gif", poster="anim-poster.png", dark="anim.dark.gif",
                  alt="Run a's replay as an animated GIF")
    ex.metric("final_loss_a", float(losses["a"][-1]))

    # %%
    # A figure only shown inline: the kernel adds its dark twin for the notebook page.
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(epochs, losses["a"], color="tab:blue")
    ax.set_title("shown inline, not saved")
    plt.show()

    # %%
    ex.finish()
    ''')

PALETTE_PAGE = """# Palette fixture

{{ figure("heat.png") }}

{{ video("anim.mp4", caption="Run a", scrub="run-a") }}

{{ compare(["run-a", "run-b"], labels=["run a", "run b"], caption="Two runs, one scrubber") }}

{{ figure("anim.gif") }}
"""


# A replay drawn live by the page, TensorFlow-free: a seed-000-shaped network (2 -> 4 -> 2 -> 1)
# whose weights take a seeded random walk; every recorded number is computed from them with the
# numpy forward pass, as the recorder would store it. Two runs, for the side-by-side view.
LIVE_RECIPE = textwrap.dedent('''\
    # ---
    # explainer:
    #   title: Drawn live
    #   description: A replay the page draws from its data, and two runs side by side.
    #   seed_article: "000 (test fixture)"
    #   datasets: []
    #   order: 3
    #   thumbnail: poster.png
    #   profiles:
    #     quick: {epochs: 8, points: 150}
    #     full: {epochs: 8, points: 150}
    # ---

    # %% tags=["parameters"]
    profile = "quick"
    seed = 0
    asset_dir = "_assets"
    data_dir = None
    sizes = {"epochs": 8, "points": 150}

    # %%
    import json

    import numpy as np

    from pipeline.library.explainers.seed000 import seed000_layout
    from pipeline.library.replay.browser_data import write_replay_data
    from pipeline.library.replay.forward import NumpyForward
    from pipeline.library.replay.parallel_render import render_outputs
    from pipeline.library.replay.store import FORMAT, VERSION, Replay
    from pipeline.library.runtime import Explainer

    ex = Explainer(asset_dir=asset_dir, profile=profile, seed=seed, data_dir=data_dir, sizes=sizes)
    ex.use_data({"dataset": "arcs", "origin": "generated", "n_train": sizes["points"],
                 "description": "two noisy arcs", "subset": False, "location": ""})

    def dense(name, units, act):
        return {"class_name": "Dense", "config": {"name": name, "units": units,
                                                  "activation": act, "use_bias": True}}

    CONFIG = {"class_name": "Sequential", "config": {"name": "net", "layers": [
        {"class_name": "InputLayer", "config": {"name": "input", "batch_shape": [None, 2]}},
        dense("dense", 4, "tanh"), dense("hidden", 2, "tanh"), dense("output", 1, "sigmoid")]}}
    SHAPES = {"dense/kernel": (2, 4), "dense/bias": (4,), "hidden/kernel": (4, 2),
              "hidden/bias": (2,), "output/kernel": (2, 1), "output/bias": (1,)}

    def run(walk_seed):
        rng = np.random.default_rng(walk_seed)
        n = sizes["points"]
        t = rng.uniform(0, np.pi, n)
        y = (np.arange(n) % 2).astype(np.float32)
        x = np.column_stack([np.cos(t) + y, np.sin(t) * (1 - 2 * y) + 0.5 * y])
        x = (x + rng.normal(0, 0.08, x.shape)).astype(np.float32)
        w = {k: rng.normal(0, 1.0, s).astype(np.float32) for k, s in SHAPES.items()}
        fwd = NumpyForward(CONFIG)
        series = {k: [] for k in SHAPES}
        hidden, probs, losses = [], [], []
        for e in range(sizes["epochs"] + 1):
            if e:
                w = {k: v + rng.normal(0, 0.25, v.shape).astype(np.float32) for k, v in w.items()}
            outs = fwd.outputs(w, x)
            p = outs["output"]
            q = np.clip(p[:, 0], 1e-7, 1 - 1e-7)
            losses.append((-(y * np.log(q) + (1 - y) * np.log(1 - q))).astype(np.float32))
            hidden.append(outs["hidden"])
            probs.append(p)
            for k in SHAPES:
                series[k].append(w[k])
        loss = np.asarray([float(v.mean()) for v in losses])
        acc = np.asarray([float(np.mean((p[:, 0] > 0.5) == (y > 0.5))) for p in probs])
        arrays = {"epochs": np.arange(sizes["epochs"] + 1), "probe_x": x, "probe_y": y,
                  "probabilities": np.stack(probs), "sample_loss": np.stack(losses),
                  "output/hidden": np.stack(hidden), "metric/probe_loss": loss,
                  "metric/probe_accuracy": acc}
        arrays.update({f"weight/{k}": np.stack(v) for k, v in series.items()})
        meta = {"format": FORMAT, "version": VERSION, "model_config": json.dumps(CONFIG),
                "layer_names": ["dense", "hidden", "output"], "recorded_layers": ["hidden"],
                "weight_keys": list(SHAPES), "loss": "binary_crossentropy", "from_logits": False}
        return Replay(arrays, meta)

    runs = {"replay": run(0), "other": run(1)}
    for name, replay in runs.items():
        comp = seed000_layout(replay, figsize=(8, 4), dpi=50)
        write_replay_data(ex.asset_path(f"{name}.json"), replay, comp, fps=6)
        comp.poster(ex.asset_path(f"{name}.png" if name == "other" else "poster.png"))
        replay.save(ex.asset_path(f"{name}.npz"))  # the tests compare the page with it
        if name == "replay":
            render_outputs(None, replay, composition=comp, mp4_path=ex.asset_path("replay.mp4"),
                           fps=4)
    ex.add_output("poster.png", kind="image", alt="The replay's last epoch: two arcs in the plane of the hidden layer")
    ex.add_output("other.png", kind="image", alt="The other run's last epoch")
    ex.add_output("replay.mp4", kind="video", poster="poster.png",
                  alt="The replay as a video: the arcs move in the hidden layer's plane")
    ex.add_output("replay.json", kind="live-replay", poster="poster.png", video="replay.mp4",
                  alt="The replay of 9 epochs, drawn by the page")
    ex.add_output("other.json", kind="live-replay", poster="other.png",
                  alt="The other run, drawn by the page")
    ex.add_output("replay.npz", kind="replay", alt="")
    ex.add_output("other.npz", kind="replay", alt="")
    ex.metric("final_loss", float(runs["replay"].metrics["probe_loss"][-1]))

    # %%
    ex.finish()
    ''')

LIVE_PAGE = """# Live replay fixture

{{ replay("replay.json", caption="One run, drawn by the page") }}

Prose between the figures, long enough to scroll.

{{ replay(["replay.json", "other.json"], labels=["run a", "run b"], caption="Two runs, one slider", autoplay=False) }}
"""
LIVE_PAGE_PATH = "demo/live/"


@dataclass
class Site:
    path: Path
    base: str
    checker: UrlChecker = field(init=False)

    def __post_init__(self) -> None:
        self.checker = UrlChecker(self.base)


@dataclass
class PageReport:
    path: str
    visit: PageVisit
    problems: dict[str, list[str]]


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def browser(chromium: Any) -> Any:
    """This module's name for the shared Chromium (tests/browser/conftest.py)."""
    return chromium


@pytest.fixture(scope="session")
def axe_js() -> Path | str:
    """axe.min.js (npm-installed into a cache folder on first use), or why it is unavailable."""
    try:
        return ensure_axe()
    except RuntimeError as exc:
        return str(exc)


@pytest.fixture(scope="session")
def fixture_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("browser-site")
    mini = MiniProject(root)
    (mini.content / "index.md").write_text(INDEX)
    mini.add("alpha", tiny_recipe("Alpha"))
    mini.add("replay", REPLAY_RECIPE, page=REPLAY_PAGE)
    mini.add("palette", PALETTE_RECIPE, page=PALETTE_PAGE)
    mini.add("live", LIVE_RECIPE, page=LIVE_PAGE)
    assert mini.cli("build") == 0, mini.report()
    site = root / "site"
    site.mkdir()
    with StaticServer(site) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("SITE_URL", server.base)  # as the Pages workflow does: instant loading needs it
        result = build_site(mini.content, mini.build_dir, site)
        assert result.returncode == 0, result.stderr
        yield Site(site, server.base)


def _shot_name(prefix: str, path: str) -> Path:
    return SCREENSHOTS / f"{prefix}-{path.strip('/').replace('/', '_') or 'home'}.png"


def check_page(browser: Any, site: Site, path: str, axe: Path | str | None,
               screenshot: str | None,
               extra: Callable[[Any, PageVisit], dict[str, list[str]]] | None = None,
               **context_options: Any) -> PageReport:
    """Visit one page and run every check on it.

    ``extra`` runs last, on the same page and visit, so a caller adds its own checks without
    loading the page again; ``context_options`` go to :func:`open_page` (viewport, palette).
    """
    with open_page(browser, site.base + path, site.base, **context_options) as (page, visit):
        reveal_deferred(page)  # first_load_bytes is measured; now check what scrolling loads
        problems = {
            "console": console_problems(visit),
            "external": external_request_problems(visit, site.base),
            "http": http_problems(visit),
            "resources": resource_problems(page, site.checker),
            "links": link_problems(page, site.checker),
            "media": media_problems(page, notebook=path.startswith("notebooks/")),
        }
        if isinstance(axe, Path):
            problems["axe"] = axe_problems(page, axe)
        if screenshot:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(_shot_name(screenshot, path)), full_page=True)
        problems["scrubber"] = scrubber_problems(page, site.checker)
        problems["live"] = live_replay_problems(page)
        # anything the interaction itself logged
        problems["console"] += [p for p in console_problems(visit) if p not in problems["console"]]
        problems["external"] = external_request_problems(visit, site.base)
        if extra is not None:
            problems.update(extra(page, visit))
    return PageReport(path, visit, problems)


@pytest.fixture(scope="module")
def reports(browser: Any, fixture_site: Site, axe_js: Path | str) -> dict[str, PageReport]:
    return {path: check_page(browser, fixture_site, path, axe_js, "fixture")
            for path in site_pages(fixture_site.path)}


def _all(reports: dict[str, PageReport], kind: str) -> list[str]:
    return [p for r in reports.values() for p in r.problems.get(kind, [])]


def assert_none(problems: list[str]) -> None:
    """Fail with every problem on its own line."""
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


# ------------------------------------------------------------------------ the fixture site is fine
def test_fixture_site_has_the_expected_pages(reports: dict[str, PageReport]) -> None:
    assert {"", "demo/alpha/", "demo/replay/", "demo/palette/", LIVE_PAGE_PATH,
            "notebooks/alpha/", "notebooks/replay/", "build-report/"} <= set(reports)


def test_pages_load_without_console_errors(reports: dict[str, PageReport]) -> None:
    assert_none(_all(reports, "console"))
    assert_none(_all(reports, "http"))


def test_every_referenced_file_resolves(reports: dict[str, PageReport]) -> None:
    assert_none(_all(reports, "resources"))
    assert_none(_all(reports, "links"))


def test_no_request_leaves_the_local_server(reports: dict[str, PageReport]) -> None:
    assert_none(_all(reports, "external"))
    assert all(r.visit.requests for r in reports.values())  # the recorder did record


def test_media_are_accessible_and_deferred(reports: dict[str, PageReport]) -> None:
    assert_none(_all(reports, "media"))


def test_no_serious_accessibility_violations(reports: dict[str, PageReport],
                                             axe_js: Path | str) -> None:
    if not isinstance(axe_js, Path):
        pytest.fail(f"axe-core is unavailable: {axe_js}")
    assert_none(_all(reports, "axe"))


def test_scrubber_moves_all_panels(reports: dict[str, PageReport]) -> None:
    assert_none(_all(reports, "scrubber"))


def test_live_replays_draw_and_follow_the_keyboard(reports: dict[str, PageReport]) -> None:
    assert_none(_all(reports, "live"))
    assert LIVE_PAGE_PATH in reports


def test_screenshots_written(reports: dict[str, PageReport]) -> None:
    for path in reports:
        shot = _shot_name("fixture", path)
        assert shot.exists() and shot.stat().st_size > 1000, shot


def test_first_load_bytes_within_budget(reports: dict[str, PageReport], capsys: Any) -> None:
    sizes = {path: r.visit.first_load_bytes for path, r in reports.items()}
    heaviest = max(sizes, key=sizes.__getitem__)
    with capsys.disabled():
        print("\nfixture site, first-load bytes per page: "
              + ", ".join(f"/{p} {n / 1024:.0f} KiB" for p, n in sorted(sizes.items()))
              + f"\nheaviest: /{heaviest} {sizes[heaviest]} bytes")
    assert all(n > 0 for n in sizes.values())
    assert sizes[heaviest] < FIRST_LOAD_BUDGET


# ------------------------------------------------------------------------------- page behaviour
def test_replay_panels_are_two_scrubbable_videos(browser: Any, fixture_site: Site,
                                                  axe_js: Path | str) -> None:
    with open_page(browser, fixture_site.base + "demo/replay/", fixture_site.base) as (page, visit):
        assert page.locator("figure.nnx-video[data-nnx-frames]").count() == 2
        page.wait_for_selector(".nnx-scrubber input[type=range]")
        assert page.locator(".nnx-scrubber").count() == 1
        # the videos are real, decodable H.264: metadata arrives with preload="metadata"
        page.wait_for_function("() => Array.from(document.querySelectorAll('video'))"
                               ".every(v => v.readyState >= 1)", timeout=10_000)
        label = page.locator(".nnx-scrubber output").inner_text()
        assert label == "epoch 10"  # starts at the last epoch, as the posters show
        slider = page.locator(".nnx-scrubber input[type=range]")
        assert slider.get_attribute("aria-valuetext") == "epoch 10"
        slider.focus()
        page.keyboard.press("Home")
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => document.querySelectorAll('figure[data-nnx-epoch=\"2\"]').length == 2")
        srcs = page.eval_on_selector_all(".nnx-frame-stage img", "els => els.map(e => e.src)")
        assert [s.rsplit("/", 2)[-2:] for s in srcs] == [["frames-a", "epoch_0002.png"],
                                                          ["frames-b", "epoch_0002.png"]]
        assert page.locator(".nnx-scrubber output").inner_text() == "epoch 2"
        if isinstance(axe_js, Path):  # the scrubbing state is accessible too (frames have alt)
            assert_none(axe_problems(page, axe_js))
        # the embedded page gets its src when the reader scrolls to it (or, already in view,
        # presses its button), and loads
        page.locator("iframe.nnx-iframe").scroll_into_view_if_needed()
        page.wait_for_timeout(200)  # a scroll loads it through nnx-embeds.js' observer
        page.evaluate("""() => { const f = document.querySelector('iframe.nnx-iframe');
          if (!f.getAttribute('src')) f.parentElement.querySelector('.nnx-embed-load').click(); }""")
        page.wait_for_function("() => document.querySelector('iframe.nnx-iframe').src.endsWith('widget.html')")
        frame = page.frame_locator("iframe.nnx-iframe")
        assert frame.locator("p").inner_text() == "An embedded page."
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "fixture-demo_replay-scrubbed.png"), full_page=True)
        assert_none(console_problems(visit))


_FRAME_SRC = "() => document.querySelector('iframe.nnx-iframe').getAttribute('src')"


def test_embed_waits_for_the_reader_at_any_viewport(browser: Any, fixture_site: Site) -> None:
    """Nothing embedded loads at first load, even in view; a button or a scroll loads it."""
    url = fixture_site.base + "demo/replay/"
    # a tall screen: the frame is in view at load, yet nothing is fetched until asked
    with open_page(browser, url, fixture_site.base,
                   viewport={"width": 1280, "height": 3000}) as (page, visit):
        assert page.locator("iframe.nnx-iframe").first.is_visible()
        assert page.evaluate(_FRAME_SRC) is None
        assert not [u for u in visit.requests if u.endswith("widget.html")]
        button = page.locator(".nnx-embed-load")
        assert button.is_visible() and "A tiny embedded page" in button.inner_text()
        assert button.inner_text().endswith("kB)")  # says how much it downloads
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_function(_FRAME_SRC.replace("getAttribute('src')", "src.endsWith('widget.html')"))
        assert page.frame_locator("iframe.nnx-iframe").locator("p").inner_text() == "An embedded page."
        assert not button.is_visible()
        assert page.evaluate("document.activeElement.tagName") == "IFRAME"  # focus kept nearby
        assert_none(console_problems(visit))
    # a short screen: the frame is below the fold and loads when the reader scrolls to it
    with open_page(browser, url, fixture_site.base,
                   viewport={"width": 800, "height": 400}) as (page, visit):
        assert page.evaluate(_FRAME_SRC) is None
        page.mouse.move(400, 200)
        for _ in range(20):
            page.mouse.wheel(0, 600)
            page.wait_for_timeout(100)
            if page.evaluate(_FRAME_SRC):
                break
        page.wait_for_function(_FRAME_SRC.replace("getAttribute('src')", "src.endsWith('widget.html')"))
        assert_none(console_problems(visit))


def _wait_for_new_scrubber(page: Any, generation: int) -> None:
    """Wait until the scrubber was set up for a page shown after ``generation``."""
    page.wait_for_function(
        """g => window.nnxScrubber && window.nnxScrubber.generation > g
               && window.nnxScrubber.current && document.body.contains(window.nnxScrubber.current.bar)""",
        arg=generation, timeout=10_000)


def test_scrubber_survives_instant_navigation(browser: Any, fixture_site: Site) -> None:
    base = fixture_site.base
    with open_page(browser, base, base) as (page, visit):
        page.evaluate("window.nnxSamePage = true")
        generation = page.evaluate("window.nnxScrubber.generation")
        page.locator("a.nnx-card-link", has_text="Replay fixture").click()
        page.wait_for_url("**/demo/replay/")
        _wait_for_new_scrubber(page, generation)
        assert page.evaluate("window.nnxSamePage === true"), "material's instant loading did not engage"
        assert_none(scrubber_problems(page, fixture_site.checker))
        # away and back: one scrubber, set up afresh, still working
        page.locator("a.md-button", has_text="Notebook").click()
        page.wait_for_url("**/notebooks/replay/")
        page.wait_for_selector("h1:has-text('Notebook')")
        assert page.locator(".nnx-scrubber").count() == 0
        generation = page.evaluate("window.nnxScrubber.generation")
        page.go_back()
        page.wait_for_url("**/demo/replay/")
        _wait_for_new_scrubber(page, generation)
        assert page.evaluate("window.nnxSamePage === true")
        assert page.locator(".nnx-scrubber").count() == 1
        assert_none(scrubber_problems(page, fixture_site.checker))
        assert_none(console_problems(visit))


def test_without_javascript_the_videos_remain(browser: Any, fixture_site: Site) -> None:
    url = fixture_site.base + "demo/replay/"
    with open_page(browser, url, fixture_site.base, javascript=False) as (page, _visit):
        assert page.locator(".nnx-scrubber").count() == 0
        videos = page.locator("figure.nnx-video video")
        assert videos.count() == 2
        for i in range(2):
            assert videos.nth(i).is_visible()
            assert videos.nth(i).get_attribute("controls") is not None
        # the <noscript> copy of the embed is the one shown, with a real src
        frames = page.locator("iframe.nnx-iframe")
        visible = [frames.nth(i) for i in range(frames.count()) if frames.nth(i).is_visible()]
        assert len(visible) == 1 and visible[0].get_attribute("src").endswith("widget.html")


def test_gallery_cards_and_links(browser: Any, fixture_site: Site) -> None:
    base = fixture_site.base
    with open_page(browser, base, base) as (page, _visit):
        cards = page.locator(".nnx-gallery .nnx-card")
        assert cards.count() == 4  # alpha, replay, the palette and the live replay fixtures
        cards_info = page.eval_on_selector_all(".nnx-card", """els => els.map(c => ({
            slug: c.dataset.slug, title: c.querySelector('h3').innerText,
            href: c.querySelector('a.nnx-card-link').href,
            thumb: c.querySelector('img') && c.querySelector('img').src,
            thumbOk: !!(c.querySelector('img') && c.querySelector('img').naturalWidth > 0),
            alt: c.querySelector('img') && c.querySelector('img').alt,
            text: c.innerText}))""")
    by_slug = {c["slug"]: c for c in cards_info}
    assert list(by_slug) == ["replay", "palette", "live", "alpha"]  # header `order` first
    replay, alpha = by_slug["replay"], by_slug["alpha"]
    assert replay["title"] == "Replay fixture" and alpha["title"] == "Alpha"
    # a small WebP made from the thumbnail asset (poster-a.png) at site-build time
    assert replay["thumb"].endswith("assets/_gallery/replay.webp") and replay["thumbOk"]
    assert alpha["thumb"].endswith("assets/_gallery/alpha.webp") and alpha["thumbOk"]
    assert replay["alt"] == "Panel a: the loss curve with the last epoch marked"
    assert alpha["alt"] == "a parabola drawn from the sizes"
    assert "Two scrubbable panels" in replay["text"]
    assert "From seed article 000 (test fixture)" in replay["text"]
    assert "profile quick" in replay["text"] and "trained in" in replay["text"]
    assert "parabola" in replay["text"]
    assert "profile quick" in alpha["text"] and "built in" in alpha["text"]
    for card in (replay, alpha):  # the links lead to the explainer pages
        with open_page(browser, card["href"], base) as (page, visit):
            assert page.locator("h1").first.inner_text().rstrip("¶ ") in ("Replay fixture", "alpha")
            assert http_problems(visit) == []
    # the whole card is clickable (stretched link): a click on the description navigates
    with open_page(browser, base, base) as (page, _visit):
        desc = page.locator(".nnx-card[data-slug=alpha] .nnx-card-desc")
        desc.scroll_into_view_if_needed()
        box = desc.bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_url("**/demo/alpha/")


def test_provenance_box_on_every_explainer_page(browser: Any, fixture_site: Site) -> None:
    base = fixture_site.base
    for path in ("demo/alpha/", "demo/replay/"):
        with open_page(browser, base + path, base) as (page, _visit):
            box = page.locator("details", has_text="How this page was built")
            assert box.count() == 1
            box.locator("summary").click()
            text = box.inner_text()
            for word in ("Profile", "quick", "seed 0", "Data", "Hardware", "CPU", "cores", "Time",
                         "whole notebook run", "Final metrics", "Versions", "numpy", "Built"):
                assert word in text, (path, word, text)
            if path == "demo/replay/":
                assert "stand-in" in text and "generated by code" in text
                assert "training" in text and "rendering" in text
                assert "final_loss = 0.1667" in text


# ------------------------------------------------------------- palettes, runs side by side, motion
PALETTE_PAGE_PATH = "demo/palette/"
_PALETTE_URLS_JS = """() => {
  const abs = u => new URL(u, document.baseURI).href;
  const out = {light: [], dark: [], shown: []};
  document.querySelectorAll('article [data-nnx-light]').forEach(e => {
    out.light.push(abs(e.getAttribute('data-nnx-light'))); out.dark.push(abs(e.getAttribute('data-nnx-dark')));
    if (e.getAttribute('src')) out.shown.push(abs(e.getAttribute('src')));
  });
  document.querySelectorAll('article video[data-nnx-poster-light]').forEach(v => {
    out.light.push(abs(v.getAttribute('data-nnx-poster-light'))); out.dark.push(abs(v.getAttribute('data-nnx-poster-dark')));
    if (v.getAttribute('poster')) out.shown.push(abs(v.getAttribute('poster')));
  });
  return out;
}"""


def _toggle_palette(page: Any) -> None:
    page.locator("form[data-md-component=palette] label:not([hidden])").first.click()


def test_palette_toggle_swaps_every_figure_and_never_fetches_the_other(
        browser: Any, fixture_site: Site) -> None:
    base = fixture_site.base
    for scheme, other in (("light", "dark"), ("dark", "light")):
        with open_page(browser, base + PALETTE_PAGE_PATH, base, color_scheme=scheme) as (page, visit):
            reveal_deferred(page)  # scroll through: every lazy image loads
            page.wait_for_function("() => Array.from(document.querySelectorAll('article img[data-nnx-light]'))"
                                   ".every(i => i.complete && i.naturalWidth > 0)")
            urls = page.evaluate(_PALETTE_URLS_JS)
            assert len(urls["light"]) >= 6  # figure, poster, 2 compare stills, GIF, video source
            assert page.evaluate("window.nnxPalette.current()") == scheme
            expected = set(urls[scheme])
            # every picture shows this palette's version, and not one byte of the other is fetched
            assert set(urls["shown"]) <= expected and urls["shown"], urls
            assert not set(visit.requests) & set(urls[other]), sorted(set(visit.requests) & set(urls[other]))
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"fixture-palette-{scheme}.png"), full_page=True)
            # the toggle swaps every figure without a reload, now fetching the other versions
            page.evaluate("window.nnxNoReload = true")
            _toggle_palette(page)
            page.wait_for_function("s => window.nnxPalette.current() === s", arg=other)
            reveal_deferred(page)
            after = page.evaluate(_PALETTE_URLS_JS)
            assert set(after["shown"]) <= set(urls[other]) and len(after["shown"]) == len(urls["shown"])
            assert page.evaluate("window.nnxNoReload") is True
            source = page.eval_on_selector("video source", "s => s.src")
            assert source.endswith("anim.mp4" if other == "light" else "anim.dark.mp4")
            # the scrubber shows the frames of the palette shown
            slider = page.locator(".nnx-scrubber input[type=range]")
            slider.focus()
            page.keyboard.press("Home")
            page.wait_for_function("() => document.querySelectorAll('figure[data-nnx-epoch=\"0\"]').length == 3")
            dark_folder = other == "dark"
            srcs = page.eval_on_selector_all(".nnx-frame-stage img", "els => els.map(e => e.src)")
            assert all((".dark/" in s) == dark_folder for s in srcs), srcs
            assert_none(console_problems(visit))


def test_notebook_page_swaps_its_images_and_never_fetches_the_other(
        browser: Any, fixture_site: Site) -> None:
    """The executed notebook's images (a saved figure, a figure only shown) follow the palette."""
    base = fixture_site.base
    url = base + "notebooks/palette/"
    for scheme, other in (("light", "dark"), ("dark", "light")):
        with open_page(browser, url, base, color_scheme=scheme) as (page, visit):
            reveal_deferred(page)
            page.wait_for_function("() => Array.from(document.querySelectorAll('article img'))"
                                   ".every(i => i.complete && i.naturalWidth > 0)")
            # every inline image of the notebook is paired with its dark twin
            unpaired = page.eval_on_selector_all("article img:not([data-nnx-light])",
                                                 "els => els.map(e => e.outerHTML)")
            assert unpaired == []
            urls = page.evaluate(_PALETTE_URLS_JS)
            assert len(urls["light"]) == 2, urls  # heat.png (saved) and the figure shown inline
            assert any("/assets/palette/heat.dark.png" in u for u in urls["dark"]), urls
            assert any(u.endswith(".dark.png") and "/notebooks/palette_files/" in u
                       for u in urls["dark"]), urls
            assert sorted(urls["shown"]) == sorted(urls[scheme])
            assert not set(visit.requests) & set(urls[other]), sorted(set(visit.requests) & set(urls[other]))
            assert set(urls[scheme]) <= set(visit.requests)
            # the pixels shown are this palette's: the figure background's brightness
            corners = page.eval_on_selector_all("article img[data-nnx-light]", """els => els.map(img => {
                const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
                const g = c.getContext('2d'); g.drawImage(img, 0, 0); const d = g.getImageData(1, 1, 1, 1).data;
                return (d[0] + d[1] + d[2]) / 3; })""")
            assert all((v < 80) if scheme == "dark" else (v > 200) for v in corners), corners
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"fixture-notebook-palette-{scheme}.png"), full_page=True)
            before = len(visit.requests)
            page.evaluate("window.nnxNoReload = true")
            _toggle_palette(page)
            page.wait_for_function("s => window.nnxPalette.current() === s", arg=other)
            reveal_deferred(page)
            after = page.evaluate(_PALETTE_URLS_JS)
            assert sorted(after["shown"]) == sorted(urls[other])
            assert page.evaluate("window.nnxNoReload") is True
            page.wait_for_function("() => Array.from(document.querySelectorAll('article img'))"
                                   ".every(i => i.complete && i.naturalWidth > 0)")
            assert set(urls[other]) <= set(visit.requests[before:])
            assert_none(console_problems(visit))


def test_hiplot_page_follows_the_palette(browser: Any, tmp_path: Path) -> None:
    """HiPlot's dark theme as the embedding page's palette is, on load and on a toggle; on its
    own, as the palette Material stored; its data colours are the same in both themes."""
    need_module("hiplot")
    from pipeline.library.hiplot_export import parallel_coordinates

    rows = [{"epoch": e, "loss": 1.0 / (e + 1)} for e in range(1, 9)]
    parallel_coordinates(rows, tmp_path / "plot.html", color_by="epoch")
    (tmp_path / "page.html").write_text(
        '<!doctype html><html lang="en"><head><title>Embed</title></head>'
        '<body data-md-color-scheme="default"><iframe title="HiPlot" id="plot" src="plot.html" '
        'width="900" height="600"></iframe></body></html>')
    root = "[class^=hip_thm]"

    def background(frame: Any) -> str:
        return str(frame.evaluate("getComputedStyle(document.body).backgroundColor"))

    with StaticServer(tmp_path) as server:
        with open_page(browser, server.base + "page.html", server.base) as (page, visit):
            frame = page.frame_locator("#plot")
            frame.locator(root).wait_for()
            assert frame.locator(root).get_attribute("class") == "hip_thm--light"
            light_frame = page.frame(url=lambda u: "plot.html" in u)
            assert light_frame is not None and background(light_frame) == "rgba(0, 0, 0, 0)"
            light_pixels = _hiplot_line_colours(light_frame)
            page.evaluate("document.body.setAttribute('data-md-color-scheme', 'slate')")
            page.wait_for_function("""() => { const d = document.getElementById('plot').contentDocument;
                const r = d && d.querySelector('[class^=hip_thm]'); return r && r.className === 'hip_thm--dark'; }""")
            dark_frame = page.frame(url=lambda u: "plot.html" in u)
            assert dark_frame is not None and background(dark_frame) == "rgb(34, 34, 34)"
            dark_pixels = _hiplot_line_colours(dark_frame)
            # the lines' colours (data) are the same set in both themes
            assert light_pixels and dark_pixels and light_pixels == dark_pixels
            assert_none(external_request_problems(visit, server.base))
        # opened on its own: the palette the site stored (Material's "<scope>.__palette")
        with open_page(browser, server.base + "plot.html", server.base) as (page, _visit):
            page.evaluate("localStorage.setItem('/.__palette', JSON.stringify("
                          "{index: 1, color: {scheme: 'slate', primary: 'indigo'}}))")
            page.reload()
            page.locator(root).wait_for()
            assert page.locator(root).get_attribute("class") == "hip_thm--dark"


def _hiplot_line_colours(frame: Any) -> set[tuple[int, int, int]]:
    """The saturated colours drawn on HiPlot's parallel-plot canvases (its lines: data)."""
    js = _HIPLOT_COLOURS_JS
    colours, previous = None, None
    for _ in range(40):  # HiPlot draws its lines over several animation frames: wait until done
        frame.wait_for_timeout(250)
        colours = frame.evaluate(js)
        if colours and colours == previous:
            break
        previous = colours
    return {tuple(int(v) for v in c.split(",")) for c in colours or []}  # type: ignore[misc]


_HIPLOT_COLOURS_JS = """() => {
        const out = {};
        document.querySelectorAll('canvas').forEach(c => {
            if (!c.width || !c.height) return;
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            for (let i = 0; i < px.length; i += 4) {
                const [r, g, b, a] = [px[i], px[i + 1], px[i + 2], px[i + 3]];
                if (a < 200 || Math.max(r, g, b) - Math.min(r, g, b) < 80) continue;
                const key = r + ',' + g + ',' + b; out[key] = (out[key] || 0) + 1;
            }
        });
        return Object.entries(out).filter(([k, n]) => n > 40).map(([k]) => k).sort();
    }"""


def test_dark_and_light_frames_differ_outside_the_data(fixture_site: Site) -> None:
    """The two versions are drawn from the same data: the run's line is where it was."""
    from PIL import Image

    folder = fixture_site.path / "assets" / "palette"
    light = np.asarray(Image.open(folder / "run-a" / "epoch_0006.png").convert("RGB")).astype(int)
    dark = np.asarray(Image.open(folder / "run-a.dark" / "epoch_0006.png").convert("RGB")).astype(int)
    assert light.shape == dark.shape
    blue = np.array([31, 119, 180])  # tab:blue, the data colour: same pixels in both
    on_line_light = np.abs(light - blue).max(axis=2) <= 3
    on_line_dark = np.abs(dark - blue).max(axis=2) <= 3
    assert on_line_light.sum() > 50
    assert (on_line_light & on_line_dark).sum() >= 0.8 * on_line_light.sum()
    background = ~(on_line_light | on_line_dark)
    assert np.abs(light - dark)[background].mean() > 100  # the theme did change


def test_shared_scrubber_moves_every_run_to_the_same_epoch(browser: Any, fixture_site: Site,
                                                           axe_js: Path | str) -> None:
    base = fixture_site.base
    with open_page(browser, base + PALETTE_PAGE_PATH, base) as (page, visit):
        page.wait_for_selector(".nnx-scrubber input[type=range]")
        assert page.locator(".nnx-scrubber").count() == 1
        runs = page.locator("figure.nnx-compare figure.nnx-compare-run")
        assert runs.count() == 2
        assert [c.strip() for c in runs.locator("figcaption").all_inner_texts()] == ["run a", "run b"]
        # keyboard only: Tab from the play button reaches the slider; arrows move every panel
        page.locator(".nnx-scrubber button").focus()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.type") == "range"
        page.keyboard.press("Home")
        for _ in range(2):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("() => Array.from(document.querySelectorAll('figure[data-nnx-frames]'))"
                               ".every(f => f.dataset.nnxEpoch === '6')")
        srcs = page.eval_on_selector_all(".nnx-frame-stage img", "els => els.map(e => e.src)")
        assert [s.rsplit("/", 2)[-2:] for s in srcs] == [["run-a", "epoch_0006.png"],
                                                          ["run-a", "epoch_0006.png"],
                                                          ["run-b", "epoch_0006.png"]]
        assert page.locator(".nnx-compare-still:not([hidden])").count() == 0
        out = page.locator(".nnx-scrubber output")
        assert out.inner_text() == "epoch 6" and out.get_attribute("aria-live") == "polite"
        alts = page.eval_on_selector_all(".nnx-compare .nnx-frame-stage img", "els => els.map(e => e.alt)")
        assert alts[0].startswith("run a: ") and "epoch 6: loss 0.333" in alts[0], alts
        assert alts[1].startswith("run b: ") and "epoch 6: loss 0.800" in alts[1], alts
        if isinstance(axe_js, Path):
            assert_none(axe_problems(page, axe_js))
        assert_none(console_problems(visit))


def test_reduced_motion_stops_autoplay_and_gifs_show_their_poster(browser: Any,
                                                                  fixture_site: Site) -> None:
    base = fixture_site.base
    with open_page(browser, base + PALETTE_PAGE_PATH, base, reduced_motion="reduce") as (page, visit):
        reveal_deferred(page)
        gif = page.locator("img[data-nnx-still-light]")
        assert gif.count() == 1
        page.wait_for_function("() => document.querySelector('img[data-nnx-still-light]').complete")
        assert gif.evaluate("i => i.src").endswith("anim-poster.png")
        assert not [u for u in visit.requests if u.endswith(".gif")]
        assert page.evaluate("Array.from(document.querySelectorAll('video')).every(v => v.paused && !v.autoplay)")
        page.wait_for_timeout(500)
        assert page.evaluate("window.nnxScrubber.current.playing") is False
    with open_page(browser, base + PALETTE_PAGE_PATH, base) as (page, visit):
        reveal_deferred(page)
        page.wait_for_function("() => document.querySelector('img[data-nnx-still-light]').complete")
        assert page.locator("img[data-nnx-still-light]").evaluate("i => i.src").endswith("anim.gif")


def test_palette_pictures_load_after_instant_navigation(browser: Any, fixture_site: Site) -> None:
    base = fixture_site.base
    with open_page(browser, base, base, color_scheme="dark") as (page, visit):
        page.evaluate("window.nnxSamePage = true")
        page.locator("a.nnx-card-link", has_text="Palette fixture").click()
        page.wait_for_url("**/demo/palette/")
        assert page.evaluate("window.nnxSamePage") is True  # material's instant navigation
        page.wait_for_function("() => document.querySelector('article img[data-nnx-light]')"
                               " && document.querySelector('article img[data-nnx-light]').getAttribute('src')")
        reveal_deferred(page)
        urls = page.evaluate(_PALETTE_URLS_JS)
        assert urls["shown"] and set(urls["shown"]) <= set(urls["dark"])
        _toggle_palette(page)
        page.wait_for_function("() => window.nnxPalette.current() === 'light'")
        after = page.evaluate(_PALETTE_URLS_JS)
        assert set(after["shown"]) <= set(urls["light"]) and len(after["shown"]) == len(urls["shown"])
        assert_none(console_problems(visit))


def test_gallery_thumbnails_follow_the_palette(browser: Any, fixture_site: Site) -> None:
    base = fixture_site.base
    for scheme, ending in (("light", "_gallery/palette.webp"), ("dark", "_gallery/palette.dark.webp")):
        with open_page(browser, base, base, color_scheme=scheme) as (page, visit):
            card = page.locator(".nnx-card[data-slug=palette] img")
            page.wait_for_function("() => document.querySelector('.nnx-card[data-slug=palette] img').complete")
            assert card.evaluate("i => i.src").endswith(ending)
            assert card.evaluate("i => i.naturalWidth") > 0
            other = "palette.dark.webp" if scheme == "light" else "palette.webp"
            assert not [u for u in visit.requests if u.endswith("/_gallery/" + other)]
            # a recipe without a dark thumbnail keeps its one image
            assert page.locator(".nnx-card[data-slug=replay] img").evaluate("i => i.src").endswith("replay.webp")


def test_build_report_table_sorts_from_the_keyboard(browser: Any, fixture_site: Site) -> None:
    base = fixture_site.base
    with open_page(browser, base + "build-report/", base) as (page, visit):
        rows = page.locator("table.nnx-sortable tbody tr")
        assert rows.count() == 4

        def slugs() -> list[str]:
            return rows.evaluate_all("rs => rs.map(r => r.dataset.slug)")

        page.locator("table.nnx-sortable th button", has_text="Explainer").focus()
        page.keyboard.press("Enter")  # by title: Alpha, Drawn live, Palette, Replay fixture
        assert slugs() == ["alpha", "live", "palette", "replay"]
        head = page.locator("table.nnx-sortable thead th", has_text="Explainer")
        assert head.get_attribute("aria-sort") == "ascending"
        page.keyboard.press("Enter")
        assert head.get_attribute("aria-sort") == "descending"
        assert slugs() == ["replay", "palette", "live", "alpha"]
        # numbers sort as numbers (slowest first), whatever their text
        page.locator("table.nnx-sortable th button", has_text="Whole run").click()
        keys = rows.evaluate_all("rs => rs.map(r => Number("
                                 "r.querySelector('[data-label^=\"Whole run\"]').dataset.nnxKey))")
        assert keys == sorted(keys, reverse=True) and all(k > 0 for k in keys)
        assert "Total (" in page.locator("table.nnx-sortable tfoot").inner_text()
        assert_none(console_problems(visit))


# ------------------------------------------------------------------------------- live replays
def _open_live_figure(page: Any, i: int) -> None:
    """Scroll live replay ``i`` into view and wait until it is drawn."""
    page.locator("figure.nnx-replay").nth(i).scroll_into_view_if_needed()
    page.wait_for_function("i => document.querySelectorAll('figure.nnx-replay')[i].classList"
                           ".contains('nnx-replay-live')", arg=i, timeout=15_000)


def _axis_maps(page: Any, fig: int, run: int, panel: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of ``page_px = a + b * value`` for each axis, fitted to the tick labels the reader
    sees (their text and where they are), so the test trusts the axes, not the script."""
    ticks = page.evaluate("""([f, r, k]) => {
      const grid = document.querySelectorAll('figure.nnx-replay')[f].querySelectorAll('.nnx-rp-grid')[r];
      const panel = grid.querySelectorAll('.nnx-rp-panel')[k];
      const read = (cls, horizontal) => Array.from(panel.querySelectorAll(cls), t => {
        const b = t.getBoundingClientRect();
        return [Number(t.textContent.replace('\u2212', '-')), horizontal ? b.left + b.width / 2 : b.top + b.height / 2];
      });
      return {x: read('.nnx-rp-xtick', true), y: read('.nnx-rp-ytick', false)};
    }""", [fig, run, panel])
    maps = []
    for axis in ("x", "y"):
        values, px = np.asarray(ticks[axis], dtype=float).T
        assert len(values) >= 3, ticks
        b, a = np.polyfit(values, px, 1)
        assert np.abs(a + b * values - px).max() < 1.0, f"{axis} tick labels are not evenly spaced"
        maps.append(np.array([a, b]))
    return maps[0], maps[1]


def _pixel(page: Any, fig: int, run: int, panel: int, x: float, y: float) -> list[int]:
    """The canvas pixel under page coordinates (x, y)."""
    return page.evaluate("""([f, r, k, x, y]) => {
      const grid = document.querySelectorAll('figure.nnx-replay')[f].querySelectorAll('.nnx-rp-grid')[r];
      const c = grid.querySelectorAll('.nnx-rp-panel')[k].querySelector('canvas');
      const b = c.getBoundingClientRect();
      const px = Math.floor((x - b.left) * c.width / b.width), py = Math.floor((y - b.top) * c.height / b.height);
      return Array.from(c.getContext('2d').getImageData(px, py, 1, 1).data.slice(0, 3));
    }""", [fig, run, panel, x, y])


def _isolated(xy: np.ndarray, inside: np.ndarray, distance: float) -> np.ndarray:
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return np.flatnonzero(inside & (d.min(axis=1) > distance))


def _fmt(v: float) -> str:
    return f"{v:.2e}" if v and abs(v) < 1e-3 else f"{v:.3f}"


CLASS_RGB = {0: (0xb2, 0x18, 0x2b), 1: (0x21, 0x66, 0xac)}


def test_live_replay_draws_each_point_where_the_axes_say_and_hovering_shows_its_path(
        browser: Any, fixture_site: Site) -> None:
    from pipeline.library.replay import Replay

    replay = Replay.load(fixture_site.path / "assets" / "live" / "replay.npz")
    base = fixture_site.base
    with open_page(browser, base + LIVE_PAGE_PATH, base, reduced_motion="reduce") as (page, visit):
        _open_live_figure(page, 0)
        slider = page.locator("figure.nnx-replay").first.locator("input[type=range]")
        slider.press("Home")
        for _ in range(3):
            slider.press("ArrowRight")
        page.wait_for_function("() => document.querySelector('figure.nnx-replay').dataset.nnxEpoch === '3'")
        page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        (ax, bx), (ay, by) = _axis_maps(page, 0, 0, 0)
        h = replay.layer_output("hidden", 3).astype(float)
        px, py = ax + bx * h[:, 0], ay + by * h[:, 1]
        box = page.locator("figure.nnx-replay").first.locator(".nnx-rp-feature canvas").bounding_box()
        inside = ((px > box["x"] + 45) & (px < box["x"] + box["width"] - 12)
                  & (py > box["y"] + 10) & (py < box["y"] + box["height"] - 35))
        chosen = _isolated(np.column_stack([px, py]), inside, 7.0)
        labels = replay.labels
        picks = [i for c in (0, 1) for i in chosen[labels[chosen] == c][:4]]
        assert len(picks) >= 4, "too few isolated points to test"
        for i in picks:  # the point's class colour is where its coordinates put it
            got = _pixel(page, 0, 0, 0, px[i], py[i])
            assert max(abs(g - w) for g, w in zip(got, CLASS_RGB[int(labels[i])], strict=True)) <= 12, \
                (i, got, labels[i])
        # hovering a point names it and draws its own path over every epoch
        i = int(picks[0])
        page.mouse.move(px[i], py[i])
        page.wait_for_function("() => !document.querySelector('.nnx-rp-tooltip').hidden")
        text = page.locator(".nnx-rp-tooltip").first.inner_text()
        p1 = float(replay.positive_probability(3)[i])
        loss = float(replay.sample_loss(3)[i])
        for words in (f"Point {i} at epoch 3", f"class {int(labels[i])}", f"P(class 1) {_fmt(p1)}",
                      f"loss {_fmt(loss)}"):
            assert words in text, (words, text)
        page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        shown = page.evaluate("() => { const p = window.nnxReplay.groups[0].views[0].panels[0].shownPath;"
                              " return {index: p.index, data: Array.from(p.data)}; }")
        assert shown["index"] == i
        np.testing.assert_allclose(np.reshape(shown["data"], (-1, 2)),
                                   replay.layer_outputs("hidden")[:, i], atol=1e-4)
        assert_none(console_problems(visit))


def test_live_runs_share_epoch_and_hover_and_a_bar_lights_its_points(
        browser: Any, fixture_site: Site) -> None:
    from pipeline.library.replay import Replay

    runs = [Replay.load(fixture_site.path / "assets" / "live" / f"{n}.npz")
            for n in ("replay", "other")]
    base = fixture_site.base
    with open_page(browser, base + LIVE_PAGE_PATH, base, reduced_motion="reduce") as (page, visit):
        _open_live_figure(page, 1)
        fig = page.locator("figure.nnx-replay").nth(1)
        assert fig.locator(".nnx-rp-grid").count() == 2 and fig.locator("input[type=range]").count() == 1
        last = int(runs[0].epochs[-1])
        fig.locator("input[type=range]").press("End")
        page.wait_for_function("e => document.querySelectorAll('figure.nnx-replay')[1].dataset.nnxEpoch === e",
                               arg=str(last))
        # hover a point of run a: run b shows the same point's path (its own numbers)
        (ax, bx), (ay, by) = _axis_maps(page, 1, 0, 0)
        h = runs[0].layer_output("hidden", last).astype(float)
        px, py = ax + bx * h[:, 0], ay + by * h[:, 1]
        box = fig.locator(".nnx-rp-feature canvas").first.bounding_box()
        inside = ((px > box["x"] + 45) & (px < box["x"] + box["width"] - 12)
                  & (py > box["y"] + 10) & (py < box["y"] + box["height"] - 35))
        i = int(_isolated(np.column_stack([px, py]), inside, 7.0)[0])
        page.mouse.move(px[i], py[i])
        page.wait_for_function("i => { const v = window.nnxReplay.groups[1].views[1].panels[0];"
                               " return v.shownPath && v.shownPath.index === i; }", arg=i)
        other = page.evaluate("() => Array.from(window.nnxReplay.groups[1].views[1].panels[0].shownPath.data)")
        np.testing.assert_allclose(np.reshape(other, (-1, 2)), runs[1].layer_outputs("hidden")[:, i],
                                   atol=1e-4)
        text = page.locator("figure.nnx-replay").nth(1).locator(".nnx-rp-tooltip").inner_text()
        assert "run a: class" in text and "run b: class" in text
        # hover the fullest bar of run a's class-0 histogram: its points light up in both runs
        p1 = runs[0].positive_probability(last).astype(float)
        edges = np.linspace(0, 1, 21)
        bins = np.clip(np.searchsorted(edges, p1, side="right") - 1, 0, 19)
        counts = np.bincount(bins[runs[0].labels == 0], minlength=20)
        b = int(np.argmax(counts))
        (hx, hbx), (hy, hby) = _axis_maps(page, 1, 0, 1)
        page.mouse.move(hx + hbx * (edges[b] + edges[b + 1]) / 2, hy + hby * counts[b] / 2)
        page.wait_for_function("() => window.nnxReplay.groups[1].state.lit !== null")
        lit = page.evaluate("() => Array.from(window.nnxReplay.groups[1].state.lit)")
        want = (runs[0].labels == 0) & (bins == b)
        near_edge = np.min(np.abs(p1[:, None] - edges[None, :]), axis=1) < 1e-5
        assert not np.any((np.asarray(lit, bool) != want) & ~near_edge)
        tip = page.locator("figure.nnx-replay").nth(1).locator(".nnx-rp-tooltip").inner_text()
        assert tip.startswith(f"{int(want.sum())} point")
        assert_none(console_problems(visit))


def test_live_replay_moves_by_itself_only_once_and_never_for_reduced_motion(
        browser: Any, fixture_site: Site) -> None:
    base = fixture_site.base
    with open_page(browser, base + LIVE_PAGE_PATH, base) as (page, visit):
        _open_live_figure(page, 0)
        page.wait_for_function("() => window.nnxReplay.groups[0].playing", timeout=5_000)
        page.wait_for_function("() => !window.nnxReplay.groups[0].playing", timeout=15_000)
        group = page.evaluate("() => { const g = window.nnxReplay.groups[0];"
                              " return {epoch: g.state.epoch, last: g.epochs[g.epochs.length - 1]}; }")
        assert group["epoch"] == group["last"]  # played to the end and stopped
        assert page.evaluate("window.nnxReplay.groups[1].playing") is False  # autoplay=False
    with open_page(browser, base + LIVE_PAGE_PATH, base, reduced_motion="reduce") as (page, visit):
        _open_live_figure(page, 0)
        page.wait_for_timeout(1500)
        assert page.evaluate("window.nnxReplay.groups.some(g => g.playing)") is False
        assert page.evaluate("document.querySelector('figure.nnx-replay').dataset.nnxEpoch") == "8"
        page.locator("figure.nnx-replay").first.locator(".nnx-rp-play").click()  # the reader may
        page.wait_for_function("() => window.nnxReplay.groups[0].playing")
        assert_none(console_problems(visit))


def test_live_replay_follows_the_palette_and_instant_navigation(browser: Any,
                                                                fixture_site: Site) -> None:
    base = fixture_site.base
    with open_page(browser, base, base, reduced_motion="reduce") as (page, visit):
        page.evaluate("window.nnxSamePage = true")
        page.locator("a.nnx-card-link", has_text="Drawn live").click()
        page.wait_for_url("**/" + LIVE_PAGE_PATH)
        _open_live_figure(page, 0)
        assert page.evaluate("window.nnxSamePage") is True  # material's instant navigation
        # the left spine of the curves view: the most opaque pixel near its x, half way down
        spine = page.evaluate("""() => { const p = window.nnxReplay.groups[0].views[0].panels[3];
          return [Math.floor(p.rect.x) - 2, Math.round(p.rect.y + p.rect.h / 2)]; }""")
        read = ("""([x, y]) => { const d = document.querySelector('.nnx-rp-curves canvas')
          .getContext('2d').getImageData(x, y, 5, 1).data; let best = 0;
          for (let k = 1; k < 5; k++) if (d[4 * k + 3] > d[4 * best + 3]) best = k;
          return Array.from(d.slice(4 * best, 4 * best + 4)); }""")
        light = page.evaluate(read, spine)
        fetched = len([u for u in visit.requests if u.endswith((".json", ".bin"))])
        _toggle_palette(page)
        page.wait_for_function("() => window.nnxPalette.current() === 'dark'")
        page.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        dark = page.evaluate(read, spine)
        assert light[3] > 100 and dark[3] > 100, (light, dark)  # found the spine
        assert sum(dark[:3]) > sum(light[:3]) + 300, (light, dark)  # its ink follows the palette
        assert len([u for u in visit.requests if u.endswith((".json", ".bin"))]) == fetched
        old = page.evaluate("window.nnxReplay.groups.length")
        page.evaluate("window.nnxOld = window.nnxReplay.groups.slice()")
        page.locator("a", has_text="Alpha").first.click()  # away, by instant navigation
        page.wait_for_url("**/demo/alpha/")
        page.wait_for_function("() => window.nnxReplay.groups.length === 0")
        assert page.evaluate("window.nnxOld.every(g => g.destroyed)")
        page.go_back()
        page.wait_for_url("**/" + LIVE_PAGE_PATH)
        _open_live_figure(page, 0)
        assert page.evaluate("window.nnxReplay.groups.length") == old
        assert page.locator(".nnx-rp-controls").count() == old  # one bar per figure, no leftovers
        assert page.evaluate("window.nnxSamePage") is True
        assert_none(console_problems(visit))
    with open_page(browser, base + LIVE_PAGE_PATH, base, javascript=False) as (page, visit):
        fallback = page.locator("figure.nnx-replay").first.locator("video")
        assert fallback.is_visible() and fallback.get_attribute("poster").endswith("poster.png")
        assert page.locator("canvas").count() == 0
        assert not page.locator(".nnx-replay-placeholder").first.is_visible()


def test_live_replay_page_downloads_neither_poster_nor_video(browser: Any,
                                                            fixture_site: Site) -> None:
    base = fixture_site.base
    with open_page(browser, base + LIVE_PAGE_PATH, base) as (page, visit):
        _open_live_figure(page, 0)
        _open_live_figure(page, 1)
        page.wait_for_load_state("networkidle")
        wasted = [u for u in visit.requests if u.endswith(("/live/poster.png", "/live/other.png",
                                                           "/live/replay.mp4"))]
        assert not wasted, wasted


_REPORT_LAYOUT = """() => {
  const table = document.querySelector('.nnx-build-report table');
  const column = table.closest('article').getBoundingClientRect();
  const box = table.getBoundingClientRect();
  const clipped = Array.from(table.querySelectorAll('th, td')).filter(c =>
    c.getClientRects().length && (c.getBoundingClientRect().right > column.right + 0.5
                                  || c.scrollWidth > c.clientWidth + 1)).map(c => c.textContent);
  return {overflow: box.right - column.right, pageOverflow: document.documentElement.scrollWidth
          - document.documentElement.clientWidth, clipped: clipped,
          h1: Array.from(document.querySelectorAll('article h1'),
                         h => h.textContent.replace('\u00b6', '').trim()),
          text: document.querySelector('article').innerText,
          toc: Array.from(document.querySelectorAll('.md-sidebar--secondary .md-nav__link'),
                          a => a.textContent.trim())};
}"""


@pytest.mark.parametrize("width", [390, 1280])
def test_build_report_fits_says_its_title_and_device_once(browser: Any, fixture_site: Site,
                                                          width: int) -> None:
    """Issue 25: front matter rendered as a heading, a table cut off at 1280 px, the device
    repeated in every row. Every cell is inside the content column at a phone's and a
    laptop's width; the title is the one <h1>; the shared device is said once."""
    base = fixture_site.base
    with open_page(browser, base + "build-report/", base,
                   viewport={"width": width, "height": 900}) as (page, visit):
        layout = page.evaluate(_REPORT_LAYOUT)
        assert layout["h1"] == ["How this site was built"]
        assert "title:" not in layout["text"] and not [t for t in layout["toc"] if "title" in t]
        assert layout["overflow"] <= 0.5 and layout["pageOverflow"] <= 0, layout
        assert layout["clipped"] == [], layout["clipped"]
        cpu = page.locator("article").inner_text().count(" cores)")
        assert cpu == 1 and "Every explainer was built on" in layout["text"]
        assert page.locator(".nnx-build-report table th", has_text="Device").count() == 0
        assert_none(console_problems(visit))


# ------------------------------------------------------------- each check fails when it should
@pytest.fixture(scope="module")
def broken_site(fixture_site: Site, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A copy of the fixture site with one deliberate fault per page."""
    path = tmp_path_factory.mktemp("broken-site") / "site"
    shutil.copytree(fixture_site.path, path)
    (path / "assets" / "replay" / "replay-a.mp4").unlink()  # a broken <source>
    (path / "assets" / "replay" / "frames-b" / "epoch_0004.png").unlink()  # a broken frame
    (path / "assets" / "live" / "replay.bin").unlink()  # a live replay without its data
    pages = {
        "console": '<script>console.error("deliberate console error");'
                   'throw new Error("deliberate failure");</script>',
        "external": '<img src="https://example.com/x.png" alt="An image from another host">',
        "alt": '<img src="../assets/alpha/line.png" loading="lazy">',
    }
    for name, body in pages.items():
        (path / f"broken-{name}").mkdir()
        (path / f"broken-{name}" / "index.html").write_text(
            f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Broken {name}'
            f'</title></head><body><main><article><h1>Broken {name}</h1>{body}</article></main>'
            "</body></html>")
    with StaticServer(path) as server:
        yield Site(path, server.base)


def test_broken_asset_is_caught(browser: Any, broken_site: Site) -> None:
    with open_page(browser, broken_site.base + "demo/replay/", broken_site.base) as (page, _v):
        problems = resource_problems(page, broken_site.checker)
    assert any("replay-a.mp4 -> 404" in p for p in problems), problems
    assert any("frames-b/epoch_0004.png -> 404" in p for p in problems), problems


def test_live_replay_without_its_data_shows_the_video(browser: Any, broken_site: Site) -> None:
    base = broken_site.base
    with open_page(browser, base + LIVE_PAGE_PATH, base) as (page, visit):
        page.locator("figure.nnx-replay").first.scroll_into_view_if_needed()
        page.wait_for_function("() => document.querySelector('figure.nnx-replay video')")
        video = page.locator("figure.nnx-replay").first.locator("video")
        page.wait_for_function("() => document.querySelector('figure.nnx-replay video').getAttribute('poster')")
        assert video.is_visible() and video.get_attribute("poster").endswith("poster.png")
        assert "could not load" in page.locator("figure.nnx-replay").first.inner_text()
        assert page.locator("figure.nnx-replay").first.locator("canvas").count() == 0
        problems = resource_problems(page, broken_site.checker)
    assert any("live replay binary" in p and "replay.bin -> 404" in p for p in problems), problems


def test_console_error_is_caught(browser: Any, broken_site: Site) -> None:
    with open_page(browser, broken_site.base + "broken-console/", broken_site.base) as (_p, visit):
        problems = console_problems(visit)
    assert any("deliberate console error" in p for p in problems), problems
    assert any("deliberate failure" in p for p in problems), problems


def test_external_request_is_caught(browser: Any, broken_site: Site) -> None:
    with open_page(browser, broken_site.base + "broken-external/", broken_site.base) as (page, visit):
        problems = external_request_problems(visit, broken_site.base)
        resources = resource_problems(page, broken_site.checker)
    assert problems == [f"{visit.url}: request to another host: https://example.com/x.png"]
    assert any("refers to another host" in p for p in resources)


def test_missing_alt_text_is_caught(browser: Any, broken_site: Site, axe_js: Path | str) -> None:
    with open_page(browser, broken_site.base + "broken-alt/", broken_site.base) as (page, _v):
        assert any("no meaningful alt text" in p for p in media_problems(page))
        if isinstance(axe_js, Path):
            assert any("image-alt" in p for p in axe_problems(page, axe_js))


# --------------------------------------------------------------------------------- the real site
# site/ has ~16 pages and each real-site check needs a cold-cache first load of every page (a
# fresh context: `open_page`), so the cost is in crawls. Five crawls carry every check: one per
# viewport (a first load at one viewport says nothing about another), each in one palette,
# alternating, so both palettes are checked on every page too. A single test per crawl keeps the
# failure, the printed "heaviest first load" line and the duration apart.
SEED000_PAGE = "replay/replaying-training/"  # screenshotted in both palettes


@dataclass(frozen=True)
class Crawl:
    """One visit of every real-site page at one viewport in one palette, and what it checks."""

    width: int
    height: int
    scheme: str  # "light" or "dark": the reader's prefers-color-scheme
    full: bool = False  # check_page's checks (console, http, resources, links, media, axe, ...)
    reveal: bool = False  # scroll through after the first load: lazy pictures are checked too
    screenshot: bool = False  # a full-page screenshot of the seed-000 page in this palette

    @property
    def label(self) -> str:
        return f"{self.scheme} palette at {self.width}x{self.height}"

    @property
    def other(self) -> str:
        return "dark" if self.scheme == "light" else "light"

    @property
    def viewport(self) -> dict[str, int]:
        return {"width": self.width, "height": self.height}


REAL_SITE_VIEWPORTS = [(1280, 900), (1920, 1080), (2560, 1440), (1080, 1920), (390, 844)]
CHECK_PAGE_CRAWL = Crawl(1280, 900, "light", full=True, reveal=True, screenshot=True)
VIEWPORT_CRAWLS = [
    Crawl(2560, 1440, "dark", reveal=True, screenshot=True),
    Crawl(1920, 1080, "light"),
    Crawl(1080, 1920, "dark"),
    Crawl(390, 844, "light"),
]


@pytest.fixture(scope="module")
def real_site() -> Iterator[Site]:
    """site/ as `nox -s build` made it (or $NNX_SITE_DIR), served for every real-site crawl."""
    site_dir = Path(os.environ.get("NNX_SITE_DIR", REPO_ROOT / "site"))
    if not (site_dir / "index.html").exists():
        pytest.skip(f"{site_dir} has not been built; run `nox -s build` first")
    with StaticServer(site_dir) as server:
        yield Site(site_dir, server.base)


def _other_palette_problems(page: Any, visit: PageVisit, path: str, crawl: Crawl) -> list[str]:
    """Pictures of the other palette the page fetched (requests so far, lazy ones if revealed)."""
    urls = page.evaluate(_PALETTE_URLS_JS)
    wrong = sorted(set(visit.requests) & (set(urls[crawl.other]) - set(urls[crawl.scheme])))
    return [f"/{path}: fetched the {crawl.other} palette's file {u}" for u in wrong]


def _largest(visit: PageVisit) -> str:
    top = sorted(visit.bytes_by_request.items(), key=lambda kv: -kv[1])[:5]
    return ", ".join(f"{u.rsplit('/', 1)[-1]} {n / 1024:.0f} KiB" for u, n in top)


def _seed000_shot(scheme: str) -> Path:
    return SCREENSHOTS / f"site-replaying-training-{scheme}.png"


def crawl_real_site(browser: Any, site: Site, crawl: Crawl,
                    axe: Path | str | None = None) -> tuple[dict[str, PageVisit], list[str]]:
    """Load every page once as ``crawl`` says; the visits, and every problem found.

    Each problem names its page; the caller adds the palette and viewport.
    """
    pages = site_pages(site.path)
    visits: dict[str, PageVisit] = {}
    problems: list[str] = []
    if crawl.screenshot and SEED000_PAGE not in pages:
        problems.append(f"/{SEED000_PAGE} (the seed-000 page) is missing: no {crawl.scheme} screenshot")
    for path in pages:
        if crawl.full:
            def extra(page: Any, visit: PageVisit, path: str = path) -> dict[str, list[str]]:
                if crawl.screenshot and path == SEED000_PAGE:  # check_page's screenshot, renamed
                    shutil.copyfile(_shot_name("site", path), _seed000_shot(crawl.scheme))
                return {"palette": _other_palette_problems(page, visit, path, crawl)}

            report = check_page(browser, site, path, axe, "site", extra, viewport=crawl.viewport,
                                color_scheme=crawl.scheme)
            visits[path] = report.visit
            problems += [p for ps in report.problems.values() for p in ps]
            continue
        with open_page(browser, site.base + path, site.base, viewport=crawl.viewport,
                       color_scheme=crawl.scheme) as (page, visit):
            if crawl.reveal:
                reveal_deferred(page)  # after the first-load measurement, as a reader scrolls
            problems += _other_palette_problems(page, visit, path, crawl)
            problems += external_request_problems(visit, site.base)
            if crawl.screenshot and path == SEED000_PAGE:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(_seed000_shot(crawl.scheme)), full_page=True)
        visits[path] = visit
    for path, visit in visits.items():
        n = visit.first_load_bytes
        if n >= FIRST_LOAD_BUDGET:
            problems.append(f"/{path}: first load {n} bytes ({n / 2**20:.2f} MiB), over the "
                            f"{FIRST_LOAD_BUDGET} byte budget; largest requests: {_largest(visit)}")
    return visits, problems


def assert_crawl_clean(crawl: Crawl, visits: dict[str, PageVisit], problems: list[str],
                       capsys: Any) -> None:
    """Print the crawl's heaviest first load (CI logs show it), then fail on any problem."""
    assert visits, f"{crawl.label}: the site has no pages"
    heaviest = max(visits, key=lambda p: visits[p].first_load_bytes)
    n = visits[heaviest].first_load_bytes
    with capsys.disabled():
        print(f"\nreal site, {crawl.label}: {len(visits)} pages; heaviest first load /{heaviest}: "
              f"{n} bytes ({n / 2**20:.2f} MiB); largest requests: {_largest(visits[heaviest])}")
    assert_none([f"{crawl.label}: {p}" for p in problems])


@pytest.mark.slow
def test_real_site(browser: Any, real_site: Site, axe_js: Path | str, capsys: Any) -> None:
    """site/ as `nox -s build` made it, in the light palette at 1280x900 (the default viewport).

    One crawl carries: every check_page check on every page (console errors, HTTP errors,
    requests to other hosts, resources and scrubber frames resolve, links resolve, accessible
    deferred media, axe serious/critical, the scrubber moves every panel, a full-page screenshot
    ``site-*.png``); every page's first load within FIRST_LOAD_BUDGET (light, 1280x900); no
    dark-palette picture fetched on any page, lazy ones included; and the light screenshot of
    the seed-000 page (``site-replaying-training-light.png``).
    """
    visits, problems = crawl_real_site(browser, real_site, CHECK_PAGE_CRAWL, axe_js)
    assert_crawl_clean(CHECK_PAGE_CRAWL, visits, problems, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("crawl", VIEWPORT_CRAWLS, ids=lambda c: f"{c.scheme}-{c.width}x{c.height}")
def test_real_site_first_load_within_budget_at_any_viewport(browser: Any, real_site: Site,
                                                            capsys: Any, crawl: Crawl) -> None:
    """Large screens show more at once; deferred media must still keep first loads small.

    One crawl per viewport, in the palette the crawl names. Each carries: every page's first
    load within FIRST_LOAD_BUDGET at that viewport in that palette; no picture of the other
    palette fetched during the first load; no request to another host. The dark crawl at
    2560x1440 also scrolls through every page (reveal_deferred), so the dark-palette check
    covers lazy pictures as the light one does in test_real_site, and takes the dark
    screenshot of the seed-000 page (``site-replaying-training-dark.png``).
    """
    visits, problems = crawl_real_site(browser, real_site, crawl)
    assert_crawl_clean(crawl, visits, problems, capsys)


def test_real_site_crawls_cover_every_viewport_and_both_palettes() -> None:
    """The crawl table keeps every check the seven former crawls made (guards later edits)."""
    crawls = [CHECK_PAGE_CRAWL, *VIEWPORT_CRAWLS]
    assert sorted((c.width, c.height) for c in crawls) == sorted(REAL_SITE_VIEWPORTS)
    assert [c for c in crawls if c.full] == [CHECK_PAGE_CRAWL]
    for scheme in ("light", "dark"):
        assert any(c.scheme == scheme and c.reveal for c in crawls), scheme
        assert [c.scheme for c in crawls if c.screenshot].count(scheme) == 1, scheme

"""The live replay pages, and the seed-000 explainer against DeepReplay, measured.

Sections of ``python -m benchmarks`` (see :mod:`benchmarks.suite`):

* ``pageweight``: every page with a live replay (the ``replay(...)`` shortcode), built from
  this checkout (the replay recipes, quick profile, and ``mkdocs build``; or ``--site DIR``, a
  site already built: the whole site's search index is part of every first load), opened in
  Chromium at each of the crawls' viewports in a fresh context: the bytes received before the
  reader does anything (navigation to network idle, no scroll), uncompressed as the crawls
  count them, and as GitHub Pages serves them (text gzipped; images and ``.bin`` as they are).
  Target: the heaviest replay page's first load <= 1 MB at any viewport, uncompressed.
* ``scrubfps``: on the seed-000 page of that site (2,000 points, 201 epochs in the full
  profile, every recorded epoch in the quick one), the slider moved one epoch per animation
  frame for ``frames`` frames, with a point hovered (its path drawn) half of the time: frames
  per second from ``requestAnimationFrame``'s timestamps, and the script's own milliseconds
  per redraw. Target: >= 50 fps.
* ``deepreplay``: ``../shared/anchors/deepreplay/side_by_side.sh`` (its README), which times
  DeepReplay's seed-000 run (train, then replay: a still and a 201-frame MP4) and a forced
  full-profile build of our seed-000 recipe one after the other in one run. DeepReplay is
  installed, as its README says, into a throwaway virtual environment
  (``build/bench-deepreplay/venv``, or ``$NNX_DEEPREPLAY_PY``) on first use. Our side runs in a
  copy of the recipe (its own build folder, nothing of this checkout's store touched); a
  checkout elsewhere names the anchor with ``$NNX_DEEPREPLAY_ANCHOR``. Ratios:
  DeepReplay's seconds over the build's wall time (the script's), and over the recipe's kernel
  start to its last file (the manifest's ``execute``). Target: >= 10x. Never a stored
  constant: without the anchor or DeepReplay the section fails with the reason.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_build import REPO_ROOT, BenchError, TempProject

log = logging.getLogger(__name__)

SEED000 = "replaying-training"
PAGE_WEIGHT_TARGET = 1_000_000  # bytes: "the heaviest replay page's first load <= 1 MB"
SCRUB_FPS_TARGET = 50.0
DEEPREPLAY_TARGET = 10.0
#: The crawls' viewports (tests/browser/test_browser.py REAL_SITE_VIEWPORTS).
VIEWPORTS = ((1280, 900), (1920, 1080), (2560, 1440), (1080, 1920), (390, 844))
#: The DeepReplay anchor (its README, bench.py, side_by_side.sh): ``$NNX_DEEPREPLAY_ANCHOR``,
#: else ``../shared/anchors/deepreplay`` beside the checkout.
ANCHOR = Path(os.environ.get("NNX_DEEPREPLAY_ANCHOR")
              or REPO_ROOT.parent / "shared" / "anchors" / "deepreplay")
DEEPREPLAY_PACKAGES = (["tensorflow-cpu==2.15.*", "keras==2.15.*", "matplotlib<3.8",
                        "numpy==1.26.4", "pandas<2.3", "seaborn==0.13.2", "h5py", "scikit-learn",
                        "imageio-ffmpeg"], ["--no-deps", "deepreplay==0.1.2a2"])


def replay_slugs(content: Path) -> list[str]:
    """The recipes whose pages draw a live replay."""
    from pipeline.builder.recipes import discover_all

    recipes, _ = discover_all(content)
    return sorted(r.slug for r in recipes
                  if r.page is not None and "{{ replay(" in r.page.read_text(encoding="utf-8"))


def build_replay_site(content: Path, root: Path, *, data_dir: Path | None = None,
                      profile: str = "quick") -> tuple[Path, dict[str, Any]]:
    """The replay recipes built (``profile``) and the site made from them: ``(site, build)``."""
    slugs = replay_slugs(content)
    if not slugs:
        raise BenchError(f"no page under {content} draws a live replay")
    project = TempProject(root, content, slugs, profile=profile, data_dir=data_dir)
    run = project.build("replay-pages", root / "build", jobs=None)
    site = root / "site"
    result = project.site(root / "build", site)
    if result["exit_code"] != 0:
        raise BenchError(f"mkdocs build of the replay pages failed:\n{result.get('error', '')}")
    return site, {"recipes": slugs, "build_s": round(run.wall_s, 1), "site_s": result["wall_s"]}


def _browser() -> Any:
    from tests.browser_support import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        raise BenchError(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    return pw, pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def _live_pages(site: Path) -> list[str]:
    """The pages of ``site`` that hold a live replay figure."""
    from tests.browser_support import site_pages

    out = []
    for path in site_pages(site):
        html = site / path if path.endswith(".html") else site / path / "index.html"
        if 'class="nnx-replay' in html.read_text(encoding="utf-8", errors="replace"):
            out.append(path)
    return out


#: What GitHub Pages sends gzipped (by suffix); everything else goes as it is.
GZIPPED = (".html", ".css", ".js", ".json", ".svg", ".xml", ".txt", ".map")


def served_bytes(site: Path, base: str, url: str, decoded: int) -> int:
    """The bytes GitHub Pages would send for ``url`` (a file of ``site``): gzip for text."""
    if not url.startswith(base):
        return decoded
    rel = url[len(base):].split("#", 1)[0].split("?", 1)[0]
    path = site / rel
    if path.is_dir() or rel.endswith("/") or not rel:
        path = path / "index.html"
    if not path.is_file() or not path.name.endswith(GZIPPED):
        return decoded
    return len(gzip.compress(path.read_bytes(), compresslevel=6))


def bench_page_weight(site: Path) -> dict[str, Any]:
    """``pageweight``: first-load bytes of every live replay page at every viewport."""
    from tests.browser_support import StaticServer, open_page

    pages = _live_pages(site)
    if not pages:
        raise BenchError(f"{site}: no page with a live replay")
    pw, browser = _browser()
    result: dict[str, Any] = {"pages": {}, "viewports": [f"{w}x{h}" for w, h in VIEWPORTS]}
    try:
        with StaticServer(site) as server:
            for path in pages:
                row: dict[str, Any] = {}
                for w, h in VIEWPORTS:
                    with open_page(browser, server.base + path, server.base,
                                   viewport={"width": w, "height": h}) as (page, visit):
                        top = sorted(visit.bytes_by_request.items(), key=lambda kv: -kv[1])[:4]
                        served = sum(served_bytes(site, server.base, u, n)
                                     for u, n in visit.bytes_by_request.items())
                        row[f"{w}x{h}"] = {
                            "bytes": visit.first_load_bytes, "served_bytes": served,
                            "largest": [[u.rsplit("/", 1)[-1], n] for u, n in top],
                            "live_data_loaded": any(u.endswith((".json", ".bin"))
                                                    and "/assets/" in u and "_nnx" not in u
                                                    for u in visit.requests)}
                result["pages"][path] = row
    finally:
        browser.close()
        pw.stop()
    heaviest = max(((p, v, r["bytes"]) for p, row in result["pages"].items()
                    for v, r in row.items()), key=lambda t: t[2])
    result["heaviest"] = {"page": heaviest[0], "viewport": heaviest[1], "bytes": heaviest[2],
                          "served_bytes": result["pages"][heaviest[0]][heaviest[1]]["served_bytes"]}
    result["heaviest_served_bytes"] = max(r["served_bytes"] for row in result["pages"].values()
                                          for r in row.values())
    result["target_bytes"] = PAGE_WEIGHT_TARGET
    result["ok"] = heaviest[2] <= PAGE_WEIGHT_TARGET
    data = {}
    for json_path in sorted((site / "assets").glob("*/*.json")):
        text = json_path.read_text(encoding="utf-8", errors="replace")
        if '"nnx-replay-data"' in text[:200]:
            binary = json_path.with_suffix(".bin")
            data[f"{json_path.parent.name}/{json_path.name}"] = {
                "index_bytes": json_path.stat().st_size,
                "binary_bytes": binary.stat().st_size if binary.exists() else None}
    result["replay_data"] = data
    assets = REPO_ROOT / "pipeline" / "site" / "assets"
    result["scripts_bytes"] = {p.name: p.stat().st_size for p in sorted(assets.glob("nnx-replay*.js"))}
    return result


_SCRUB_JS = """async ([frames, hover]) => {
  const g = window.nnxReplay.groups[0];
  g.stop();
  const view = g.views[0], feature = view.panels.find(p => p.kind === 'feature') || view.panels[0];
  const n = g.epochs.length, stamps = [], draws = [];
  await new Promise(done => {
    let k = 0;
    const tick = (now) => {
      stamps.push(now);
      if (hover && k === Math.floor(frames / 2)) g.setHover({type: 'point', index: 7, run: 0});
      const t0 = performance.now();
      g.seek(k % n, {now: true});
      draws.push(performance.now() - t0);
      if (++k < frames) requestAnimationFrame(tick); else done();
    };
    requestAnimationFrame(tick);
  });
  return {stamps, draws, points: view.run.n, epochs: n, hovered: !!feature.shownPath};
}"""


def bench_scrub_fps(site: Path, *, frames: int = 400, path: str | None = None) -> dict[str, Any]:
    """``scrubfps``: the seed-000 page's replay moved one epoch per animation frame."""
    from tests.browser_support import StaticServer, open_page

    page_path = path or f"replay/{SEED000}/"
    if not (site / page_path / "index.html").exists():
        raise BenchError(f"{site}: no {page_path} (build the seed-000 recipe and the site)")
    pw, browser = _browser()
    try:
        with StaticServer(site) as server:
            with open_page(browser, server.base + page_path, server.base,
                           viewport={"width": 1280, "height": 900},
                           reduced_motion="reduce") as (page, _visit):
                page.locator("figure.nnx-replay").first.scroll_into_view_if_needed()
                page.wait_for_function("() => document.querySelector('figure.nnx-replay')"
                                       ".classList.contains('nnx-replay-live')", timeout=30_000)
                out = page.evaluate(_SCRUB_JS, [frames, True])
                width = page.evaluate("document.querySelector('.nnx-rp-grid').clientWidth")
    finally:
        browser.close()
        pw.stop()
    stamps, draws = out["stamps"], sorted(out["draws"])
    elapsed = stamps[-1] - stamps[0]
    fps = (len(stamps) - 1) / elapsed * 1000 if elapsed > 0 else float("inf")
    return {"page": page_path, "points": out["points"], "epochs": out["epochs"],
            "frames": len(stamps), "fps": round(fps, 1),
            "draw_ms_mean": round(sum(draws) / len(draws), 2),
            "draw_ms_p95": round(draws[int(0.95 * (len(draws) - 1))], 2),
            "draw_ms_max": round(draws[-1], 2), "hovered_path": out["hovered"],
            "figure_width_px": width, "target_fps": SCRUB_FPS_TARGET,
            "ok": fps >= SCRUB_FPS_TARGET}


# ------------------------------------------------------------------------------ DeepReplay
def deepreplay_python(root: Path | None = None) -> Path:
    """The Python of a virtual environment with DeepReplay (its README's install), made on
    first use: ``$NNX_DEEPREPLAY_PY``, else ``build/bench-deepreplay/venv``."""
    given = os.environ.get("NNX_DEEPREPLAY_PY")
    if given:
        if not Path(given).exists():
            raise BenchError(f"NNX_DEEPREPLAY_PY={given}: no such Python")
        return Path(given)
    venv = (root or REPO_ROOT / "build" / "bench-deepreplay") / "venv"
    python = venv / "bin" / "python"
    marker = venv / ".deepreplay-installed"
    if python.exists() and marker.exists():
        return python
    base = shutil.which("python3.11") or sys.executable
    log.info("installing DeepReplay into %s (its README's recipe; about 2 minutes, 1.5 GB)", venv)
    steps = [[base, "-m", "venv", "--clear", str(venv)],
             [str(python), "-m", "pip", "install", "-q", *DEEPREPLAY_PACKAGES[0]],
             [str(python), "-m", "pip", "install", "-q", *DEEPREPLAY_PACKAGES[1]]]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0:
            raise BenchError(f"installing DeepReplay failed at {' '.join(cmd[:4])} ...:\n"
                             f"{proc.stderr[-3000:]}")
    marker.write_text("ok\n")
    return python


def _rows(text: str) -> dict[str, tuple[float, int]]:
    out = {}
    for label in ("dr_train", "dr_replay", "nnx_full"):
        m = re.search(rf"^{label} ([\d.]+) (\d+)$", text, re.MULTILINE)
        if m:
            out[label] = (float(m.group(1)), int(m.group(2)))
    return out


def bench_deepreplay(content: Path, root: Path, *, data_dir: Path | None = None,
                     anchor: Path = ANCHOR) -> dict[str, Any]:
    """``deepreplay``: side_by_side.sh, DeepReplay and our full-profile seed-000 build."""
    script = anchor / "side_by_side.sh"
    if not script.exists():
        raise BenchError(f"{script} is missing: the DeepReplay anchor lives in "
                         "../shared/anchors/deepreplay (or set NNX_DEEPREPLAY_ANCHOR)")
    dr_py = deepreplay_python()
    project = TempProject(root / "project", content, [SEED000], profile="full",
                          data_dir=data_dir)
    # The script runs `python -m pipeline build` in NNX_REPO: with a copy of the package there,
    # that copy is imported (its folder first on sys.path), so the build uses the copy's
    # content/ and build/, never this checkout's store.
    shutil.copytree(REPO_ROOT / "pipeline", project.root / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    # ... and the build command reads the site's folders from the mkdocs.yml where it runs
    data = data_dir or (REPO_ROOT.parent / "shared" / "datasets")
    (project.root / "mkdocs.yml").write_text(
        "site_name: DeepReplay side by side\ndocs_dir: content\ntheme:\n  name: material\n"
        "plugins:\n  - nn-explainers:\n      build_dir: build\n"
        + (f"      data_dir: {data}\n" if data.is_dir() else ""))
    env = {**os.environ, "DR_PY": str(dr_py), "NNX_PY": sys.executable,
           "NNX_REPO": str(project.root), "DR_WORK": str(root / "dr-work"),
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    (root / "dr-work").mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    start = time.perf_counter()
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env,
                          timeout=3600)
    wall = time.perf_counter() - start
    rows = _rows(proc.stdout)
    if proc.returncode != 0 or set(rows) != {"dr_train", "dr_replay", "nnx_full"}:
        raise BenchError(f"side_by_side.sh failed (exit {proc.returncode}):\n"
                         f"{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    from pipeline.builder.store import BuildDir

    current = BuildDir(project.root / "build").current_entry(SEED000)
    if current is None:
        raise BenchError("side_by_side.sh ran, but our build published no seed-000 result")
    manifest = current[1]
    execute = float(manifest["timings"]["execute"])
    dr_s = rows["dr_train"][0] + rows["dr_replay"][0]
    ours = rows["nnx_full"][0]
    assets = current[0] / "assets"
    return {
        "deepreplay_train_s": rows["dr_train"][0], "deepreplay_replay_s": rows["dr_replay"][0],
        "deepreplay_s": round(dr_s, 1),
        "deepreplay_peak_gb": round(max(rows["dr_train"][1], rows["dr_replay"][1]) / 1e6, 2),
        "ours_build_s": ours, "ours_peak_gb": round(rows["nnx_full"][1] / 1e6, 2),
        "ours_kernel_to_last_file_s": round(execute, 2),
        "ours_timings": manifest["timings"],
        "ratio_build": round(dr_s / ours, 2),
        "ratio_kernel_to_last_file": round(dr_s / execute, 2),
        "target": DEEPREPLAY_TARGET, "ok": dr_s / execute >= DEEPREPLAY_TARGET,
        "our_files_mb": round(sum(p.stat().st_size for p in assets.rglob("*") if p.is_file())
                              / 1e6, 2),
        "script_output": proc.stdout.strip().splitlines()[-4:],
        "load_1m_before": None if load is None else round(load, 2),
        "wall_s": round(wall, 1),
        "deepreplay_python": str(dr_py),
    }


def summary_rows(results: dict[str, Any], row: Any) -> list[dict[str, Any]]:
    """Rows for :func:`benchmarks.suite.summarize` (``row`` is its row factory)."""
    rows = []
    weight = results.get("pageweight")
    if weight:
        top = weight["heaviest"]
        data = ", ".join(f"{k} {v['index_bytes'] + (v['binary_bytes'] or 0)} B"
                         for k, v in weight["replay_data"].items())
        rows.append(row("heaviest live replay page, first load (bytes)", top["bytes"],
                        f"<= {PAGE_WEIGHT_TARGET:,}", weight["ok"],
                        f"/{top['page']} at {top['viewport']} ({top['served_bytes']:,} as "
                        f"GitHub Pages serves it, gzip); replay data: {data}"))
    fps = results.get("scrubfps")
    if fps:
        rows.append(row("scrubbing the seed-000 replay (fps, Chromium)", fps["fps"],
                        f">= {SCRUB_FPS_TARGET:g}", fps["ok"],
                        f"{fps['points']} points, {fps['epochs']} epochs, {fps['frames']} "
                        f"frames; redraw {fps['draw_ms_mean']} ms mean, {fps['draw_ms_p95']} "
                        f"ms p95"))
    dr = results.get("deepreplay")
    if dr:
        rows.append(row("seed-000 full: DeepReplay / ours, kernel start to last file (x)",
                        dr["ratio_kernel_to_last_file"], f">= {DEEPREPLAY_TARGET:g}", dr["ok"],
                        f"DeepReplay {dr['deepreplay_s']} s (side_by_side.sh) vs "
                        f"{dr['ours_kernel_to_last_file_s']} s; whole build "
                        f"{dr['ours_build_s']} s ({dr['ratio_build']}x)"))
    return rows

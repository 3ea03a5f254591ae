"""``python -m benchmarks`` (``nox -s bench``): every benchmark side by side in one run.

Sections (``--skip`` takes their names or the letters):

* ``build`` (a): cold build vs warm no-change rebuild vs prose-only rebuild of the recipe
  subset, in a temporary copy of the project; warm/cold target < 3 %, and a prose edit must
  re-execute 0 recipes. The cold build is the ``--jobs 1`` cold build of section ``jobs``.
* ``jobs`` (d): cold ``--jobs 2`` vs cold ``--jobs 1`` of the same subset (target >= 1.6x),
  and whether both published the same assets (metrics equal, images within the tolerance).
* ``threads``: the same pair with ``NNX_KERNEL_THREADS=1`` (one thread per kernel, no
  oversubscription; see :mod:`pipeline.builder.parallel`). Not in ``--quick``.
* ``site``: ``mkdocs build --strict`` of the copy (always renders every page; not cached).
* ``incremental``: after the cold build, a rebuild once a comment is added to
  ``pipeline/library/explainers/cifar_views.py`` (only the recipes that import it re-execute)
  and once to ``pipeline/builder/progress.py`` (none), as ratios against the cold build; in a
  copy of the package.
* ``training`` (b): ``fit_fast`` vs plain ``model.fit`` for each replay recipe's model.
* ``rendering`` (c): in-place / blitted panel rendering vs a full redraw, frames per second.
* ``recording``: ``fit_fast`` on the seed-000 model with and without the replay recorder
  (recording every epoch on all 2,000 points); target: at most 20 % slower.
* ``firstbuild``, ``explainer``, ``render`` (:mod:`benchmarks.bench_firstbuild`): a cold quick
  build of every recipe before (serial, cold kernels) and after (automatic ``--jobs``, warm
  kernels), with per-recipe seconds, the warm-kernel saving and the peak memory; the seed-000
  explainer's full profile against DeepReplay's 142 s (target >= 10x) and our time for
  DeepReplay's own work; serial against parallel replay rendering (same files?).
  ``firstbuild`` and ``explainer`` are left out of ``--quick``.
* ``palettes``: the seed-000 explainer (training + full-profile render) drawing one palette vs
  light and dark (:mod:`benchmarks.bench_palette`); target: at most 1.2x.
* ``stops``: seconds from Ctrl-C to the exit of a ``--jobs 2`` build (target 15 s) and how long
  a recipe runs past its ``timeout`` (target 60 s) (:mod:`benchmarks.bench_stops`; the fault
  tests check only that a build stops cleanly).
* ``pageweight``, ``scrubfps``, ``deepreplay`` (:mod:`benchmarks.bench_live`): the heaviest
  live replay page's first load in Chromium (<= 1 MB), the seed-000 replay scrubbed one epoch
  per animation frame with 2,000 points (>= 50 fps), and DeepReplay against our full-profile
  seed-000 explainer timed side by side by ``../shared/anchors/deepreplay/side_by_side.sh``
  (>= 10x; DeepReplay is installed into ``build/bench-deepreplay/`` on first use). The first
  two share one build of the replay recipes and their site (or ``--site DIR``);
  ``deepreplay`` is left out of ``--quick``.

The results, with the commit, date, machine and package versions, go to ``build/bench.json``
(``--out``) and a copy to ``build/bench-history/`` so runs can be compared across commits.
Timings on a shared machine vary by 10-20 %: compare numbers from one quiet run.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.bench_build import (
    REPO_ROOT,
    BenchError,
    TempProject,
    available_recipes,
    bench_incremental,
    bench_jobs,
    bench_rebuilds,
    compare_builds,
    select_recipes,
)
from pipeline.library.precision import ONEDNN_DEFAULT

log = logging.getLogger("benchmarks")

SCHEMA = 1
SECTIONS = ("build", "jobs", "threads", "site", "incremental", "training", "rendering",
            "recording", "firstbuild", "explainer", "render", "palettes", "stops", "pageweight",
            "scrubfps", "deepreplay")
LETTERS = {"a": "build", "b": "training", "c": "rendering", "d": "jobs"}
BUILD_SECTIONS = ("build", "jobs", "threads", "site", "incremental")

WARM_TARGET = 0.03
JOBS_TARGET = 1.6
FIT_TARGET = 5.0
RENDER_TARGET = 3.0
RECORDING_TARGET = 0.20
PALETTES_TARGET = 1.2


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is: the real sizes, or the smallest that still exercise it."""

    training_epochs: int | None  # None: each model's own epochs
    rendering: dict[str, int] = field(default_factory=dict)
    repeats: int = 3
    recording: dict[str, int] = field(default_factory=dict)


FULL = Sizes(None, {"frames": 200, "slow_frames": 30, "epochs": 200}, repeats=3,
             recording={"epochs": 200, "repeats": 3})
QUICK = Sizes(2, {"frames": 4, "slow_frames": 2, "epochs": 4}, repeats=1,
              recording={"epochs": 2, "repeats": 1})
PALETTE_EPOCHS = {"full": 200, "quick": 4}


def parse_sections(text: str) -> list[str]:
    names = []
    for raw in filter(None, (t.strip().lower() for t in text.split(","))):
        name = LETTERS.get(raw, raw)
        if name not in SECTIONS:
            raise argparse.ArgumentTypeError(
                f"unknown section {raw!r}; choose from {', '.join(SECTIONS)} (or a, b, c, d)")
        names.append(name)
    return names


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smallest sizes (2 epochs, 4 frames, one repeat, no threads pair)")
    parser.add_argument("--skip", type=parse_sections, default=[],
                        help=f"comma-separated sections to leave out: {', '.join(SECTIONS)} "
                             "(or the letters a=build, b=training, c=rendering, d=jobs)")
    parser.add_argument("--recipes", type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                        default=None, help="comma-separated recipe slugs for the build "
                        "benchmarks (default: the three cheapest real recipes)")
    parser.add_argument("--content-dir", type=Path, default=REPO_ROOT / "content",
                        help="where the recipes come from (default: content/)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="passed to the builds (default: the build's own default)")
    parser.add_argument("--profile", default="quick", help="build profile (default quick)")
    parser.add_argument("--jobs", type=int, default=2, help="workers of the parallel build")
    parser.add_argument("--repeats", type=int, default=None,
                        help="warm and prose rebuilds, best counts (default 3; 1 with --quick)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "bench.json",
                        help="where the JSON goes (default build/bench.json)")
    parser.add_argument("--no-issue-day", dest="issue_day", action="store_false",
                        help="firstbuild: leave out the issue-day serial build (needs the git "
                             "history of that commit; about 5 minutes)")
    parser.add_argument("--no-warm-pair", dest="warm_pair", action="store_false",
                        help="firstbuild: leave out the --jobs 1 cold/warm pair that measures "
                             "the warm-kernel saving alone")
    parser.add_argument("--warm-pair-recipes",
                        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
                        default=None, help="firstbuild: the cold/warm --jobs 1 pair on these "
                        "recipes only (default: all)")
    parser.add_argument("--site", type=Path, default=None,
                        help="pageweight, scrubfps: measure this built site instead of building "
                             "the replay recipes (quick) and their site")
    parser.add_argument("--no-serial", dest="serial", action="store_false",
                        help="firstbuild: leave out the serial cold build (before)")
    parser.add_argument("--no-fork-pair", dest="fork_pair", action="store_false",
                        help="firstbuild: leave out the build with kernels spawned instead of "
                             "forked from a zygote")
    parser.add_argument("--pair-repeats", type=int, default=1,
                        help="firstbuild: forked/spawned builds alternated this many times "
                             "(medians; default 1)")
    parser.add_argument("--no-fresh-caches", dest="fresh_caches", action="store_false",
                        help="firstbuild: leave out the build with empty per-user caches")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary project and its build folders (path logged)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser


def run_benchmarks(args: argparse.Namespace) -> dict[str, Any]:
    """Run the selected sections; return the whole report (also what goes to the JSON)."""
    from benchmarks.machine import git_facts, load_average, now_iso

    sizes = QUICK if args.quick else FULL
    repeats = args.repeats or sizes.repeats
    skipped = set(args.skip) | ({"threads", "firstbuild", "explainer", "deepreplay"}
                                if args.quick else set())
    enabled = [s for s in SECTIONS if s not in skipped]
    started = time.perf_counter()
    load_before = load_average()
    cpus = os.cpu_count() or 1
    if load_before and load_before[0] > 0.5 * cpus:
        log.warning("the machine is busy (load %.1f on %d CPUs): timings will be noisy",
                    load_before[0], cpus)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "command": "python -m benchmarks",
        "date": now_iso(),
        "git": git_facts(),
        "options": {"quick": bool(args.quick), "profile": args.profile, "jobs": args.jobs,
                    "repeats": repeats, "sections": enabled, "skipped": sorted(skipped),
                    "content_dir": str(args.content_dir)},
        "results": {},
        "errors": {},
    }
    results, errors = report["results"], report["errors"]

    if any(s in enabled for s in BUILD_SECTIONS):
        try:
            slugs = select_recipes(available_recipes(args.content_dir), args.recipes)
        except BenchError as exc:
            for s in BUILD_SECTIONS:
                if s in enabled:
                    errors[s] = str(exc)
        else:
            report["options"]["recipes"] = slugs
            _build_sections(args, slugs, enabled, repeats, results, errors)

    if "training" in enabled:
        _section("training", results, errors, lambda: _training(sizes))
    if "rendering" in enabled:
        _section("rendering", results, errors, lambda: _rendering(sizes))
    if "recording" in enabled:
        _section("recording", results, errors, lambda: _recording(sizes))
    _first_build_sections(args, sizes, enabled, results, errors)
    if "palettes" in enabled:
        _section("palettes", results, errors, lambda: _palettes(sizes))
    if "stops" in enabled:
        from benchmarks.bench_stops import bench_stops

        _section("stops", results, errors, bench_stops)
    _live_sections(args, enabled, results, errors)

    from benchmarks.machine import machine_facts, package_versions

    report["machine"] = {**machine_facts(), "load_before": load_before,
                         "load_after": load_average()}
    report["versions"] = package_versions()
    report["summary"] = summarize(results)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _section(name: str, results: dict[str, Any], errors: dict[str, str], fn: Any) -> None:
    log.info("[%s]", name)
    try:
        results[name] = fn()
    except Exception as exc:  # one broken benchmark must not hide the others
        log.error("%s failed: %s", name, exc)
        log.debug("%s failed", name, exc_info=True)
        errors[name] = f"{type(exc).__name__}: {exc}"


def _build_sections(args: argparse.Namespace, slugs: list[str], enabled: list[str],
                    repeats: int, results: dict[str, Any], errors: dict[str, str]) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="nnx-bench-"))
    try:
        project = TempProject(tmp, args.content_dir, slugs, profile=args.profile,
                              data_dir=args.data_dir)
        log.info("recipes: %s (temporary project %s)", ", ".join(slugs), tmp)
        try:
            cold = project.build("cold-jobs1", tmp / "build-jobs1")
        except Exception as exc:
            for s in BUILD_SECTIONS:
                if s in enabled:
                    errors[s] = f"the cold --jobs 1 build failed: {exc}"
            return
        if "jobs" in enabled:
            _section("jobs", results, errors,
                     lambda: bench_jobs(project, tmp, cold, jobs=args.jobs, label="default"))
        if "build" in enabled:
            _section("build", results, errors,
                     lambda: bench_rebuilds(project, Path(cold.build_dir), cold, repeats))
        if "site" in enabled:
            _section("site", results, errors,
                     lambda: project.site(Path(cold.build_dir), tmp / "site"))
        if "threads" in enabled:
            _section("threads", results, errors,
                     lambda: _threads(project, tmp, cold, args.jobs))
        if "incremental" in enabled:
            _section("incremental", results, errors,
                     lambda: bench_incremental(project, tmp, cold))
    finally:
        if args.keep:
            log.info("kept %s", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _first_build_sections(args: argparse.Namespace, sizes: Sizes, enabled: list[str],
                          results: dict[str, Any], errors: dict[str, str]) -> None:
    """``firstbuild``, ``explainer`` and ``render`` (see :mod:`benchmarks.bench_firstbuild`)."""
    from benchmarks import bench_firstbuild as fb

    for name in ("firstbuild", "explainer"):
        if name not in enabled:
            continue
        tmp = Path(tempfile.mkdtemp(prefix=f"nnx-bench-{name}-"))
        try:
            if name == "firstbuild":
                _section(name, results, errors, lambda tmp=tmp: fb.bench_first_build(
                    args.content_dir, tmp, data_dir=args.data_dir, profile=args.profile,
                    issue_day=args.issue_day, with_warm_pair=args.warm_pair,
                    warm_pair_recipes=args.warm_pair_recipes, with_serial=args.serial,
                    with_fork_pair=args.fork_pair, with_fresh_caches=args.fresh_caches,
                    pair_repeats=args.pair_repeats))
            else:
                _section(name, results, errors, lambda tmp=tmp: fb.bench_seed000_explainer(
                    args.content_dir, tmp, data_dir=args.data_dir))
        finally:
            if args.keep:
                log.info("kept %s", tmp)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    if "render" in enabled:
        epochs = sizes.rendering.get("epochs", 200)
        _section("render", results, errors, lambda: fb.bench_parallel_render(epochs=epochs))


def _live_sections(args: argparse.Namespace, enabled: list[str], results: dict[str, Any],
                   errors: dict[str, str]) -> None:
    """``pageweight`` and ``scrubfps`` on one site (built here unless ``--site``); ``deepreplay``."""
    from benchmarks import bench_live

    wanted = [s for s in ("pageweight", "scrubfps") if s in enabled]
    tmp = Path(tempfile.mkdtemp(prefix="nnx-bench-live-"))
    try:
        if wanted:
            site = args.site
            built: dict[str, Any] = {}
            if site is None:
                try:
                    site, built = bench_live.build_replay_site(args.content_dir, tmp / "site-build",
                                                               data_dir=args.data_dir)
                except Exception as exc:  # both sections need the site
                    for name in wanted:
                        errors[name] = f"building the replay pages failed: {exc}"
                    wanted = []
            if "pageweight" in wanted:
                assert site is not None
                _section("pageweight", results, errors,
                         lambda: {**bench_live.bench_page_weight(site), "site_build": built})
            if "scrubfps" in wanted:
                assert site is not None
                _section("scrubfps", results, errors, lambda: bench_live.bench_scrub_fps(site))
        if "deepreplay" in enabled:
            _section("deepreplay", results, errors, lambda: bench_live.bench_deepreplay(
                args.content_dir, tmp / "deepreplay", data_dir=args.data_dir))
    finally:
        if args.keep:
            log.info("kept %s", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _threads(project: TempProject, tmp: Path, cold: Any, jobs: int) -> dict[str, Any]:
    env = {"NNX_KERNEL_THREADS": "1"}
    serial = project.build("threads1-jobs1", tmp / "threads1-jobs1", env=env)
    result = bench_jobs(project, tmp, serial, jobs=jobs, env=env, label="threads1")
    default = compare_builds(Path(cold.build_dir), Path(serial.build_dir), project.slugs)
    result["same_assets_as_default_threads"] = default["same"]
    result["default_threads_comparison"] = default
    result["speedup_vs_default_jobs1"] = round(cold.wall_s / result["parallel"]["wall_s"], 4)
    result["serial_over_default_serial"] = round(serial.wall_s / cold.wall_s, 4)
    return result


def _training(sizes: Sizes) -> dict[str, Any]:
    from benchmarks.bench_replay import TRAINING_CASES, bench_training

    out = {}
    for case in TRAINING_CASES:
        log.info("training: %s", case)
        out[case] = bench_training(epochs=sizes.training_epochs, case=case)
    return out


def _rendering(sizes: Sizes) -> dict[str, Any]:
    from benchmarks.bench_replay import bench_rendering

    return bench_rendering(**sizes.rendering)


def _recording(sizes: Sizes) -> dict[str, Any]:
    from benchmarks.bench_replay import bench_recording

    return bench_recording(**sizes.recording)


def _palettes(sizes: Sizes) -> dict[str, Any]:
    from benchmarks.bench_palette import bench_palettes

    return bench_palettes(epochs=PALETTE_EPOCHS["quick" if sizes is QUICK else "full"])


# -- the summary ---------------------------------------------------------------------------------

def _row(name: str, value: Any, target: str = "", ok: bool | None = None,
         note: str = "") -> dict[str, Any]:
    return {"name": name, "value": value, "target": target, "ok": ok, "note": note}


def summarize(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The headline ratios, each with its target and whether it was met (None: no target)."""
    rows = []
    build = results.get("build")
    if build:
        warm = build["warm_over_cold"]
        rows.append(_row("warm no-change rebuild / cold build", warm, f"< {WARM_TARGET:.0%}",
                         warm is not None and warm < WARM_TARGET,
                         f"{build['warm_s']:.2f} s / {build['cold_s']:.1f} s"))
        rows.append(_row("prose-only rebuild / cold build", build["prose_over_cold"], "", None,
                         f"{build['prose_s']:.2f} s / {build['cold_s']:.1f} s"))
        rows.append(_row("recipes re-executed after a prose edit", build["prose_reexecuted"],
                         "0", build["prose_reexecuted"] == 0))
        rows.append(_row("recipes re-executed by a warm rebuild", build["warm_reexecuted"],
                         "0", build["warm_reexecuted"] == 0, _key_note(build)))
    incremental = results.get("incremental")
    for name, label in (("library", "a library module"), ("build_tool", "a build-tool module")):
        if incremental and name in incremental:
            res = incremental[name]
            rows.append(_row(f"rebuild after editing {label} / cold build", res["over_cold"], "",
                             None, f"{res['wall_s']:.2f} s / {incremental['cold_s']:.1f} s; "
                             f"{res['edited']}; re-executed: "
                             f"{', '.join(res['reexecuted']) or 'none'}"))
    for key, label in (("jobs", "default threads"), ("threads", "NNX_KERNEL_THREADS=1")):
        jobs = results.get(key)
        if not jobs:
            continue
        n = jobs["jobs"]
        rows.append(_row(f"--jobs {n} speedup over --jobs 1 ({label})", jobs["speedup"],
                         f">= {JOBS_TARGET}", jobs["speedup"] is not None
                         and jobs["speedup"] >= JOBS_TARGET,
                         f"{jobs['serial_s']:.1f} s / {jobs['parallel_s']:.1f} s; at most "
                         f"{jobs['speedup_bound']:.2f}x for these run times"))
        rows.append(_row(f"--jobs {n} assets same as --jobs 1 ({label})", jobs["same_assets"],
                         "yes", bool(jobs["same_assets"]), _key_note(jobs)))
        if key == "threads":
            differ = [slug for slug, r in jobs["default_threads_comparison"]["recipes"].items()
                      if not r["same"]]
            rows.append(_row("NNX_KERNEL_THREADS=1 assets same as default threads",
                             jobs["same_assets_as_default_threads"], "", None,
                             f"differ: {', '.join(differ)}" if differ else
                             "the thread count can change TensorFlow's reductions (it does for "
                             "the CNN recipes), not for these"))
    site = results.get("site")
    if site:
        rows.append(_row("site: mkdocs build --strict (s)", site["wall_s"], "", None
                         if site["exit_code"] == 0 else False,
                         "renders every page on every build; not part of the ratios"))
    for case, res in (results.get("training") or {}).items():
        rows.append(_row(f"fit_fast speedup over model.fit ({case})", res["speedup"],
                         f">= {FIT_TARGET:g}", res["speedup"] is not None
                         and res["speedup"] >= FIT_TARGET,
                         f"{res['plain_fit_s']:.2f} s / {res['fit_fast_s']:.2f} s, "
                         f"{res['epochs']} epochs; final loss fit {res['plain_final_loss']}, "
                         f"fit_fast {res['fast_final_loss']}"))
    rendering = results.get("rendering")
    if rendering:
        speedup = rendering["speedup_vs_full_redraw"]
        rows.append(_row("blitted in-place rendering / full redraw (fps)", speedup,
                         f">= {RENDER_TARGET:g}", speedup is not None and speedup >= RENDER_TARGET,
                         f"{rendering['blit_fps']} vs {rendering['full_redraw_fps']} fps "
                         f"(in place with a full draw: {rendering['inplace_full_draw_fps']})"))
    from benchmarks.bench_firstbuild import summary_rows
    from benchmarks.bench_live import summary_rows as live_rows

    rows.extend(summary_rows(results, _row))
    rows.extend(live_rows(results, _row))
    recording = results.get("recording")
    if recording:
        overhead = recording["overhead_wall"]
        rows.append(_row("replay recorder overhead on training (seed 000)", overhead,
                         f"<= {RECORDING_TARGET:.0%}", overhead <= RECORDING_TARGET,
                         f"{recording['fit_fast_with_recorder_s']:.2f} s vs "
                         f"{recording['fit_fast_s']:.2f} s, {recording['epochs']} epochs; replay "
                         f"file {recording['replay_file_mb']} MB"))
    palettes = results.get("palettes")
    if palettes:
        ratio = palettes["explainer_ratio"]
        rows.append(_row("seed-000 explainer, light + dark / one palette", ratio,
                         f"<= {PALETTES_TARGET:g}", ratio <= PALETTES_TARGET,
                         f"train {palettes['train_s']:.1f} s; render {palettes['render_single_s']:.1f}"
                         f" s -> {palettes['render_both_s']:.1f} s (dark pass in a forked "
                         f"process); {palettes['epochs']} epochs"))
    stops = results.get("stops")
    if stops:
        rows.append(_row("Ctrl-C to exit, --jobs 2, both workers busy (s)", stops["ctrl_c_s"],
                         f"<= {stops['ctrl_c_target_s']:g}",
                         stops["ctrl_c_s"] <= stops["ctrl_c_target_s"]))
        rows.append(_row("a recipe's run past its timeout (s)", stops["timeout_overshoot_s"],
                         f"<= {stops['timeout_overshoot_target_s']:g}",
                         stops["timeout_overshoot_s"] <= stops["timeout_overshoot_target_s"]))
    return rows


def _key_note(result: dict[str, Any]) -> str:
    changes = result.get("key_changes") or {}
    if not changes:
        return ""
    parts = sorted({p for ps in changes.values() for p in ps})
    return (f"cache keys changed during the run ({', '.join(parts)}): the sources changed "
            "under the benchmark; not comparable")


# -- output --------------------------------------------------------------------------------------

def write_report(report: dict[str, Any], out: Path) -> list[Path]:
    """Write the JSON to ``out`` and a copy to ``bench-history/`` next to it."""
    from pipeline.library import atomic

    out.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(out, report)
    stamp = report["date"].replace(":", "")[:15]
    commit = (report["git"].get("short") or "nogit") + ("-dirty" if report["git"].get("dirty")
                                                        else "")
    history = out.parent / "bench-history" / f"{stamp}-{commit}.json"
    history.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(history, report)
    return [out, history]


def print_report(report: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    results = report["results"]
    builds = Table(title="Builds (wall seconds of `python -m pipeline build`)")
    for col in ("run", "jobs", "env", "wall s", "ran", "cached", "load"):
        builds.add_column(col, justify="right" if col in ("jobs", "wall s", "ran", "cached",
                                                          "load") else "left")
    seen = set()
    for run in _build_runs(results):
        if run["label"] in seen:
            continue
        seen.add(run["label"])
        builds.add_row(run["label"], str(run["jobs"]),
                       " ".join(f"{k}={v}" for k, v in run["env"].items()) or "-",
                       f"{run['wall_s']:.2f}", str(run["ran"]), str(run["cached"]),
                       "-" if run.get("load_1m") is None else f"{run['load_1m']:.1f}")
    if builds.rows:
        console.print(builds)
        console.print(f"recipes: {', '.join(report['options'].get('recipes', []))}; the cold "
                      "build of (a) is the --jobs 1 cold build of (d)")

    summary = Table(title=f"Benchmark summary ({report['git'].get('short') or 'no git'}"
                          f"{' dirty' if report['git'].get('dirty') else ''}, "
                          f"{report['machine'].get('cpu_count')} CPUs"
                          f"{', ' + ', '.join(report['machine']['gpus']) if report['machine'].get('gpus') else ''})")
    for col in ("measure", "value", "target", "", "details"):
        summary.add_column(col)
    for row in report["summary"]:
        mark = {True: "[green]ok", False: "[red]missed", None: ""}[row["ok"]]
        value = row["value"]
        if isinstance(value, float):
            value = f"{value:.2%}" if "/ cold" in row["name"] else f"{value:.2f}"
        summary.add_row(row["name"], str(value), row["target"], mark, row["note"])
    console.print(summary)
    for name, error in report["errors"].items():
        console.print(f"[red]{name} failed:[/red] {error}", markup=True, highlight=False)
    console.print(f"total {report['seconds']:.0f} s; machine load "
                  f"{report['machine'].get('load_before')} -> {report['machine'].get('load_after')}")


def _build_runs(results: dict[str, Any]) -> list[dict[str, Any]]:
    runs = []
    jobs = results.get("jobs")
    if jobs:
        runs += [jobs["serial"], jobs["parallel"]]
    build = results.get("build")
    if build:
        runs += [build["cold"], *build["warm"], *build["prose"]]
    threads = results.get("threads")
    if threads:
        runs += [threads["serial"], threads["parallel"]]
    first = results.get("firstbuild")
    if first:
        runs += list(first["runs"].values())
    explainer = results.get("explainer")
    if explainer:
        runs.append(explainer["build"])
    return runs


def main(argv: list[str] | None = None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["full-profile"]:  # its own command: one full build, recorded (not a ratio)
        from benchmarks.full_profile import main as full_profile_main

        return full_profile_main(argv[1:])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", ONEDNN_DEFAULT)
    args = make_parser().parse_args(argv)
    _configure_logging(args.verbose)
    report = run_benchmarks(args)
    paths = write_report(report, args.out)
    print_report(report)
    log.info("wrote %s", paths[0])
    return 1 if report["errors"] else 0


def _configure_logging(verbose: bool) -> None:
    from rich.console import Console
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
        handlers=[RichHandler(show_path=False, markup=False, console=Console(stderr=True))],
        force=True,
    )
    for noisy in ("matplotlib", "PIL", "h5py", "absl", "tensorflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

"""Build benchmarks: cold vs warm vs prose-only rebuilds, ``--jobs 2`` vs ``--jobs 1``.

Every build runs the real command line (``python -m pipeline --content-dir ... --build-dir ...
build``) as a subprocess, on a copy of the selected recipes and pages in a temporary folder, so
the repository's own ``build/`` is never touched and the times include what a user waits for
(Python start-up, imports, hashing, the kernels). The statuses come from the build's own report
(``reports/last-build.json``).

Asset comparison (:func:`compare_builds`) is also what the determinism test uses: metrics must
be equal, images are compared pixel by pixel with :data:`IMAGE_TOLERANCE`, other files by bytes
(some formats embed a time stamp or a random id; those are listed, not failed).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.library.precision import ONEDNN_DEFAULT
from pipeline.library.suggest import close_matches

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent

#: The cheapest real recipes, in order of preference: the default subset is the first
#: :data:`DEFAULT_COUNT` of these that exist (then any other recipe, in discovery order).
PREFERRED_RECIPES = (
    "training-at-a-glance",
    "replaying-training",
    "watching-the-boundary-move",
    "feature-maps-of-a-small-cnn",
    "what-an-autoencoder-keeps",
)
DEFAULT_COUNT = 3

#: Two images "look the same" when they have the same size and at most ``max_fraction`` of
#: their pixels differ, none by more than ``max_abs`` (0-255, in any channel). Anti-aliased
#: edges may move by a rounding step when the last bits of a weight differ; a real change
#: (another curve, another prediction) changes far more pixels by far more.
IMAGE_TOLERANCE = {"max_abs": 2, "max_fraction": 0.001}
IMAGE_SUFFIXES = (".png", ".webp", ".gif", ".jpg", ".jpeg")
#: Not compared: the recipe's own bookkeeping (it holds wall-clock timings).
IGNORED_ASSETS = ("outputs.json",)

QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": ONEDNN_DEFAULT,
             "NO_MKDOCS_2_WARNING": "1", "PYTHONUNBUFFERED": "1", "COLUMNS": "120"}


class BenchError(RuntimeError):
    """A benchmark step could not run (a build failed, a recipe is missing)."""


# -- recipe selection ---------------------------------------------------------------------------

def available_recipes(content: Path) -> list[str]:
    from pipeline.builder.recipes import discover_all

    recipes, _errors = discover_all(content)
    return [r.slug for r in recipes]


def select_recipes(available: Sequence[str], requested: Sequence[str] | None = None,
                   count: int = DEFAULT_COUNT) -> list[str]:
    """The requested slugs (checked), or the first ``count`` of :data:`PREFERRED_RECIPES`."""
    if requested:
        unknown = [s for s in requested if s not in available]
        if unknown:
            hints = []
            for slug in unknown:
                close = close_matches(slug, available)
                hints.append(f"{slug!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise BenchError(f"--recipes: no such recipe {', '.join(hints)}; known: "
                             f"{', '.join(available)}")
        return list(dict.fromkeys(requested))
    ordered = [s for s in PREFERRED_RECIPES if s in available]
    ordered += [s for s in available if s not in ordered]
    if not ordered:
        raise BenchError("no recipes to build")
    return ordered[:count]


# -- a temporary project ------------------------------------------------------------------------

@dataclass
class BuildRun:
    """One ``python -m pipeline build`` and what it reported."""

    label: str
    jobs: int
    build_dir: str
    wall_s: float
    build_s: float | None
    exit_code: int
    statuses: dict[str, str]
    seconds: dict[str, float]
    env: dict[str, str] = field(default_factory=dict)
    load_1m: float | None = None
    #: peak resident memory of the build's process tree (with ``memory=True``)
    peak_rss_mb: float | None = None
    #: CPU seconds (user + system) of the build and every process it waited for (kernels,
    #: render workers, ffmpeg): on a shared machine a steadier measure of work than wall time
    cpu_s: float | None = None

    @property
    def ran(self) -> int:
        return sum(s == "ran" for s in self.statuses.values())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["wall_s"] = round(self.wall_s, 3)
        out["ran"] = self.ran
        out["cached"] = sum(s == "cached" for s in self.statuses.values())
        return out


class TempProject:
    """A copy of the selected recipes and their pages (plus the other pages' files) in ``root``.

    Pages of recipes that are not selected are left out (they would name assets that this
    build does not make); everything else under ``content/`` (the index, images) is copied.
    """

    def __init__(self, root: Path, source_content: Path, slugs: Sequence[str], *,
                 profile: str = "quick", data_dir: Path | None = None) -> None:
        from pipeline.builder.recipes import discover_all

        source_content = source_content.resolve()
        self.root = root
        self.content = root / "content"
        self.profile = profile
        self.data_dir = data_dir
        self.slugs = list(slugs)
        recipes, _ = discover_all(source_content)
        by_slug = {r.slug: r for r in recipes}
        skip: set[Path] = set()
        for recipe in recipes:
            if recipe.slug not in self.slugs:
                skip.add(recipe.path.resolve())
                if recipe.page is not None:
                    skip.add(recipe.page.resolve())
        for path in sorted(source_content.rglob("*")):
            if not path.is_file() or path.resolve() in skip or "__pycache__" in path.parts:
                continue
            target = self.content / path.relative_to(source_content)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        self.pages = {slug: self.content / by_slug[slug].page.relative_to(source_content)
                      for slug in self.slugs if by_slug[slug].page is not None}
        self.logs = root / "logs"
        self.logs.mkdir(exist_ok=True)

    def build(self, label: str, build_dir: Path, *, jobs: int | None = 1, force: bool = False,
              env: dict[str, str] | None = None, timeout: float = 3600, warm: bool = True,
              memory: bool = False, repo: Path | None = None) -> BuildRun:
        """Run the CLI once; raise :class:`BenchError` (with the log's tail) if it fails.

        ``jobs=None``: the automatic choice; ``warm=False``: ``--no-warm-kernels``;
        ``memory``: sample the peak resident memory of the build and all its processes;
        ``repo``: a copy of the checkout whose ``pipeline/`` builds (default: this one).
        """
        cmd = [sys.executable, "-m", "pipeline", "--content-dir", str(self.content),
               "--build-dir", str(build_dir), "build", "--profile", self.profile,
               "--jobs", "auto" if jobs is None else str(jobs)]
        if not warm:
            cmd.append("--no-warm-kernels")
        if self.data_dir is not None:
            cmd += ["--data-dir", str(self.data_dir)]
        if force:
            cmd.append("--force")
        full_env = {k: v for k, v in os.environ.items() if k != "NNX_KERNEL_THREADS"}
        full_env.update(QUIET_ENV)
        full_env.update(env or {})
        if repo is not None:
            full_env["PYTHONPATH"] = str(repo)
        log_path = self.logs / f"{label}.log"
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        log.info("build %-14s jobs=%s %s", label, "auto" if jobs is None else jobs,
                 " ".join(f"{k}={v}" for k, v in (env or {}).items()))
        peak = None
        import resource

        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        with open(log_path, "w") as out:
            start = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=repo or REPO_ROOT, env=full_env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if memory:
                from benchmarks.machine import PeakMemory

                peak = PeakMemory()
                peak.watch(proc.pid)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            finally:
                peak_bytes = peak.stop() if peak is not None else 0
            wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
        report_path = build_dir / "reports" / "last-build.json"
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
        outcomes = report.get("outcomes", [])
        run = BuildRun(
            label=label, jobs=report.get("jobs", jobs or 0), build_dir=str(build_dir),
            wall_s=wall,
            build_s=report.get("seconds"), exit_code=proc.returncode,
            statuses={o["slug"]: o["status"] for o in outcomes},
            seconds={o["slug"]: o["seconds"] for o in outcomes},
            env=dict(env or {}), load_1m=None if load is None else round(load, 2),
            peak_rss_mb=round(peak_bytes / 1024**2, 1) if peak_bytes else None,
            cpu_s=round(cpu, 2),
        )
        if proc.returncode != 0:
            tail = log_path.read_text()[-4000:]
            raise BenchError(f"build {label!r} exited with {proc.returncode}:\n{tail}")
        log.info("build %-14s %.1f s (%s)", label, wall, _status_counts(run.statuses))
        return run

    def edit_prose(self, slug: str, n: int) -> Path:
        """Append a paragraph to the recipe's page (a prose-only change)."""
        page = self.pages.get(slug)
        if page is None:
            raise BenchError(f"{slug} has no page to edit")
        with open(page, "a", encoding="utf-8") as fh:
            fh.write(f"\n\nA sentence added by the benchmark (edit {n}).\n")
        return page

    def site(self, build_dir: Path, site_dir: Path, timeout: float = 600) -> dict[str, Any]:
        """``mkdocs build --strict`` of this project against ``build_dir``; its wall time."""
        config = write_mkdocs_config(self.content, site_dir, self.root / "mkdocs.bench.yml")
        env = {**os.environ, **QUIET_ENV, "NNX_BUILD_DIR": str(build_dir)}
        log_path = self.logs / "site.log"
        with open(log_path, "w") as out:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f",
                                   str(config)], cwd=REPO_ROOT, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout, check=False)
            wall = time.perf_counter() - start
        result: dict[str, Any] = {"wall_s": round(wall, 3), "exit_code": proc.returncode,
                                  "pages": sum(1 for _ in site_dir.rglob("index.html"))}
        if proc.returncode != 0:
            result["error"] = log_path.read_text()[-2000:]
        return result


def write_mkdocs_config(content: Path, site: Path, dest: Path) -> Path:
    """The repository's mkdocs.yml with its folders (content, site, theme) made absolute."""
    text = (REPO_ROOT / "mkdocs.yml").read_text()
    text = text.replace("docs_dir: content", f"docs_dir: {content}")
    text = text.replace("site_dir: site", f"site_dir: {site}")
    text = text.replace("custom_dir: site_overrides",
                        f"custom_dir: {REPO_ROOT / 'site_overrides'}")
    dest.write_text(text)
    return dest


def _status_counts(statuses: dict[str, str]) -> str:
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "nothing"


# -- comparing two builds -----------------------------------------------------------------------

def image_frames(path: Path) -> list[np.ndarray]:
    """Every frame of an image file as an RGBA uint8 array."""
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        return [np.asarray(frame.convert("RGBA")) for frame in ImageSequence.Iterator(im)]


def compare_images(a: Path, b: Path, tolerance: dict[str, float] | None = None
                   ) -> dict[str, Any]:
    """Pixel difference of two image files (all frames); ``same`` applies the tolerance."""
    tol = {**IMAGE_TOLERANCE, **(tolerance or {})}
    fa, fb = image_frames(a), image_frames(b)
    if len(fa) != len(fb) or any(x.shape != y.shape for x, y in zip(fa, fb, strict=True)):
        return {"same": False, "reason": "different size or number of frames",
                "shape_a": [list(x.shape) for x in fa[:1]], "shape_b": [list(y.shape) for y in fb[:1]],
                "frames_a": len(fa), "frames_b": len(fb)}
    max_abs = 0
    differing = total = 0
    for x, y in zip(fa, fb, strict=True):
        diff = np.abs(x.astype(np.int16) - y.astype(np.int16)).max(axis=-1)
        max_abs = max(max_abs, int(diff.max(initial=0)))
        differing += int(np.count_nonzero(diff))
        total += diff.size
    fraction = differing / total if total else 0.0
    same = max_abs <= tol["max_abs"] and fraction <= tol["max_fraction"]
    return {"same": same, "max_abs": max_abs, "differing_pixels": differing,
            "fraction": fraction, "frames": len(fa)}


def compare_npz(a: Path, b: Path) -> dict[str, Any]:
    """Largest absolute difference between the arrays of two ``.npz`` files."""
    with np.load(a, allow_pickle=False) as za, np.load(b, allow_pickle=False) as zb:
        if sorted(za.files) != sorted(zb.files):
            return {"same": False, "reason": "different arrays"}
        worst = 0.0
        for name in za.files:
            x, y = za[name], zb[name]
            if x.shape != y.shape or x.dtype != y.dtype:
                return {"same": False, "reason": f"{name}: different shape or dtype"}
            if x.dtype.kind in "fc":
                worst = max(worst, float(np.nanmax(np.abs(x - y), initial=0.0)))
            elif not np.array_equal(x, y):
                return {"same": False, "reason": f"{name}: different values"}
    return {"same": worst == 0.0, "max_abs": worst}


def _assets(manifest: dict[str, Any]) -> dict[str, str]:
    return {rel[len("assets/"):]: meta["sha256"] for rel, meta in manifest["files"].items()
            if rel.startswith("assets/") and rel[len("assets/"):] not in IGNORED_ASSETS}


def compare_entries(entry_a: Path, manifest_a: dict[str, Any], entry_b: Path,
                    manifest_b: dict[str, Any]) -> dict[str, Any]:
    """Compare one recipe's two results: metrics, images (pixels), other files (bytes)."""
    fa, fb = _assets(manifest_a), _assets(manifest_b)
    images: dict[str, dict[str, Any]] = {}
    arrays: dict[str, dict[str, Any]] = {}
    byte_diffs: list[str] = []
    identical = 0
    for name in sorted(set(fa) & set(fb)):
        if fa[name] == fb[name]:
            identical += 1
            if name.lower().endswith(IMAGE_SUFFIXES):
                images[name] = {"same": True, "max_abs": 0, "fraction": 0.0}
            continue
        pa, pb = entry_a / "assets" / name, entry_b / "assets" / name
        if name.lower().endswith(IMAGE_SUFFIXES):
            images[name] = compare_images(pa, pb)
        elif name.endswith(".npz"):
            arrays[name] = compare_npz(pa, pb)
        else:
            byte_diffs.append(name)
    different_images = sorted(n for n, r in images.items() if not r["same"])
    different_arrays = sorted(n for n, r in arrays.items() if not r["same"])
    metrics_a, metrics_b = manifest_a.get("metrics", {}), manifest_b.get("metrics", {})
    metric_diffs = {k: [metrics_a.get(k), metrics_b.get(k)]
                    for k in sorted(set(metrics_a) | set(metrics_b))
                    if metrics_a.get(k) != metrics_b.get(k)}
    missing = sorted(set(fa) ^ set(fb))
    worst = max(images, key=lambda n: (not images[n]["same"], images[n].get("fraction", 1.0)),
                default=None)
    return {
        "same": not metric_diffs and not different_images and not missing,
        "metrics_equal": not metric_diffs,
        "metric_differences": metric_diffs,
        "files": len(fa),
        "identical_files": identical,
        "images": len(images),
        "images_pixel_identical": sum(1 for r in images.values() if r.get("max_abs") == 0),
        "different_images": different_images,
        "worst_image": None if worst is None else {"name": worst, **images[worst]},
        "different_arrays": different_arrays,
        "bytes_differ": sorted(byte_diffs),
        "missing": missing,
    }


def compare_builds(dir_a: Path, dir_b: Path, slugs: Iterable[str]) -> dict[str, Any]:
    """Compare every recipe's current result in two build folders (see :func:`compare_entries`)."""
    from pipeline.builder.store import BuildDir

    a, b = BuildDir(dir_a), BuildDir(dir_b)
    per_recipe: dict[str, Any] = {}
    for slug in slugs:
        ca, cb = a.current_entry(slug), b.current_entry(slug)
        if ca is None or cb is None:
            per_recipe[slug] = {"same": False, "reason": "no current result in one of the builds"}
            continue
        per_recipe[slug] = compare_entries(ca[0], ca[1], cb[0], cb[1])
        per_recipe[slug]["same_key"] = ca[1]["key"] == cb[1]["key"]
    return {"same": all(r["same"] for r in per_recipe.values()), "recipes": per_recipe,
            "tolerance": IMAGE_TOLERANCE}


# -- the benchmarks -----------------------------------------------------------------------------

def speedup_bound(seconds: Iterable[float], jobs: int) -> float:
    """The most ``jobs`` workers could gain on these run times, recipes being indivisible.

    Serial time over the best possible makespan (exhaustive for a few recipes, longest-first
    otherwise); contention for the cores is not counted, so real speedups are lower.
    """
    times = sorted((float(t) for t in seconds), reverse=True)
    if not times or sum(times) <= 0:
        return 1.0
    jobs = max(1, min(jobs, len(times)))
    if jobs ** len(times) <= 100_000:
        best = math.inf
        for assignment in itertools.product(range(jobs), repeat=len(times)):
            loads = [0.0] * jobs
            for t, worker in zip(times, assignment, strict=True):
                loads[worker] += t
            best = min(best, max(loads))
    else:
        loads = [0.0] * jobs
        for t in times:
            loads[loads.index(min(loads))] += t
        best = max(loads)
    return sum(times) / best


def key_parts(build_dir: Path, slugs: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Each recipe's current cache-key parts (read, not verified: only for diagnostics)."""
    from pipeline.builder.store import BuildDir

    bdir = BuildDir(build_dir)
    out = {}
    for slug in slugs:
        current = bdir.read_state(slug).current
        manifest = bdir.entry_dir(slug, current) / "manifest.json" if current else None
        if manifest is not None and manifest.exists():
            out[slug] = json.loads(manifest.read_text()).get("key_parts", {})
    return out


def key_changes(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
                ) -> dict[str, list[str]]:
    """Per recipe, the names of the key parts that differ (``library``, ``versions`` ...)."""
    changes = {}
    for slug in sorted(set(before) | set(after)):
        a, b = before.get(slug, {}), after.get(slug, {})
        parts = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if parts:
            changes[slug] = parts
    if changes:
        log.warning("cache keys changed while the benchmark ran (%s): something under pipeline/ "
                    "or a package changed, so these builds are not comparable; rerun on a quiet "
                    "checkout", "; ".join(f"{s}: {', '.join(p)}" for s, p in changes.items()))
    return changes


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def bench_rebuilds(project: TempProject, build_dir: Path, cold: BuildRun,
                   repeats: int = 3) -> dict[str, Any]:
    """(a) warm no-change rebuilds and prose-only rebuilds after ``cold`` (same build folder)."""
    if cold.ran != len(project.slugs):
        raise BenchError(f"the cold build ran {cold.ran} of {len(project.slugs)} recipes: "
                         f"{cold.statuses}")
    before = key_parts(build_dir, project.slugs)
    warm = [project.build(f"warm-{i + 1}", build_dir) for i in range(repeats)]
    target = project.slugs[0]
    prose = []
    for i in range(repeats):
        project.edit_prose(target, i + 1)
        prose.append(project.build(f"prose-{i + 1}", build_dir))
    changed = key_changes(before, key_parts(build_dir, project.slugs))
    warm_s = min(r.wall_s for r in warm)
    prose_s = min(r.wall_s for r in prose)
    return {
        "recipes": project.slugs,
        "cold": cold.to_dict(),
        "warm": [r.to_dict() for r in warm],
        "prose": [r.to_dict() for r in prose],
        "prose_page_edited": str(project.pages[target].relative_to(project.content)),
        "cold_s": round(cold.wall_s, 3),
        "warm_s": round(warm_s, 3),
        "prose_s": round(prose_s, 3),
        "warm_over_cold": _ratio(warm_s, cold.wall_s),
        "prose_over_cold": _ratio(prose_s, cold.wall_s),
        "warm_reexecuted": max(r.ran for r in warm),
        "prose_reexecuted": max(r.ran for r in prose),
        "key_changes": changed,
        "note": "cold = the --jobs 1 cold build of section jobs; times are wall seconds of "
                "`python -m pipeline build` (start-up included), best of the repeats",
    }


#: (what the incremental section edits, in a copy of the package): one library module that one
#: recipe imports, and one build-tool module that no result depends on
INCREMENTAL_EDITS = (("library", "pipeline/library/explainers/cifar_views.py"),
                     ("build_tool", "pipeline/builder/progress.py"))


def bench_incremental(project: TempProject, tmp: Path, cold: BuildRun) -> dict[str, Any]:
    """(e) rebuilds after a comment is added to one library module, then to a build-tool module.

    Runs in a copy of ``pipeline/`` (the checkout is never edited) and a copy of the cold
    build's folder (keys name modules by their path inside the checkout, so it is all cached).
    Only the recipes that imported the library module re-execute; the build tool's edit
    re-executes none.
    """
    repo = tmp / "incremental-repo"
    shutil.copytree(REPO_ROOT / "pipeline", repo / "pipeline",
                    ignore=shutil.ignore_patterns("__pycache__"))
    build_dir = tmp / "build-incremental"
    shutil.copytree(cold.build_dir, build_dir, ignore=shutil.ignore_patterns(".lock"))
    env: dict[str, str] = {}
    if project.data_dir is None:  # the copy's default (../shared/datasets) is not beside it
        from pipeline.library.datasets import default_data_dir

        data = default_data_dir()
        env = {"NNX_DATA_DIR": str(data.resolve())} if data is not None else {}
    out: dict[str, Any] = {"recipes": project.slugs, "cold": cold.to_dict(),
                           "cold_s": round(cold.wall_s, 3)}
    for name, rel in INCREMENTAL_EDITS:
        with open(repo / rel, "a", encoding="utf-8") as fh:
            fh.write("\n# a comment added by the benchmark\n")
        run = project.build(f"incremental-{name}", build_dir, jobs=None, repo=repo, env=env)
        out[name] = {"edited": rel, "wall_s": round(run.wall_s, 3),
                     "reexecuted": sorted(s for s, st in run.statuses.items() if st == "ran"),
                     "over_cold": _ratio(run.wall_s, cold.wall_s), "run": run.to_dict()}
    return out


def bench_jobs(project: TempProject, build_root: Path, base: BuildRun, *, jobs: int = 2,
               env: dict[str, str] | None = None, label: str = "jobs") -> dict[str, Any]:
    """(d) a cold ``--jobs N`` build against the cold ``--jobs 1`` build ``base``."""
    run = project.build(f"{label}-jobs{jobs}", build_root / f"{label}-jobs{jobs}", jobs=jobs,
                        env=env)
    compared = compare_builds(Path(base.build_dir), Path(run.build_dir), project.slugs)
    changed = key_changes(key_parts(Path(base.build_dir), project.slugs),
                          key_parts(Path(run.build_dir), project.slugs))
    return {
        "recipes": project.slugs,
        "jobs": jobs,
        "env": dict(env or {}),
        "serial": base.to_dict(),
        "parallel": run.to_dict(),
        "serial_s": round(base.wall_s, 3),
        "parallel_s": round(run.wall_s, 3),
        "speedup": _ratio(base.wall_s, run.wall_s),
        "speedup_bound": round(speedup_bound(base.seconds.values(), jobs), 3),
        "same_assets": compared["same"],
        "key_changes": changed,
        "comparison": compared,
    }

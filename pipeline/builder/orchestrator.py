"""The build: discover recipes, key them, run what changed, publish atomically, report.

The steps are small functions so each can be tested alone (in the spirit of nox's workflow):
``plan`` decides per recipe whether the cache holds its result; ``run_job``
(:mod:`pipeline.builder.jobs`) executes one recipe into a staging directory and seals its manifest
(it runs in a worker process and never touches shared state); ``commit_outcome`` (parent process only) publishes the entry and updates state,
so the last good result of a failing recipe is never replaced.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.builder.cache import (
    CacheKey,
    FileHasher,
    changes,
    compute_key,
    package_versions,
    snapshot_sources,
)
from pipeline.builder.depfiles import InstalledVersions, hash_record
from pipeline.builder.errors import CorruptEntry
from pipeline.builder.jobs import BuildOptions, Job, Outcome
from pipeline.builder.parallel import make_runner
from pipeline.builder.recipes import PROFILES, Recipe
from pipeline.builder.records import Attempt, OutcomeStatus, RecipeState
from pipeline.builder.store import MANIFEST, BuildDir
from pipeline.library.deps import data_roots
from pipeline.library.errors import PipelineError

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


def recipe_key(recipe: Recipe, options: BuildOptions, hasher: FileHasher,
               versions: dict[str, str], deps: dict[str, Any] | None = None) -> CacheKey:
    """The cache key of one recipe under the build's options.

    ``deps``: the hashed record of what its last run used (:func:`pipeline.builder.depfiles.hash_record`);
    None before any run.
    """
    from pipeline.library.datasets import DATASETS, dataset_files
    from pipeline.library.open_data import key_parts, package_version

    files: list[Path] = []
    open_data: dict[str, str] = {}
    for name in recipe.header.datasets:
        files.extend(dataset_files(name, options.data_dir))
        provider = getattr(DATASETS[name], "provider", "")
        if provider:  # made by a package's code: its version decides the data
            open_data[f"dataset:{name}"] = f"{provider} {package_version(provider)}"
    open_data.update(key_parts(recipe.header.data, recipe.path.parent, hash_file=hasher.hash))
    return compute_key(
        recipe.path, options.profile, recipe.header.seed, recipe.header.sizes(options.profile),
        files, hasher=hasher, versions=versions, open_data=open_data, deps=deps,
    )


@dataclass(frozen=True)
class Decision:
    """A planned job and, when it is not cached, why it must run (for ``build --dry-run``)."""

    job: Job
    reasons: tuple[str, ...]


def previous_manifests(bdir: BuildDir, slug: str) -> list[dict[str, Any]]:
    """``slug``'s stored results' manifests, read but not verified, the current one first.

    Only their recorded inputs are used, to compute the key to look for; the entry found under
    that key is verified before it is trusted. The other entries count too, so that a lost or
    garbled state file costs nothing: the result is found again and nothing re-executes.
    """
    current = bdir.read_state(slug).current
    folder = bdir.store / slug
    entries = [bdir.entry_dir(slug, current)] if current else []
    if folder.is_dir():
        others = [p for p in folder.iterdir() if p.is_dir() and p not in entries]
        entries += sorted(others, key=lambda p: p.stat().st_mtime, reverse=True)
    found = []
    for entry in entries:
        try:
            manifest = json.loads((entry / MANIFEST).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict):
            found.append(manifest)
    return found


def decide(recipes: list[Recipe], options: BuildOptions, bdir: BuildDir,
           save_memo: bool = True) -> list[Decision]:
    """Compute each recipe's key from what its last run used, and say what runs and why.

    The key of a recipe with a previous result covers exactly the modules, data files and
    packages that result's run recorded (its depfile), hashed now: unchanged, the entry under
    that key is the previous result and nothing runs. Without one (never built), the key is a
    placeholder for the run's checkpoints; the run's own key is computed when it finishes
    (:func:`pipeline.builder.jobs.run_job`), from what it recorded.
    """
    if options.profile not in PROFILES:
        raise PipelineError(f"unknown profile {options.profile!r}; choose one of {', '.join(PROFILES)}")
    hasher = FileHasher(bdir.hash_memo)
    versions = package_versions()
    installed = InstalledVersions()
    snapshot = snapshot_sources(options.repo_root, hasher)
    decisions = []
    for recipe in recipes:
        roots = data_roots(options.data_dir, recipe.path.parent)

        def key_for(before: dict[str, Any] | None, recipe: Recipe = recipe,
                    roots: dict[str, Path] = roots) -> tuple[CacheKey, dict[str, Any] | None]:
            recorded = before.get("deps") if before else None
            deps = (hash_record(recorded, options.repo_root, roots, hasher, installed, snapshot)
                    if isinstance(recorded, dict) else None)
            return recipe_key(recipe, options, hasher, versions, deps), deps

        candidates: list[dict[str, Any] | None] = [*previous_manifests(bdir, recipe.slug)] or [None]
        before = candidates[0]  # the current result: the reasons compare against it
        key, deps = key_for(before)
        cached = not options.force and _cached(bdir, recipe.slug, key)
        for other in candidates[1:] if not (cached or options.force) else []:
            other_key, other_deps = key_for(other)
            if _cached(bdir, recipe.slug, other_key):
                key, deps, cached = other_key, other_deps, True
                break
        reasons: list[str] = []
        if options.force:
            reasons.append("--force")
        elif not cached:
            reasons = changes(before, key.parts, deps) or [
                "its last result is missing from the store or damaged"]
        job = Job(
            slug=recipe.slug, recipe_path=recipe.path, rel_path=recipe.rel_path,
            page_rel=recipe.page.relative_to(options.content_root).as_posix() if recipe.page else None,
            header=_header_dict(recipe), key=key.digest, key_parts=key.parts,
            parameters={}, timeout=recipe.header.timeout, cached=cached,
            sources=snapshot,
        )
        decisions.append(Decision(job, tuple(reasons)))
    if save_memo:
        hasher.save()
    return decisions


def _cached(bdir: BuildDir, slug: str, key: CacheKey) -> bool:
    """True when the store holds a sound entry under ``key``."""
    entry = bdir.entry_dir(slug, key.digest)
    if not entry.exists():
        return False
    try:
        bdir.verify_entry(entry, key.digest)
    except CorruptEntry as exc:
        log.warning("%s: cached result is corrupt (%s); rebuilding", slug, exc)
        return False
    return True


def plan(recipes: list[Recipe], options: BuildOptions, bdir: BuildDir) -> list[Job]:
    """Compute keys and decide which recipes the cache already holds."""
    return [d.job for d in decide(recipes, options, bdir)]


def _header_dict(recipe: Recipe) -> dict[str, Any]:
    h = recipe.header
    return {"title": h.title, "description": h.description, "section": h.section,
            "seed_article": h.seed_article, "datasets": list(h.datasets), "seed": h.seed,
            "order": h.order, "thumbnail": h.thumbnail, "timeout": h.timeout,
            "data": [d.spec() for d in h.data]}


def commit_outcome(outcome: Outcome, bdir: BuildDir) -> None:
    """Publish a finished run and record the attempt (parent process only)."""
    current = bdir.read_state(outcome.slug).current
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if outcome.status is OutcomeStatus.RAN and outcome.staged is not None:
        bdir.publish(outcome.slug, outcome.key, outcome.staged)
        current = outcome.key
        bdir.prune(outcome.slug, keep={outcome.key, *latest_of_other_profiles(bdir, outcome.slug,
                                                                              outcome.key)})
        bdir.drop_checkpoints(outcome.slug, outcome.key)  # published: nothing left to resume
    elif outcome.status is OutcomeStatus.CACHED:
        current = outcome.key
    attempt = Attempt(status=outcome.status, key=outcome.key, at=now,
                      seconds=round(outcome.seconds, 3), failure=outcome.failure)
    bdir.write_state(outcome.slug, RecipeState(current=current, last_attempt=attempt))


def latest_of_other_profiles(bdir: BuildDir, slug: str, key: str) -> set[str]:
    """The newest stored entry of each profile other than the one ``key`` was built with.

    Why they are kept: switching between ``--profile quick`` and ``--profile full`` must not
    throw away the other profile's result (the CIFAR-10 full profile is most of an hour on a
    CPU); the next build of that profile finds it under its key (:func:`decide` looks at every
    stored entry) instead of training again. One entry per profile, so the store stays bounded.
    """
    manifests = [m for m in previous_manifests(bdir, slug)
                 if isinstance(m.get("key"), str) and isinstance(m.get("profile"), str)]
    own = next((m["profile"] for m in manifests if m["key"][:16] == key[:16]), None)
    newest: dict[str, tuple[float, str]] = {}
    for manifest in manifests:
        if manifest["profile"] == own:
            continue
        try:
            mtime = bdir.entry_dir(slug, manifest["key"]).stat().st_mtime
        except OSError:
            continue
        if manifest["profile"] not in newest or mtime > newest[manifest["profile"]][0]:
            newest[manifest["profile"]] = (mtime, manifest["key"])
    return {entry_key for _, entry_key in newest.values()}


ProgressCallback = Callable[[str, str, float | None], None]


def execute_jobs(jobs: list[Job], options: BuildOptions, bdir: BuildDir,
                 on_event: ProgressCallback | None = None) -> list[Outcome]:
    """Run the jobs that are not cached (in-process, a local pool, or a distributed executor)."""
    notify = on_event or (lambda slug, status, seconds: None)
    outcomes: list[Outcome] = []
    todo = []
    for job in jobs:
        if job.cached:
            outcome = Outcome(job.slug, OutcomeStatus.CACHED, 0.0, job.key)
            commit_outcome(outcome, bdir)
            notify(job.slug, OutcomeStatus.CACHED, 0.0)
            outcomes.append(outcome)
        else:
            todo.append(job)
    if not todo:
        return outcomes
    runner = make_runner(options)
    for job in todo:
        if options.force:  # --force means from scratch: no resuming from old checkpoints
            bdir.drop_checkpoints(job.slug, job.key)
        notify(job.slug, "queued", None)
    planned = {job.slug: job.key for job in todo}

    def record(outcome: Outcome) -> None:
        commit_outcome(outcome, bdir)
        if outcome.status == "ran" and planned.get(outcome.slug) != outcome.key:
            # the run keyed its result on what it used; its checkpoints were under the plan's key
            bdir.drop_checkpoints(outcome.slug, planned[outcome.slug])
        notify(outcome.slug, outcome.status, outcome.seconds)
        if outcome.result_status.diverged:
            log.warning("%s: %s (the page shows this instead of the figures)", outcome.slug,
                        outcome.result_status.message or "training diverged")
        outcomes.append(outcome)

    try:
        for outcome in runner(todo, options, lambda slug: notify(slug, "running", None)):
            record(outcome)
    except KeyboardInterrupt as exc:
        # Runs that had already finished when the interrupt came are still published.
        for outcome in getattr(exc, "finished_outcomes", []):
            record(outcome)
        raise
    order = {job.slug: i for i, job in enumerate(jobs)}
    outcomes.sort(key=lambda o: order[o.slug])
    return outcomes

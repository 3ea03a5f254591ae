"""One recipe run: the options of a build, a planned job, its outcome, and ``run_job``.

Kept apart from the orchestrator (which plans and publishes) because ``run_job`` runs in worker
processes, local or distributed: the runners import this module, and the orchestrator imports
the runners, so nothing imports back up.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.builder.cache import FileHasher, key_after_run
from pipeline.builder.errors import RecipeFailed
from pipeline.builder.executor import execute_recipe, kernel_env
from pipeline.builder.notebook_export import withhold_in_stored
from pipeline.builder.records import Failure, FailureKind, OutcomeStatus, ResultStatus
from pipeline.builder.resources import threads_used
from pipeline.builder.store import MANIFEST, BuildDir, file_table, seal_manifest
from pipeline.library import atomic
from pipeline.library.deps import DEPFILE, data_roots
from pipeline.library.errors import AssetPathError, PipelineError
from pipeline.library.runtime import OUTPUTS_FILE

if TYPE_CHECKING:
    from pipeline.builder.warm_kernels import KernelSupply

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build needs to know; plain data so it can be sent to workers."""

    repo_root: Path
    content_root: Path
    build_root: Path
    data_dir: Path | None
    profile: str = "quick"
    force: bool = False
    jobs: int = 1
    only: tuple[str, ...] = ()
    executor: str | None = None
    #: start each recipe's kernel while the previous recipe runs (see pipeline.builder.warm_kernels)
    warm_kernels: bool = True


@dataclass(frozen=True)
class Job:
    """One recipe to execute (or take from the cache)."""

    slug: str
    recipe_path: Path
    rel_path: str
    page_rel: str | None
    header: dict[str, Any]
    key: str
    key_parts: dict[str, Any]
    parameters: dict[str, Any]
    timeout: int
    cached: bool
    #: hashes of the modules a recipe could import, taken at planning (pipeline.builder.cache)
    sources: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """What happened to one recipe in this build (plain data: it crosses process boundaries)."""

    slug: str
    status: OutcomeStatus
    seconds: float
    key: str
    staged: Path | None = None
    failure: Failure | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    #: the recipe's own verdict from ``outputs.json`` (e.g. diverged, at which epoch)
    result_status: ResultStatus = field(default_factory=ResultStatus)

    def to_dict(self) -> dict[str, Any]:
        """The outcome as the build report (``reports/last-build.json``) lists it."""
        return {"slug": self.slug, "status": str(self.status), "seconds": round(self.seconds, 3),
                "failure": None if self.failure is None else self.failure.to_dict()}



def run_job(job: Job, options: BuildOptions, kernels: KernelSupply | None = None,
            prewarm: bool = False) -> Outcome:
    """Execute one recipe into a fresh staging directory and seal its manifest.

    Runs in a worker process: it only writes inside its own staging directory and the recipe's
    checkpoint directory (``build/checkpoints/<slug>/<key16>/``), which outlives a killed or
    failed run so that a re-run of the same key can continue from the recipe's checkpoints.
    Any failure becomes a failed :class:`Outcome` (never an exception), so one broken recipe
    cannot stop the others; only an interrupt (``KeyboardInterrupt``) propagates, after the
    staging directory was removed.

    ``kernels``: where a kernel started ahead of time comes from (None: a cold start); with
    ``prewarm`` the next recipe's kernel is started as this one begins.
    """
    bdir = BuildDir(options.build_root)
    start = time.perf_counter()
    staged = bdir.new_staging(job.slug)
    assets = staged / "assets"
    workdir = staged / "work"
    assets.mkdir()
    workdir.mkdir()
    checkpoints = bdir.checkpoint_dir(job.slug, job.key)
    header = job.header
    parameters = {
        "profile": options.profile,
        "seed": header["seed"],
        "asset_dir": str(assets),
        "data_dir": str(options.data_dir) if options.data_dir else None,
        "sizes": job.key_parts["sizes"],
        "checkpoint_dir": str(checkpoints),
        "recipe_dir": str(job.recipe_path.parent),  # where header 'data: - file:' entries live
    }
    try:
        checkpoints.mkdir(parents=True, exist_ok=True)
        kernel = None
        if kernels is not None:
            env = kernel_env(options.repo_root, options.data_dir)
            kernel = kernels.take(env)
            if prewarm:
                kernels.prepare(env)
        result = execute_recipe(
            job.recipe_path, job.rel_path, parameters, workdir, staged / "notebook", job.slug,
            job.timeout, options.repo_root, options.data_dir, kernel=kernel,
        )
        outputs_path = assets / OUTPUTS_FILE
        if not outputs_path.exists():
            raise RecipeFailed(Failure(job.rel_path, ename="MissingOutputs",
                                       evalue="the recipe never called Explainer.finish()",
                                       kind=FailureKind.SETUP))
        outputs = json.loads(outputs_path.read_text())
        key, deps = key_after_run(
            job.key_parts, assets / DEPFILE, options.repo_root,
            data_roots(options.data_dir, job.recipe_path.parent), job.sources,
            FileHasher(bdir.hash_memo), threads=threads_used())
        # Nothing of a diverged run: the notebook keeps no picture the recipe's own files lost.
        withhold_in_stored(result.notebook, ResultStatus.from_dict(
            outputs.get("status")).untrusted_from_cell)
        _check_thumbnail(header.get("thumbnail"), assets, outputs, job.rel_path)
        _check_declared_data(header.get("data", []), outputs, job.rel_path)
        shutil.rmtree(workdir, ignore_errors=True)
        _refuse_links(staged, job.rel_path)
        manifest = {
            "slug": job.slug,
            "recipe": job.rel_path,
            "page": job.page_rel,
            **{k: header[k] for k in ("title", "description", "section", "seed_article", "order",
                                      "thumbnail", "datasets")},
            "key": key.digest,
            "key_parts": key.parts,
            "deps": deps,
            "profile": options.profile,
            "seed": header["seed"],
            "sizes": parameters["sizes"],
            "outputs": outputs.get("outputs", []),
            "metrics": outputs.get("metrics", {}),
            "timings": {**outputs.get("timings", {}), **result.timings},
            "data": outputs.get("data", []),
            "notes": outputs.get("notes", []),
            "status": outputs.get("status", {}),
            "hardware": outputs.get("hardware", {}),
            "resources": outputs.get("resources", {}),
            "resumed_from": outputs.get("resumed_from", []),
            "versions": {**job.key_parts["versions"], "python": _python_version()},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "notebook": f"notebook/{job.slug}.ipynb",
        }
        manifest["files"] = file_table(staged)
        # Sealed as written: NaN -> null before hashing, so the seal matches the strict file.
        manifest = atomic.json_safe(manifest)
        atomic.write_json(staged / MANIFEST, seal_manifest(manifest))
        return Outcome(job.slug, OutcomeStatus.RAN, time.perf_counter() - start, key.digest,
                       staged=staged, metrics=manifest["metrics"],
                       result_status=ResultStatus.from_dict(manifest["status"]))
    except RecipeFailed as exc:
        shutil.rmtree(staged, ignore_errors=True)
        return Outcome(job.slug, OutcomeStatus.FAILED, time.perf_counter() - start, job.key,
                       failure=Failure.read(exc.failure))
    except PipelineError as exc:
        shutil.rmtree(staged, ignore_errors=True)
        failure = Failure(job.rel_path, ename=type(exc).__name__, evalue=str(exc),
                          kind=FailureKind.SETUP)
        return Outcome(job.slug, OutcomeStatus.FAILED, time.perf_counter() - start, job.key,
                       failure=failure)
    except Exception as exc:  # a bug or an environment problem: report it, keep building
        shutil.rmtree(staged, ignore_errors=True)
        log.debug("%s: internal error", job.slug, exc_info=True)
        failure = Failure(job.rel_path, ename=type(exc).__name__, evalue=str(exc),
                          traceback=traceback.format_exc(), kind=FailureKind.INTERNAL)
        return Outcome(job.slug, OutcomeStatus.FAILED, time.perf_counter() - start, job.key,
                       failure=failure)
    except BaseException:  # KeyboardInterrupt / SystemExit: nothing half-written stays behind
        shutil.rmtree(staged, ignore_errors=True)
        raise


def _check_thumbnail(thumbnail: str | None, assets: Path, outputs: dict[str, Any],
                     rel_path: str) -> None:
    """A ``thumbnail:`` must name a file the recipe wrote (a diverged run may lack it)."""
    if not thumbnail or (assets / thumbnail).is_file():
        return
    if ResultStatus.from_dict(outputs.get("status")).diverged:
        return  # its pictures were not drawn or were withheld; the card says it diverged
    written = sorted(o.get("name", "") for o in outputs.get("outputs", [])
                     if o.get("kind") == "image")
    raise AssetPathError(
        f"{rel_path}: header field 'explainer.thumbnail' names {thumbnail!r}, a file the recipe "
        f"never wrote. Its pictures: {', '.join(written) or 'none'}. Name one of them, or save "
        f"{thumbnail!r} with ex.save_figure(fig, {thumbnail!r}, alt=...)"
    )


def _check_declared_data(declared: list[dict[str, str]], outputs: dict[str, Any],
                         rel_path: str) -> None:
    """Data opened with ``ex.open_data`` must be in the header, or the cache would miss it."""
    from pipeline.library.open_data import undeclared

    missing = undeclared(outputs.get("data", []), declared)
    if missing:
        raise PipelineError(
            f"{rel_path}: the recipe opened {', '.join(missing)} but its header does not declare "
            "it. Add it to 'explainer.data' (e.g. '- sklearn: load_wine'), so that a change to "
            "the data rebuilds the page"
        )


def _refuse_links(staged: Path, rel_path: str) -> None:
    """Published files must be real files: a symbolic link could serve a file from anywhere."""
    for path in sorted(staged.rglob("*")):
        if path.is_symlink():
            raise AssetPathError(
                f"{rel_path}: {path.relative_to(staged).as_posix()} is a symbolic link; write "
                "real files into the asset directory (links could point outside it)"
            )


def _python_version() -> str:
    import platform

    return platform.python_version()



"""``python -m benchmarks.gpu_check``: the full profile of every recipe on the GPU, timed.

Why: the design trains the articles' models on a GPU, and nothing else shows that it works or
how long it takes. This runs each recipe's build (``python -m pipeline build --force``) in its
own process, one after the other, and writes one JSON (default ``build/gpu_check.json``):

* per recipe: status, wall seconds, the build's own timings, peak GPU memory (``nvidia-smi``
  sampled twice a second while it ran), final metrics, the backend and device in its manifest;
* the Keras backend, the GPU model and memory, Python and package versions;
* one recipe (``--compare``) built on the GPU and again with the GPU hidden, in the same run,
  and the speed-up (CPU seconds / GPU seconds, training time when the manifest has it).

It needs only the pipeline's runtime packages (no nox, no network): on an offline GPU host it
runs from the folder ``scripts/prepare_gpu_carry.py`` prepares (docs/gpu.md). ``--budget-s``
keeps it inside a job's time limit (default: one 10-minute command): recipes that would start
after the budget are reported as skipped. JAX is told not to preallocate GPU memory, so the peak is what the recipe used.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("gpu_check")

#: Environment that hides every GPU from every backend (the CPU half of the comparison).
CPU_ONLY = {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}


class GpuMemorySampler:
    """Peak ``memory.used`` (MiB) over all GPUs while a block runs; None without nvidia-smi."""

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self.peak: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gpu-memory", daemon=True)

    def _sample(self) -> int | None:
        try:
            proc = subprocess.run(
                ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        if proc.returncode != 0:
            return None
        values = [int(float(v)) for v in proc.stdout.split() if v.strip()]
        return sum(values) if values else None

    def _loop(self) -> None:
        while not self._stop.is_set():
            value = self._sample()
            if value is None:
                return
            self.peak = value if self.peak is None else max(self.peak, value)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> GpuMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def recipe_slugs(content_dir: Path) -> list[str]:
    """Every recipe's slug, in build order."""
    sys.path.insert(0, str(REPO_ROOT))
    from pipeline.builder.recipes import discover

    return [r.slug for r in discover(content_dir)]


def latest_manifest(build_dir: Path, slug: str) -> dict[str, Any] | None:
    """The newest stored manifest of ``slug`` in ``build_dir`` (None when it never built)."""
    manifests = sorted((build_dir / "store" / slug).glob("*/manifest.json"),
                       key=lambda p: p.stat().st_mtime)
    if not manifests:
        return None
    return json.loads(manifests[-1].read_text())


def build_one(slug: str, *, profile: str, build_dir: Path, data_dir: Path | None,
              extra_env: dict[str, str] | None = None, timeout_s: float = 3600) -> dict[str, Any]:
    """Build one recipe in a fresh process; what it took and what it measured."""
    cmd = [sys.executable, "-m", "pipeline", "--build-dir", str(build_dir), "build",
           "--profile", profile, "--only", slug, "--force"]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
           **(extra_env or {})}
    log.info("building %s (%s profile)%s", slug, profile, " with the GPU hidden" if extra_env else "")
    start = time.perf_counter()
    with GpuMemorySampler() as sampler:
        try:
            proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                                  timeout=timeout_s, check=False)
            rc, tail = proc.returncode, (proc.stdout + proc.stderr)[-3000:]
        except subprocess.TimeoutExpired:
            rc, tail = None, f"timed out after {timeout_s:.0f} s"
    seconds = round(time.perf_counter() - start, 2)
    manifest = latest_manifest(build_dir, slug) if rc == 0 else None
    result: dict[str, Any] = {
        "status": "ok" if rc == 0 and manifest else "failed",
        "seconds": seconds,
        "peak_gpu_memory_mib": sampler.peak,
    }
    if manifest:
        hw = manifest.get("hardware", {})
        result.update({
            "timings": manifest.get("timings", {}),
            "metrics": manifest.get("metrics", {}),
            "backend": hw.get("keras_backend", "tensorflow"),
            "device": (hw.get("gpus") or [hw.get("accelerator", "CPU only")])[0],
            "data": [d.get("description") for d in manifest.get("data", [])],
            "notes": manifest.get("notes", []),
        })
    else:
        result["error_tail"] = tail
    return result


def _train_seconds(run: dict[str, Any]) -> float:
    return float((run.get("timings") or {}).get("train") or run["seconds"])


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("keras", "jax", "jaxlib", "torch", "tensorflow", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", help="profile of the per-recipe runs (full)")
    parser.add_argument("--only", action="append", default=[], metavar="SLUG",
                        help="check only these recipes (repeatable; default all)")
    parser.add_argument("--compare", default="feature-maps-of-a-small-cnn", metavar="SLUG",
                        help="recipe built on the GPU and on the CPU for the speed-up ('' = none)")
    parser.add_argument("--compare-profile", default="quick",
                        help="profile of the GPU/CPU comparison (quick: the CPU half stays short)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="offline data (default: .gpu-carry/data/datasets if present, else the pipeline's default)")
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build" / "gpu-check")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "gpu_check.json")
    parser.add_argument("--budget-s", type=float, default=540.0,
                        help="start no recipe after this many seconds (default 540: one 10-min call)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    sys.path.insert(0, str(REPO_ROOT))
    from pipeline.builder import accelerator

    data_dir = args.data_dir
    carried = Path(os.environ.get("GPU_CARRY", REPO_ROOT / ".gpu-carry")) / "data" / "datasets"
    if data_dir is None and carried.is_dir():
        data_dir = carried
    gpus, how = accelerator.query_gpus()
    report: dict[str, Any] = {
        "backend": accelerator.backend_name(),
        "gpu": [{"name": g.name, "memory_mib": g.memory_mib} for g in gpus],
        "gpu_detection": how,
        "profile": args.profile,
        "data_dir": str(data_dir) if data_dir else None,
        "versions": versions(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "recipes": {},
    }
    if not gpus:
        log.warning("no GPU visible (%s): the check runs on the CPU", how)
    start = time.perf_counter()
    slugs = args.only or recipe_slugs(REPO_ROOT / "content")

    def save() -> None:
        report["total_seconds"] = round(time.perf_counter() - start, 2)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")

    for slug in slugs:
        if time.perf_counter() - start > args.budget_s:
            report["recipes"][slug] = {"status": "skipped", "reason": f"over the {args.budget_s:.0f} s budget"}
            continue
        report["recipes"][slug] = build_one(slug, profile=args.profile, build_dir=args.build_dir,
                                            data_dir=data_dir)
        save()  # a killed run still leaves what it measured
    if args.compare:
        compare: dict[str, Any] = {"recipe": args.compare, "profile": args.compare_profile}
        if time.perf_counter() - start > args.budget_s:
            compare["status"] = "skipped (over budget)"
        else:
            gpu = build_one(args.compare, profile=args.compare_profile,
                            build_dir=args.build_dir / "compare-gpu", data_dir=data_dir)
            cpu = build_one(args.compare, profile=args.compare_profile,
                            build_dir=args.build_dir / "compare-cpu", data_dir=data_dir,
                            extra_env=CPU_ONLY)
            compare.update({"gpu": gpu, "cpu": cpu})
            if gpu["status"] == cpu["status"] == "ok":
                compare["speedup_train"] = round(_train_seconds(cpu) / max(_train_seconds(gpu), 1e-9), 2)
                compare["speedup_wall"] = round(cpu["seconds"] / max(gpu["seconds"], 1e-9), 2)
        report["compare"] = compare
    save()
    failed = [s for s, r in report["recipes"].items() if r.get("status") == "failed"]
    log.info("wrote %s (%d recipes, %d failed) in %.0f s", args.out, len(slugs), len(failed),
             report["total_seconds"])
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

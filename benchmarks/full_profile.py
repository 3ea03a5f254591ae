"""``python -m benchmarks full-profile``: build every recipe at the articles' sizes, and record it.

Runs the normal command, ``python -m pipeline build --profile full``, in the project's own build
folder (so the site shows what was measured, and a stopped run resumes from its checkpoints
when this is run again), watches the build's whole process tree for its peak memory, then
reads each recipe's result from the store and writes one JSON file
(``benchmarks/results/full-profile-cpu.json`` by default): per recipe its status (ran, cached,
failed), wall and CPU seconds, peak memory, thread count, whether it resumed from a
checkpoint, the data it used and its metrics; for the whole build its wall and CPU seconds and
peak memory; the device, machine, commit and package versions.

A recipe whose result was already in the store is reported as ``cached`` with the numbers of the
run that made it (``built_at`` says when): re-running this after a finished build rewrites the
file without training again. Nothing here is a stored constant: every number comes from the
build it ran or the store it read.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.machine import PeakMemory, git_facts, load_average, machine_facts, now_iso

log = logging.getLogger("benchmarks.full_profile")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "full-profile-cpu.json"
SCHEMA = 1
#: Metrics longer than this (a data summary sentence) are kept; anything bigger is left out.
MAX_METRIC_CHARS = 400


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks full-profile",
        description="Build every recipe's full profile with the normal build command and "
                    "record seconds, CPU seconds, peak memory and metrics per recipe.")
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build",
                        help="the build folder (default: the project's build/, so the site "
                             "shows the result and a stopped run resumes)")
    parser.add_argument("--content-dir", type=Path, default=REPO_ROOT / "content")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="passed to the build (default: the build's own default)")
    parser.add_argument("--jobs", default="auto", help="passed to the build (default auto)")
    parser.add_argument("--only", action="append", default=[],
                        help="build only these recipes (repeatable); the JSON lists only them")
    parser.add_argument("--profile", default="full", help="the profile (default full)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where the JSON goes (default {DEFAULT_OUT.relative_to(REPO_ROOT)})")
    parser.add_argument("--speed-probe", action="store_true",
                        help="also time the CIFAR-10 network's training in float32 and bfloat16 "
                             "(benchmarks.cifar_speed, about 3 minutes): what a machine without "
                             "bfloat16 units pays for the full profile")
    parser.add_argument("--no-build", dest="build", action="store_false",
                        help="do not build: report what the store holds (every recipe must "
                             "have a result of this profile)")
    return parser


def build_command(args: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "pipeline", "--content-dir", str(args.content_dir),
           "--build-dir", str(args.build_dir), "build", "--profile", args.profile,
           "--jobs", str(args.jobs)]
    if args.data_dir is not None:
        cmd += ["--data-dir", str(args.data_dir)]
    for slug in args.only:
        cmd += ["--only", slug]
    return cmd


def run_build(cmd: list[str]) -> dict[str, Any]:
    """Run the build as a child process: wall seconds, CPU seconds of its tree, peak memory."""
    log.info("running %s", " ".join(cmd))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    peak = PeakMemory(interval=1.0)
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT)
    peak.watch(proc.pid)
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # the build stops itself (it got the same Ctrl-C); wait for it
        code = proc.wait()
        raise
    finally:
        peak_bytes = peak.stop()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"command": " ".join(cmd[1:]), "exit_code": code, "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1), "peak_rss_mb": round(peak_bytes / 2**20, 1)}


def _metrics(raw: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in sorted(raw.items()):
        if isinstance(value, bool | int | float) or value is None:
            out[key] = value
        elif isinstance(value, str) and len(value) <= MAX_METRIC_CHARS:
            out[key] = value
    return out


def recipe_record(slug: str, state: Any, manifest: dict[str, Any] | None,
                  build_started: float | None) -> dict[str, Any]:
    """One recipe's line of the report, from its state and its current manifest."""
    attempt = state.last_attempt
    record: dict[str, Any] = {"status": str(attempt.status) if attempt else "never built"}
    if attempt is not None and attempt.failure is not None:
        record["failure"] = attempt.failure.summary
    if manifest is None:
        return record
    timings = manifest.get("timings") or {}
    resources = manifest.get("resources") or {}
    hardware = manifest.get("hardware") or {}
    record.update({
        "profile": manifest.get("profile"),
        "key": str(manifest.get("key", ""))[:16],
        "built_at": manifest.get("built_at"),
        "seconds": timings.get("execute"),
        "kernel_seconds": timings.get("total"),
        "cpu_s": resources.get("cpu_s"),
        "peak_rss_mb": resources.get("peak_rss_mb"),
        "threads": (manifest.get("deps") or {}).get("threads")
        or hardware.get("intra_op_threads"),
        "resumed": bool(manifest.get("resumed_from")),
        "resumed_from": list(manifest.get("resumed_from") or []),
        "timings": {k: v for k, v in sorted(timings.items()) if isinstance(v, int | float)},
        "device": hardware.get("accelerator"),
        "keras_backend": hardware.get("keras_backend"),
        "data": [d.get("description") or d.get("dataset") for d in manifest.get("data") or []],
        "diverged": bool((manifest.get("status") or {}).get("diverged")),
        "metrics": _metrics(manifest.get("metrics") or {}),
    })
    if record["cpu_s"] and record["seconds"]:
        record["cores_busy"] = round(record["cpu_s"] / record["seconds"], 2)
    return record


def collect(build_dir: Path, content_dir: Path, profile: str, only: list[str]
            ) -> dict[str, dict[str, Any]]:
    """Every recipe's record (or only ``only``), from the store after the build."""
    from pipeline.builder.errors import CorruptEntry
    from pipeline.builder.recipes import discover_all
    from pipeline.builder.store import BuildDir

    bdir = BuildDir(build_dir)
    recipes, _ = discover_all(content_dir)
    out: dict[str, dict[str, Any]] = {}
    for recipe in recipes:
        if only and recipe.slug not in only:
            continue
        state = bdir.read_state(recipe.slug)
        manifest = None
        if state.current:
            try:
                manifest = bdir.verify_entry(bdir.entry_dir(recipe.slug, state.current),
                                             state.current)
            except CorruptEntry as exc:
                log.warning("%s: stored result is damaged (%s)", recipe.slug, exc)
        if manifest is not None and manifest.get("profile") != profile:
            log.warning("%s: the current result is of the %r profile, not %r", recipe.slug,
                        manifest.get("profile"), profile)
            manifest = None
        out[recipe.slug] = recipe_record(recipe.slug, state, manifest, None)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from pipeline.library.precision import ONEDNN_DEFAULT

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", ONEDNN_DEFAULT)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "command": "python -m benchmarks full-profile",
        "date": now_iso(),
        "git": git_facts(),
        "profile": args.profile,
        "load_before": load_average(),
    }
    if args.build:
        report["build"] = run_build(build_command(args))
    report["recipes"] = collect(args.build_dir, args.content_dir, args.profile, args.only)
    if args.speed_probe:
        from benchmarks.cifar_speed import measure

        log.info("timing the CIFAR-10 network's training in float32 and bfloat16")
        report["training_speed"] = measure()
    devices = sorted({r.get("device") for r in report["recipes"].values() if r.get("device")})
    report["device"] = ", ".join(devices) or None
    report["machine"] = {**machine_facts(), "load_after": load_average()}
    from benchmarks.machine import package_versions

    report["versions"] = package_versions()
    ran = [r for r in report["recipes"].values() if r.get("seconds")]
    report["totals"] = {
        "recipes": len(report["recipes"]),
        "ran": sum(1 for r in report["recipes"].values() if r["status"] == "ran"),
        "cached": sum(1 for r in report["recipes"].values() if r["status"] == "cached"),
        "failed": sum(1 for r in report["recipes"].values() if r["status"] == "failed"),
        "resumed": sum(1 for r in report["recipes"].values() if r.get("resumed")),
        "recipe_seconds": round(sum(r["seconds"] for r in ran), 1),
        "recipe_cpu_s": round(sum(r.get("cpu_s") or 0 for r in ran), 1),
    }
    return report


def write(report: dict[str, Any], path: Path) -> None:
    from pipeline.library import atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_text(path, json.dumps(report, indent=1, sort_keys=False) + "\n")


def print_summary(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report['profile']} profile, {report.get('device') or 'device unknown'}")
    for col in ("recipe", "status", "seconds", "CPU s", "threads", "peak MB", "resumed"):
        table.add_column(col, justify="left" if col in ("recipe", "status") else "right")
    for slug, r in report["recipes"].items():
        table.add_row(slug, r["status"], _fmt(r.get("seconds")), _fmt(r.get("cpu_s")),
                      str(r.get("threads") or ""), _fmt(r.get("peak_rss_mb")),
                      "yes" if r.get("resumed") else "")
    console = Console(stderr=True)
    console.print(table)
    build = report.get("build")
    if build:
        console.print(f"whole build: {build['wall_s']:.0f} s wall, {build['cpu_s']:.0f} CPU s, "
                      f"peak {build['peak_rss_mb']:.0f} MB, exit {build['exit_code']}")


def _fmt(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) else ""


def main(argv: list[str] | None = None) -> int:
    from rich.logging import RichHandler

    logging.basicConfig(level=logging.INFO, format="%(message)s",
                        handlers=[RichHandler(show_path=False, markup=False)], force=True)
    args = make_parser().parse_args(argv)
    report = run(args)
    write(report, args.out)
    print_summary(report)
    log.info("wrote %s", args.out)
    failed = report["totals"]["failed"] or (report.get("build") or {}).get("exit_code")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Facts that make two benchmark runs comparable: commit, date, machine, package versions."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Versions recorded next to the ones that enter the cache key (TensorFlow, Keras, ...).
EXTRA_PACKAGES = ("mkdocs", "mkdocs-material", "nbclient", "jupyter_client", "ipykernel",
                  "jupytext", "scikit-learn", "pillow", "imageio-ffmpeg", "rich")


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def git_facts() -> dict[str, Any]:
    """The commit measured and whether tracked files had uncommitted changes."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "short": commit[:12] if commit else None,
            "branch": _git("rev-parse", "--abbrev-ref", "HEAD"),
            "dirty": bool(status) if status is not None else None}


def _gpus() -> list[str]:
    """GPU names: from TensorFlow when the benchmarks imported it, else from nvidia-smi."""
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        try:
            names = []
            for gpu in tf.config.list_physical_devices("GPU"):
                details = tf.config.experimental.get_device_details(gpu)
                names.append(details.get("device_name", gpu.name))
            return names
        except Exception:  # a broken CUDA setup must not stop the report
            pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            proc = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"],
                                  capture_output=True, text=True, timeout=20, check=False)
            if proc.returncode == 0:
                return [line.strip() for line in proc.stdout.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            pass
    return []


def load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine_facts() -> dict[str, Any]:
    from pipeline.library.runtime import detect_hardware

    hw = detect_hardware()
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "cpu": hw.get("cpu"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": affinity,
        "machine": platform.machine(),
        "system": platform.platform(),
        "memory_gib": memory,
        "gpus": _gpus(),
        "python": platform.python_version(),
    }


def package_versions() -> dict[str, str]:
    from pipeline.builder.cache import package_versions as keyed

    versions = dict(keyed())
    for name in EXTRA_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


class PeakMemory:
    """Peak summed resident memory of a process and all its descendants (Linux ``/proc``)."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.root_pid: int | None = None

    @staticmethod
    def _tree_rss(root: int) -> int:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{pid}/statm") as fh:
                    rss[pid] = int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(pid)
        total, todo = 0, [root]
        while todo:
            pid = todo.pop()
            total += rss.get(pid, 0)
            todo.extend(children.get(pid, []))
        return total

    def watch(self, pid: int) -> None:
        self.root_pid = pid
        if not os.path.isdir("/proc"):
            return

        def loop() -> None:
            while not self._stop.is_set():
                self.peak = max(self.peak, self._tree_rss(pid))
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=loop, name="peak-memory", daemon=True)
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        return self.peak

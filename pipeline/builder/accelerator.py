"""Which build of the Keras backend to install: the GPU one when there is a GPU, else the CPU one.

Why: ``nox`` sessions used to install ``tensorflow-cpu`` everywhere, so a GPU machine trained on
its CPU. The rule is simple and explicit: ``NNX_ACCELERATOR=gpu`` or ``cpu`` decides when set;
otherwise a GPU is used when ``nvidia-smi`` runs and lists one. ``KERAS_BACKEND`` picks the
framework (``tensorflow`` by default, ``jax``, ``torch``). Standard library only: ``noxfile.py``
imports this before any environment exists, and ``python -m pipeline doctor`` reports it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

ACCELERATOR_ENV = "NNX_ACCELERATOR"
BACKEND_ENV = "KERAS_BACKEND"
BACKENDS = ("tensorflow", "jax", "torch")

#: pyproject extras per (backend, accelerator).
EXTRAS = {
    ("tensorflow", "cpu"): "cpu",
    ("tensorflow", "gpu"): "gpu",
    ("jax", "cpu"): "jax",
    ("jax", "gpu"): "jax-gpu",
    ("torch", "cpu"): "torch",
    ("torch", "gpu"): "torch",  # PyPI's torch wheel is the CUDA build
}


@dataclass(frozen=True)
class GPU:
    """One GPU as ``nvidia-smi`` reports it."""

    name: str
    memory_mib: int | None


@dataclass(frozen=True)
class Choice:
    """What a build will install and use, and why."""

    backend: str
    accelerator: str  # "gpu" or "cpu"
    extra: str
    reason: str
    gpus: list[GPU] = field(default_factory=list)


def query_gpus(timeout: float = 10.0) -> tuple[list[GPU], str]:
    """GPUs listed by ``nvidia-smi`` and a sentence on how that went (never raises)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return [], "nvidia-smi is not on PATH"
    try:
        proc = subprocess.run(
            [exe, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return [], f"nvidia-smi failed to run ({exc})"
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        return [], f"nvidia-smi exited with {proc.returncode}" + (f": {detail[0]}" if detail else "")
    gpus = []
    for line in proc.stdout.splitlines():
        if not line.strip():
            continue
        name, _, mem = line.partition(",")
        try:
            memory = int(float(mem.strip()))
        except ValueError:
            memory = None
        gpus.append(GPU(name.strip(), memory))
    return gpus, f"nvidia-smi lists {len(gpus)} GPU(s)" if gpus else "nvidia-smi lists no GPU"


def backend_name(env: Mapping[str, str] | None = None) -> str:
    """``KERAS_BACKEND`` (default ``tensorflow``), checked."""
    env = os.environ if env is None else env
    backend = env.get(BACKEND_ENV, "").strip().lower() or "tensorflow"
    if backend not in BACKENDS:
        raise ValueError(f"{BACKEND_ENV}={backend!r} is not supported; use one of {', '.join(BACKENDS)}")
    return backend


def choose(env: Mapping[str, str] | None = None) -> Choice:
    """The backend build to install: ``NNX_ACCELERATOR`` if set, else GPU iff nvidia-smi sees one."""
    env = os.environ if env is None else env
    backend = backend_name(env)
    asked = env.get(ACCELERATOR_ENV, "").strip().lower()
    if asked not in ("", "auto", "gpu", "cpu"):
        raise ValueError(f"{ACCELERATOR_ENV}={asked!r} is not valid; use gpu, cpu or auto")
    gpus, how = query_gpus()
    if asked in ("gpu", "cpu"):
        accel, reason = asked, f"{ACCELERATOR_ENV}={asked}"
    else:
        accel = "gpu" if gpus else "cpu"
        reason = how
    return Choice(backend, accel, EXTRAS[(backend, accel)], reason, gpus)

"""Which mixed-precision arithmetic pays on this machine: float16 on a GPU, bfloat16 on a CPU
with bfloat16 matrix units, none otherwise. No TensorFlow or Keras import.

Why: the CIFAR-10 recipe's training is convolutions, and on a CPU with native bfloat16 matrix
units (Intel AMX-BF16, or the AVX512-BF16 dot-product instructions) Keras'
``mixed_bfloat16`` policy (bfloat16 compute, float32 weights) trains the quick profile in about
40 % of the float32 CPU time (measured: 40.1 s -> 16.8 s, one thread, AMX-BF16). Those units are
reached only through oneDNN: with TensorFlow's oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``) or on a
CPU without them, bfloat16 is emulated and about 25 times *slower* than float32 (measured: 160 s
per epoch instead of 6). So the choice needs both facts, and this module makes it from plain
inputs (``/proc/cpuinfo`` text, whether a GPU is visible, whether oneDNN is on) so that it can
be tested without the hardware.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BF16_CPU_FLAGS", "ONEDNN_DEFAULT", "PrecisionChoice", "bf16_cpu_flags",
           "choose_mixed_precision", "compute_dtype", "onednn_requested"]

#: ``TF_ENABLE_ONEDNN_OPTS`` for recipe kernels when the environment does not set it: on.
#: Why: oneDNN's CPU kernels train the CIFAR-10 quick profile in 40 % of the time of TensorFlow's
#: plain kernels with the same float32 metrics (measured: 91.8 s -> 40.1 s, one thread), and only
#: they reach bfloat16 units. Builds and tests must agree on it: pictures are checked by
#: recomputing them, and the two kernel families differ in the last bits.
ONEDNN_DEFAULT = "1"

#: ``/proc/cpuinfo`` flags of native bfloat16 matrix arithmetic that oneDNN uses.
BF16_CPU_FLAGS: tuple[str, ...] = ("amx_bf16", "avx512_bf16")

CPUINFO = Path("/proc/cpuinfo")


def onednn_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a TensorFlow kernel started with ``environ`` runs oneDNN (the project default)."""
    env = os.environ if environ is None else environ
    return env.get("TF_ENABLE_ONEDNN_OPTS", ONEDNN_DEFAULT).strip().lower() not in ("0", "false")


def bf16_cpu_flags(cpuinfo: str | None = None) -> tuple[str, ...]:
    """The bfloat16 matrix flags (of :data:`BF16_CPU_FLAGS`) every listed CPU reports.

    ``cpuinfo`` is the text of ``/proc/cpuinfo`` (read when None; empty on systems without it,
    e.g. macOS, which then count as having none). A flag counts only when every processor
    entry has it, so a process moved between cores never lands on one without.
    """
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ()
    per_cpu: list[set[str]] = []
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("flags", "Features"):
            per_cpu.append(set(value.split()))
    if not per_cpu:
        return ()
    common = set.intersection(*per_cpu)
    return tuple(flag for flag in BF16_CPU_FLAGS if flag in common)


def compute_dtype(policy: str | None) -> str:
    """The arithmetic of the layers under a Keras dtype ``policy`` (what
    ``Explainer.enable_mixed_precision`` returns; None: no policy was set): ``float16``,
    ``bfloat16`` or ``float32``. Recipes report it as a metric, so the page says it."""
    return policy.removeprefix("mixed_") if policy else "float32"


@dataclass(frozen=True)
class PrecisionChoice:
    """A Keras dtype policy (``None``: stay in float32) and the sentence saying why."""

    policy: str | None
    reason: str

    @property
    def compute_dtype(self) -> str:
        """The arithmetic of the layers: ``float16``, ``bfloat16`` or ``float32``."""
        return compute_dtype(self.policy)


def choose_mixed_precision(*, gpu: bool, cpu_flags: tuple[str, ...], onednn: bool) -> PrecisionChoice:
    """The mixed-precision policy that is faster than float32 here, or ``None``.

    ``gpu``: the backend computes on a GPU (float16 tensor cores: ``mixed_float16``).
    ``cpu_flags``: :func:`bf16_cpu_flags`. ``onednn``: TensorFlow's oneDNN kernels are on (the
    only route to the CPU's bfloat16 units; ``False`` for other backends, which are not measured).
    """
    if gpu:
        return PrecisionChoice("mixed_float16", "float16 compute with float32 weights on the GPU")
    if cpu_flags and onednn:
        return PrecisionChoice(
            "mixed_bfloat16",
            f"bfloat16 compute with float32 weights on the CPU, whose bfloat16 matrix units "
            f"({', '.join(cpu_flags)}) make it faster than float32",
        )
    if cpu_flags:
        return PrecisionChoice(
            None, f"float32: the CPU has bfloat16 units ({', '.join(cpu_flags)}) but TensorFlow's "
                  "oneDNN kernels, the only way to them, are off (TF_ENABLE_ONEDNN_OPTS=0), and "
                  "emulated bfloat16 is far slower than float32")
    return PrecisionChoice(
        None, "float32: no GPU and no CPU bfloat16 matrix units (amx_bf16 or avx512_bf16), where "
              "mixed precision would be slower")

"""How fast the CIFAR-10 full profile's network trains here, in float32 and in bfloat16.

Why: a full build's time is mostly this network's training (width 128, nine 3x3 convolutions,
batch 128, 7 epochs of 50,000 images), and what a machine without bfloat16 units (GitHub's
hosted runners) pays is the float32 time. Building the whole profile twice to learn both would
take two hours; training the real network on a few hundred batches of random images gives the
time per image within a few percent (convolution cost does not depend on the pixel values).

Each precision runs in its own fresh process (Keras' global policy and TensorFlow's thread
pools are set once per process), with every core, oneDNN on, and ``fit_fast`` as the recipe
trains. The first batches (graph tracing, oneDNN's kernel selection) are not timed.
``python -m benchmarks.cifar_speed [--steps N]`` prints JSON; ``python -m benchmarks
full-profile --speed-probe`` puts it in the full-profile record.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

BATCH = 128
WIDTH = 128
EPOCH_IMAGES = 50_000
EPOCHS = 7


def _probe(policy: str, steps: int, warmup: int) -> dict[str, Any]:
    """Train the full-width net ``warmup`` then ``steps`` batches under ``policy``; time the latter."""
    import numpy as np

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from pipeline.library.explainers.cifar_views import all_conv_net
    from pipeline.library.training import fit_fast

    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = BATCH * (warmup + steps)
    x = rng.random((n, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, size=(n, 1)).astype("int64")
    model = all_conv_net(WIDTH)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    fit_fast(model, x[: BATCH * warmup], y[: BATCH * warmup], epochs=1, batch_size=BATCH, seed=0)
    started = time.perf_counter()
    cpu0 = time.process_time()
    fit_fast(model, x[BATCH * warmup:], y[BATCH * warmup:], epochs=1, batch_size=BATCH, seed=0)
    seconds = time.perf_counter() - started
    ms = 1000 * seconds / (BATCH * steps)
    return {"policy": policy, "steps": steps, "batch": BATCH, "width": WIDTH,
            "seconds": round(seconds, 2), "cpu_s": round(time.process_time() - cpu0, 1),
            "ms_per_image": round(ms, 3),
            "seven_epochs_min": round(ms * EPOCH_IMAGES * EPOCHS / 60000, 1)}


def measure(steps: int = 60, warmup: int = 8) -> dict[str, Any]:
    """Both precisions, each in a fresh subprocess; bfloat16 only where the CPU has the units."""
    from pipeline.library.cores import usable_cores
    from pipeline.library.precision import ONEDNN_DEFAULT, bf16_cpu_flags

    threads = str(usable_cores())
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=os.environ.get("TF_ENABLE_ONEDNN_OPTS",
                                                                 ONEDNN_DEFAULT),
               TF_NUM_INTRAOP_THREADS=threads, OMP_NUM_THREADS=threads,
               TF_CPP_MIN_LOG_LEVEL="2")
    policies = ["float32"] + (["mixed_bfloat16"] if bf16_cpu_flags() else [])
    out: dict[str, Any] = {"threads": int(threads), "bf16_units": bool(bf16_cpu_flags())}
    for policy in policies:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.cifar_speed", "--one", policy,
                               "--steps", str(steps), "--warmup", str(warmup)],
                              capture_output=True, text=True, env=env, check=False)
        if proc.returncode != 0:
            out[policy] = {"error": proc.stderr.strip().splitlines()[-1:]}
            continue
        out[policy] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cifar_speed",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="timed batches (default 60)")
    parser.add_argument("--warmup", type=int, default=8, help="untimed batches first (default 8)")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # a child: one policy
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_probe(args.one, args.steps, args.warmup)))
    else:
        print(json.dumps(measure(args.steps, args.warmup), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

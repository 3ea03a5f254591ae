"""The library gives the same numbers on every Keras backend (TensorFlow is the reference).

Each backend runs tests/backend_probe.py in its own process (Keras picks its backend once per
process) from the same initial weights and data; the test compares what they computed:
training losses, per-batch curves, replay probe outputs and gradients, integrated gradients and
Grad-CAM. Tolerances: float32 kernels differ in summation order between frameworks, so values
agree to ~1e-5 relative after a few Adam steps; we allow 1e-4 (2e-3 for Grad-CAM, a ratio of
small gradients). A backend that is not installed is skipped, with the command that installs it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]
PROBE = Path(__file__).resolve().parents[2] / "backend_probe.py"

pytestmark = pytest.mark.backends


def _initial_weights(path: Path) -> None:
    rng = np.random.default_rng(7)
    shapes = [(3, 3, 1, 3), (3,), (48, 4), (4,), (4, 3), (3,)]
    arrays = {f"w{i}": rng.normal(0, 0.4, s).astype(np.float32) for i, s in enumerate(shapes)}
    x = rng.normal(0, 1, (30, 6, 6, 1)).astype(np.float32)
    y = (x.sum(axis=(1, 2, 3)) > 0).astype(np.int64) + (x[:, 0, 0, 0] > 1)
    np.savez(path, x=x, y=y, **arrays)


def _run(backend: str, tmp: Path, weights: Path) -> dict[str, np.ndarray]:
    out = tmp / f"{backend}.npz"
    work = tmp / backend
    work.mkdir()
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT),
           "CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(PROBE), str(weights), str(out), str(work)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f'"backend": "{backend}"' in proc.stdout
    with np.load(out) as data:
        return dict(data)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    tmp = tmp_path_factory.mktemp("backends")
    weights = tmp / "init.npz"
    _initial_weights(weights)
    return tmp, weights, _run("tensorflow", tmp, weights)


def _check_same(ref: dict[str, np.ndarray], got: dict[str, np.ndarray]) -> None:
    assert ref["loss"].shape == (4,) and np.all(np.diff(ref["loss"]) < 0)  # it trained
    for key in ("loss", "val_loss", "accuracy", "batch_loss", "batch_size", "probe_loss",
                "grad_hidden", "out_prob", "hidden_w", "ig", "final"):
        np.testing.assert_allclose(got[key], ref[key], rtol=1e-4, atol=1e-5, err_msg=key)
    np.testing.assert_allclose(got["cam"], ref["cam"], rtol=2e-3, atol=2e-4, err_msg="cam")
    assert float(got["ig_gap"]) < 0.05


@pytest.mark.skipif(importlib.util.find_spec("jax") is None,
                    reason="JAX not installed: pip install 'jax[cpu]' (extra 'jax')")
def test_jax_backend_matches_tensorflow(reference: tuple[Path, Path, dict]) -> None:
    tmp, weights, ref = reference
    _check_same(ref, _run("jax", tmp, weights))


@pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                    reason="PyTorch not installed (multi-GB wheel): nox -s tests_torch")
def test_torch_backend_matches_tensorflow(reference: tuple[Path, Path, dict]) -> None:
    tmp, weights, ref = reference
    _check_same(ref, _run("torch", tmp, weights))


def test_differing_numbers_are_caught(reference: tuple[Path, Path, dict]) -> None:
    """The comparison is not vacuous: a run from other initial weights fails it."""
    tmp, weights, ref = reference
    other = dict(ref)
    other["final"] = ref["final"] * (1 + 1e-3)
    with pytest.raises(AssertionError):
        _check_same(ref, other)

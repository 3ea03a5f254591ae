"""The replay file: round trip, validation of bad files, atomic writes, no TensorFlow needed.

These tests build a replay by hand (a tiny Dense chain evaluated with the numpy forward pass),
so they run in well under a second and do not import TensorFlow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.library.atomic import atomic_directory, atomic_path
from pipeline.library.errors import PipelineError
from pipeline.library.replay.forward import NumpyForward
from pipeline.library.replay.store import (
    FORMAT,
    VERSION,
    Replay,
    ReplayFileError,
    write_replay_file,
)

ROOT = Path(__file__).resolve().parents[4]


def _dense(name: str, units: int, activation: str) -> dict:
    return {
        "module": "keras.layers",
        "class_name": "Dense",
        "config": {"name": name, "units": units, "activation": activation, "use_bias": True},
    }


MODEL_CONFIG = {
    "class_name": "Sequential",
    "config": {
        "name": "sequential",
        "layers": [
            {"class_name": "InputLayer", "config": {"name": "input", "batch_shape": [None, 2]}},
            _dense("dense", 4, "tanh"),
            _dense("hidden", 2, "tanh"),
            _dense("output", 1, "sigmoid"),
        ],
    },
}
SHAPES = {
    "dense/kernel": (2, 4), "dense/bias": (4,),
    "hidden/kernel": (4, 2), "hidden/bias": (2,),
    "output/kernel": (2, 1), "output/bias": (1,),
}


def synthetic_arrays(n_epochs: int = 4, n: int = 50, seed: int = 0) -> dict[str, np.ndarray]:
    """A replay as the recorder would write it, with weights drifting over epochs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    fwd = NumpyForward(MODEL_CONFIG)
    start = {k: rng.normal(scale=0.5, size=s).astype(np.float32) for k, s in SHAPES.items()}
    weights = {k: np.stack([v + 0.1 * e for e in range(n_epochs)]) for k, v in start.items()}
    outs_hidden, probs, losses = [], [], []
    for e in range(n_epochs):
        w = {k: v[e] for k, v in weights.items()}
        outs = fwd.outputs(w, x)
        outs_hidden.append(outs["hidden"])
        p = outs["output"]
        probs.append(p)
        pc = np.clip(p[:, 0], 1e-7, 1 - 1e-7)
        losses.append(-(y * np.log(pc) + (1 - y) * np.log(1 - pc)))
    sample_loss = np.stack(losses).astype(np.float32)
    meta = {
        "format": FORMAT, "version": VERSION, "model_config": json.dumps(MODEL_CONFIG),
        "layer_names": ["dense", "hidden", "output"], "recorded_layers": ["hidden"],
        "weight_keys": list(SHAPES), "gradient_keys": [], "loss": "binary_crossentropy",
        "from_logits": False, "recorder": {},
    }
    arrays = {
        "meta": np.array(json.dumps(meta)),
        "epochs": np.arange(n_epochs),
        "probe_x": x,
        "probe_y": y,
        "probabilities": np.stack(probs),
        "sample_loss": sample_loss,
        "metric/probe_loss": sample_loss.mean(axis=1).astype(np.float64),
        "metric/loss": np.r_[np.nan, sample_loss.mean(axis=1)[1:]],
        "output/hidden": np.stack(outs_hidden),
    }
    arrays.update({f"weight/{k}": v for k, v in weights.items()})
    return arrays


@pytest.fixture()
def replay_file(tmp_path: Path) -> Path:
    return write_replay_file(tmp_path / "run.npz", synthetic_arrays())


def test_round_trip_accessors(replay_file: Path) -> None:
    r = Replay.load(replay_file)
    assert list(r.epochs) == [0, 1, 2, 3]
    assert r.n_probe == 50 and r.probe_x.shape == (50, 2) and r.probe_y.shape == (50,)
    assert set(r.metrics) == {"probe_loss", "loss"}
    assert np.isnan(r.metrics["loss"][0]) and r.metrics["probe_loss"].shape == (4,)
    w = r.weights(2)
    assert list(w) == list(SHAPES) and all(w[k].shape == s for k, s in SHAPES.items())
    assert r.layer_output("hidden", 3).shape == (50, 2)
    assert r.probabilities(1).shape == (50, 1)
    assert r.sample_loss(1).shape == (50,)
    assert r.loss_name == "binary_crossentropy"
    assert r.model_config["class_name"] == "Sequential"
    assert r.layer_names == ["dense", "hidden", "output"]
    assert list(r.labels[:5]) == list(r.probe_y[:5].astype(int))
    np.testing.assert_allclose(r.metrics["probe_loss"], r.all_sample_losses.mean(axis=1))


def test_numpy_model_reproduces_stored_outputs(replay_file: Path) -> None:
    r = Replay.load(replay_file)
    for e in r.epochs:
        w = r.weights(int(e))
        np.testing.assert_allclose(
            r.numpy_model(w, r.probe_x, stop_at="hidden"), r.layer_output("hidden", int(e)),
            rtol=1e-6, atol=1e-6,
        )
        tail = r.numpy_model(w, r.layer_output("hidden", int(e)), start_after="hidden")
        np.testing.assert_allclose(tail, r.probabilities(int(e)), rtol=1e-6, atol=1e-6)


def test_epoch_numbers_not_positions(tmp_path: Path) -> None:
    arrays = synthetic_arrays()
    arrays["epochs"] = np.arange(10, 14)
    r = Replay.load(write_replay_file(tmp_path / "late.npz", arrays))
    np.testing.assert_array_equal(r.weights(12)["dense/bias"], arrays["weight/dense/bias"][2])
    with pytest.raises(KeyError, match="epoch 3 is not in this replay"):
        r.weights(3)


def test_save_round_trip_drops_checkpoint(tmp_path: Path, replay_file: Path) -> None:
    r = Replay.load(replay_file)
    out = r.save(tmp_path / "copy.npz", compress=True)
    again = Replay.load(out)
    for k in SHAPES:
        np.testing.assert_array_equal(again.weight_history(k), r.weight_history(k))
    assert again.checkpoint is None


def test_subset_keeps_chosen_epochs_and_drops_checkpoint(tmp_path: Path) -> None:
    arrays = synthetic_arrays(n_epochs=6)
    arrays["ckpt/model/0000"] = np.zeros(3)
    meta = json.loads(str(arrays["meta"]))
    meta["checkpoint"] = {"epoch": 5, "n_model": 1, "n_optimizer": 0}
    arrays["meta"] = np.array(json.dumps(meta))
    full = Replay.load(write_replay_file(tmp_path / "run.npz", arrays))
    sub = full.subset([0, 2, 5])
    assert list(sub.epochs) == [0, 2, 5] and sub.checkpoint is None
    for e in (0, 2, 5):
        np.testing.assert_array_equal(sub.layer_output("hidden", e), full.layer_output("hidden", e))
        np.testing.assert_array_equal(sub.probabilities(e), full.probabilities(e))
        assert sub.metrics["probe_loss"][sub.index(e)] == full.metrics["probe_loss"][full.index(e)]
        for k, w in sub.weights(e).items():
            np.testing.assert_array_equal(w, full.weights(e)[k])
    np.testing.assert_array_equal(sub.probe_x, full.probe_x)
    saved = Replay.load(sub.save(tmp_path / "sub.npz", compress=True))
    assert list(saved.epochs) == [0, 2, 5] and saved.recorded_layers == ["hidden"]
    with pytest.raises(KeyError, match="epoch 9"):
        full.subset([9])


def test_truncated_file_is_a_clear_error(replay_file: Path) -> None:
    data = replay_file.read_bytes()
    replay_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(PipelineError, match="run.npz") as info:
        Replay.load(replay_file)
    assert isinstance(info.value, ReplayFileError)
    assert "truncated or corrupted" in str(info.value)


def test_flipped_bytes_are_a_clear_error(replay_file: Path) -> None:
    data = bytearray(replay_file.read_bytes())
    # Corrupt the middle of the weight data (stored uncompressed): only the CRC can notice.
    mid = len(data) // 2
    data[mid : mid + 16] = bytes(255 - b for b in data[mid : mid + 16])
    replay_file.write_bytes(bytes(data))
    with pytest.raises(ReplayFileError, match="run.npz"):
        Replay.load(replay_file)


def test_not_a_replay_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_text("hello")
    with pytest.raises(ReplayFileError, match="junk.npz"):
        Replay.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3))
    with pytest.raises(ReplayFileError, match="not a replay file"):
        Replay.load(other)
    with pytest.raises(ReplayFileError, match="does not exist"):
        Replay.load(tmp_path / "missing.npz")


def test_inconsistent_shapes_are_rejected(tmp_path: Path) -> None:
    arrays = synthetic_arrays()
    arrays["sample_loss"] = arrays["sample_loss"][:3]
    with pytest.raises(ReplayFileError, match="sample_loss"):
        Replay.load(write_replay_file(tmp_path / "bad.npz", arrays))
    arrays = synthetic_arrays()
    meta = json.loads(str(arrays["meta"]))
    meta["format"] = "something-else"
    arrays["meta"] = np.array(json.dumps(meta))
    with pytest.raises(ReplayFileError, match="format"):
        Replay.load(write_replay_file(tmp_path / "fmt.npz", arrays))
    meta["format"], meta["version"] = FORMAT, VERSION + 1
    arrays["meta"] = np.array(json.dumps(meta))
    with pytest.raises(ReplayFileError, match="newer pipeline"):
        Replay.load(write_replay_file(tmp_path / "new.npz", arrays))


def test_failed_write_leaves_no_partial_file(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "run.npz"
    write_replay_file(target, synthetic_arrays(seed=1))
    before = target.read_bytes()

    def exploding_savez(fh, **arrays):
        fh.write(b"PK partial data")
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", exploding_savez)
    with pytest.raises(RuntimeError, match="disk full"):
        write_replay_file(target, synthetic_arrays(seed=2))
    assert target.read_bytes() == before  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.npz"]  # no temp files


def test_atomic_path_and_directory(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "a.txt") as tmp:
        assert tmp.name.startswith(".a.txt.") and tmp.suffix == ".txt"
        tmp.write_text("done")
    assert (tmp_path / "a.txt").read_text() == "done"
    assert oct((tmp_path / "a.txt").stat().st_mode & 0o777) != oct(0o600)  # publishable

    with pytest.raises(ValueError), atomic_path(tmp_path / "b.txt") as tmp:
        tmp.write_text("half")
        raise ValueError("boom")
    assert not (tmp_path / "b.txt").exists()

    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "old.jpg").write_text("old")
    with pytest.raises(ValueError), atomic_directory(tmp_path / "frames") as tmp:
        (tmp / "new.jpg").write_text("new")
        raise ValueError("boom")
    assert [p.name for p in (tmp_path / "frames").iterdir()] == ["old.jpg"]
    with atomic_directory(tmp_path / "frames") as tmp:
        (tmp / "new.jpg").write_text("new")
    assert [p.name for p in (tmp_path / "frames").iterdir()] == ["new.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "frames"]


def test_replay_writes_through_the_shared_atomic_module() -> None:
    """Regression: pipeline/replay had its own copy of pipeline/library/atomic.py (_atomic.py)."""
    import importlib.util

    import pipeline.library.atomic
    import pipeline.library.replay.composer as composer
    import pipeline.library.replay.store as store

    assert importlib.util.find_spec("pipeline.library.replay._atomic") is None
    assert store.atomic_path is pipeline.library.atomic.atomic_path
    assert composer.atomic_path is pipeline.library.atomic.atomic_path


def test_rendering_modules_import_without_tensorflow_or_side_effects(replay_file: Path) -> None:
    code = (
        "import sys, matplotlib\n"
        # dict.items: the raw values (reading rcParams['backend'] would itself import pyplot)
        "before = dict(dict.items(matplotlib.rcParams))\n"
        "import pipeline.library.replay, pipeline.library.replay.panels, pipeline.library.replay.composer\n"
        "from pipeline.library.replay import Replay\n"
        f"r = Replay.load({str(replay_file)!r})\n"
        "from pipeline.library.replay.composer import Composition\n"
        "from pipeline.library.replay.panels import CurvesPanel\n"
        "Composition(r, [(CurvesPanel(['probe_loss']), (0, 0))], figsize=(3, 2)).render(2)\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "assert dict(dict.items(matplotlib.rcParams)) == before\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr

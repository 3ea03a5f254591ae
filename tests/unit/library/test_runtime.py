"""The recipe-side API: asset names stay inside the asset folder, outputs.json records what the
page needs (outputs, metrics, data, divergence), checkpoints have their own folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.library.errors import AssetPathError, TrainingDiverged
from pipeline.library.runtime import OUTPUTS_FILE, Explainer, safe_asset_name


@pytest.fixture
def ex(tmp_path) -> Explainer:
    return Explainer(asset_dir=tmp_path / "run" / "assets", profile="quick", seed=3,
                     sizes={"epochs": 2}, checkpoint_dir=tmp_path / "ckpt")


@pytest.mark.parametrize("name", ["loss.png", "frames/0001.jpg", "a/b/c.mp4", "frames//x.png",
                                  "./x.png"])
def test_plain_names_are_accepted(ex, name) -> None:
    path = ex.asset_path(name)
    assert path.is_relative_to(ex.asset_dir) and path.parent.is_dir()


@pytest.mark.parametrize(
    "name",
    ["", "   ", "/etc/passwd", "../x.png", "a/../../x.png", ".hidden", "a/.git/x",
     "a\\b.png", "C:evil.png", "outputs.json", "manifest.json", None, 3, "a\x00.png", "a\nb.png"],
)
def test_escaping_or_reserved_names_are_refused(ex, name) -> None:
    with pytest.raises(AssetPathError):
        ex.asset_path(name)
    assert [p.name for p in ex.asset_dir.iterdir()] == []


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_accepted_name_stays_inside(name: str) -> None:
    try:
        clean = safe_asset_name(name)
    except AssetPathError:
        return
    root = Path("/srv/assets")
    assert (root / clean).resolve().is_relative_to(root)
    assert ".." not in clean.split("/") and not clean.startswith("/")


def test_a_link_out_of_the_asset_dir_is_refused(ex, tmp_path) -> None:
    (ex.asset_dir / "up").symlink_to(tmp_path)
    with pytest.raises(AssetPathError, match="outside the asset directory"):
        ex.asset_path("up/x.txt")


def test_outputs_need_kind_and_alt_and_must_exist(ex) -> None:
    with pytest.raises(AssetPathError, match="kind"):
        ex.add_output("a.png", kind="picture", alt="x")
    with pytest.raises(AssetPathError, match="alt text"):
        ex.add_output("a.png", kind="image", alt="  ")
    ex.add_output("a.png", kind="image", alt="a thing")
    with pytest.raises(AssetPathError, match="never written: a.png"):
        ex.finish()


def test_finish_writes_outputs_json(ex) -> None:
    import numpy as np

    ex.save_text("table.html", "<table></table>", kind="html")
    ex.metric("acc", np.float32(0.5))
    ex.use_data({"dataset": "moons", "n_train": 10})
    ex.use_data({"dataset": "moons", "n_train": 10})  # recorded once
    ex.note("seed 3 reproduces the article")
    with ex.timer("train"):
        pass
    data = json.loads(Path(ex.finish()).read_text())
    assert data["outputs"] == [{"name": "table.html", "kind": "html", "alt": ""}]
    assert data["metrics"] == {"acc": 0.5} and type(data["metrics"]["acc"]) is float
    assert data["data"] == [{"dataset": "moons", "n_train": 10}]
    assert data["sizes"] == {"epochs": 2} and data["seed"] == 3 and data["status"] == {}
    assert {"train", "total"} <= set(data["timings"]) and data["hardware"]["cpu_count"]
    # deps.json: the depfile the build moves into the manifest (pipeline.library.deps)
    assert sorted(p.name for p in ex.asset_dir.iterdir()) == ["deps.json", OUTPUTS_FILE,
                                                               "table.html"]
    depfile = json.loads((ex.asset_dir / "deps.json").read_text())
    assert "pipeline/library/runtime.py" in depfile["modules"] and "numpy" in depfile["packages"]


def test_diverged_records_epoch_rate_and_loss(ex) -> None:
    assert not ex.is_diverged
    ex.diverged(TrainingDiverged(epoch=4, learning_rate=3.0, loss=float("nan")))
    assert ex.is_diverged
    status = json.loads(Path(ex.finish()).read_text())["status"]
    assert status["state"] == "diverged" and status["epoch"] == 4
    assert status["learning_rate"] == 3.0 and status["loss"] == "nan"
    assert "epoch 4" in status["message"] and "learning rate 3" in status["message"]


def test_diverged_with_unknown_rate_and_infinite_loss(ex) -> None:
    ex.diverged(TrainingDiverged(epoch=1, learning_rate=None, loss=math.inf))
    assert ex.status["learning_rate"] is None and ex.status["loss"] == "inf"
    json.dumps(ex.status, allow_nan=False)  # strict JSON


def test_checkpoint_path_is_validated_and_separate_from_assets(ex, tmp_path) -> None:
    path = ex.checkpoint_path("replay/ckpt.h5")
    assert path == (tmp_path / "ckpt" / "replay" / "ckpt.h5").resolve() and path.parent.is_dir()
    with pytest.raises(AssetPathError):
        ex.checkpoint_path("../escape")
    assert not any(ex.asset_dir.iterdir())


def test_checkpoint_dir_defaults_next_to_the_assets(tmp_path) -> None:
    ex = Explainer(asset_dir=tmp_path / "_assets")
    # keyed on the running code and the parameters (tests/system/test_by_hand.py checks the keying)
    assert ex.checkpoint_path("x").parent.parent == (tmp_path / "_checkpoints").resolve()


def test_save_figure_is_atomic_and_registers(ex) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1])
    path = ex.save_figure(fig, "plot.png", alt="a line", show=False)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the dark-palette version is written beside it; no temporary is left
    assert sorted(p.name for p in ex.asset_dir.iterdir()) == ["plot.dark.png", "plot.png"]
    assert ex.outputs["plot.png"].alt == "a line"


# ------------------------------------------------------------------- from_parameters, seeding
def test_from_parameters_reads_the_injected_values(tmp_path) -> None:
    namespace = {"profile": "full", "seed": 7, "asset_dir": str(tmp_path / "a"),
                 "data_dir": str(tmp_path / "d"), "sizes": {"epochs": 9},
                 "checkpoint_dir": str(tmp_path / "c"), "unrelated": object()}
    ex = Explainer.from_parameters(namespace, seed=False)
    assert (ex.profile, ex.seed, ex.sizes) == ("full", 7, {"epochs": 9})
    assert ex.asset_dir == (tmp_path / "a").resolve() and ex.data_dir == tmp_path / "d"
    assert ex.checkpoint_dir == (tmp_path / "c").resolve()
    # a parameters object works the same; missing values take the by-hand defaults
    from types import SimpleNamespace

    by_hand = Explainer.from_parameters(SimpleNamespace(asset_dir=str(tmp_path / "b"),
                                                        sizes={"n": 1}), seed=False)
    assert (by_hand.profile, by_hand.seed, by_hand.sizes, by_hand.data_dir) == (
        "quick", 0, {"n": 1}, None)


@pytest.mark.parametrize("name, value, needle", [
    ("seed", "0", "'seed' must be an integer"),
    ("seed", True, "'seed' must be an integer"),
    ("sizes", [1], "'sizes' must be a mapping"),
    ("profile", None, "'profile' must be a profile name"),
])
def test_from_parameters_names_a_bad_parameter(tmp_path, name, value, needle) -> None:
    from pipeline.library.errors import ConfigError

    with pytest.raises(ConfigError, match=needle):
        Explainer.from_parameters({"asset_dir": str(tmp_path), name: value})


_SEED_SCRIPT = """
import json, sys
import numpy as np
from pipeline.library import Explainer
Explainer.from_parameters({"asset_dir": sys.argv[1], "seed": 5})
imported_before = "keras" in sys.modules
drawn = float(np.random.rand())
import keras
layer = keras.layers.Dense(3)
layer.build((None, 2))
print(json.dumps({"before": imported_before, "numpy": drawn,
                  "kernel": keras.ops.convert_to_numpy(layer.kernel).tolist()}))
"""


def test_seeding_does_not_depend_on_when_keras_is_imported(tmp_path) -> None:
    """Keras imported before the Explainer (here) or only after it (a fresh process): the same
    numbers and weights, and the Explainer itself does not import Keras."""
    import os
    import subprocess
    import sys

    import keras
    import numpy as np

    from tests.conftest import REPO_ROOT

    Explainer.from_parameters({"asset_dir": str(tmp_path / "here"), "seed": 5})
    drawn = float(np.random.rand())
    layer = keras.layers.Dense(3)
    layer.build((None, 2))
    out = subprocess.run([sys.executable, "-c", _SEED_SCRIPT, str(tmp_path / "fresh")],
                         capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=True)
    fresh = json.loads(out.stdout.strip().splitlines()[-1])
    assert not fresh["before"]
    assert fresh["numpy"] == drawn
    assert fresh["kernel"] == keras.ops.convert_to_numpy(layer.kernel).tolist()

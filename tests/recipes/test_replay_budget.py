"""A new author's small CNN, made from the replay scaffold, publishes every file within budget.

Issue 24's case: ``pipeline new --template replay`` with only the ``data`` and ``model`` cells
changed to a small CNN on scikit-learn's digits (Conv2D(8) -> Flatten -> Dense(16) -> Dense(10)
logits). Its published ``replay.npz`` was 185 MB, because the recorder kept every layer's
outputs for all 1,797 images at every epoch. Built here through the real CLI (quick profile)
and the real site build (``mkdocs build --strict``, which fails over GitHub Pages' limits and
warns over the page budget): every file must be within the replay budget, and what the replay
holds must still be the model's own numbers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import MiniProject, need_module
from tests.replay_budget_cases import with_case
from tests.sitebuild import build_site

SLUG, SECTION = "digits-cnn", "examples"


@pytest.mark.slow
def test_digits_cnn_from_the_scaffold_builds_within_budget(tmp_path: Path) -> None:
    keras = need_module("keras")
    from pipeline.library.replay import Replay
    from pipeline.library.replay.store import MB, PUBLISH_BUDGET_MB

    (tmp_path / "project").mkdir()
    mini = MiniProject(tmp_path / "project")
    assert mini.cli("new", SLUG, "--section", SECTION, "--template", "replay", "--title",
                    "Digits, convolved", "--description", "A small CNN on 8x8 digits.") == 0
    recipe = mini.content / SECTION / f"{SLUG}.recipe.py"
    recipe.write_text(with_case(recipe.read_text(), SLUG))
    os.environ.setdefault("NNX_KERNEL_THREADS", "1")
    assert mini.cli("build", "--profile", "quick", "--only", SLUG) == 0, mini.state(SLUG)
    current = mini.current(SLUG)
    assert current is not None
    entry, _ = current

    sizes = {p.relative_to(entry).as_posix(): p.stat().st_size
             for p in entry.rglob("*") if p.is_file()}
    budget = PUBLISH_BUDGET_MB * MB
    assert sizes["assets/replay.npz"] <= budget
    assert not {k: n for k, n in sizes.items() if n > budget}, "files over the budget"

    replay = Replay.load(entry / "assets" / "replay.npz")
    assert replay.recorded_layers == ["dense"]  # the projected layer; no conv, no flatten
    # Every epoch fits now; the published epochs are named in the replay's alt text either way.
    outputs = json.loads((entry / "assets" / "outputs.json").read_text())
    alts = json.dumps(outputs)
    assert f"all {len(replay.epochs)} recorded epochs" in alts or "to fit its size budget" in alts
    assert int(replay.epochs[0]) == 0 and int(replay.epochs[-1]) == 60

    # What it holds is the model: the replayed weights reproduce the recorded layer and loss.
    model = keras.models.model_from_json(json.dumps(replay.model_config))
    epoch = int(replay.epochs[len(replay.epochs) // 2])
    weights = replay.weights(epoch)
    model.set_weights([weights[f"{ly.name}/{v.name}"] for ly in model.layers for v in ly.weights])
    dense = keras.Model(model.inputs, model.get_layer("dense").output)
    np.testing.assert_allclose(replay.layer_output("dense", epoch),
                               dense.predict(replay.probe_x, verbose=0), atol=1e-4)
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss = model.evaluate(replay.probe_x, replay.probe_y, batch_size=len(replay.probe_x),
                          verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(replay.metrics["probe_loss"][replay.index(epoch)], rel=1e-4)

    result = build_site(mini.content, mini.build_dir, tmp_path / "site", strict=True)
    assert result.returncode == 0, result.stderr[-4000:]
    site = tmp_path / "site"
    assert (site / SECTION / SLUG / "index.html").is_file()
    assert max(p.stat().st_size for p in site.rglob("*") if p.is_file()) <= budget

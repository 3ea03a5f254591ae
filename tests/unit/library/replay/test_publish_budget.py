"""A replay published beside a page stays within its size budget, or the error says what to thin.

Synthetic replays (numpy only, no TensorFlow): a layer output of random values does not
compress, so its size is known in advance and the budget can be set just below or above it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from pipeline.library.errors import ReplayBudgetError, ReplayFileError
from pipeline.library.replay.store import (
    MB,
    Replay,
    array_sizes,
    check_budget,
    evenly_spaced,
    write_replay_file,
)
from tests.conftest import need_module
from tests.unit.library.replay.test_store import synthetic_arrays

EPOCHS, POINTS, WIDE = 40, 50, 100


def _heavy(tmp_path: Path) -> Replay:
    """A replay whose layer 'wide' (100 random values per point and epoch) is most of it."""
    arrays = synthetic_arrays(n_epochs=EPOCHS, n=POINTS)
    meta = json.loads(str(arrays["meta"]))
    meta["recorded_layers"] = ["hidden", "wide"]
    arrays["meta"] = np.array(json.dumps(meta))
    rng = np.random.default_rng(1)
    arrays["output/wide"] = rng.normal(size=(EPOCHS, POINTS, WIDE)).astype(np.float32)
    arrays["ckpt/model/0000"] = np.zeros(3, dtype=np.float32)
    return Replay.load(write_replay_file(tmp_path / "recorded.npz", arrays))


def test_within_budget_publishes_every_epoch_without_checkpoint(tmp_path: Path) -> None:
    replay = _heavy(tmp_path)
    out = replay.publish(tmp_path / "replay.npz", budget_mb=10)
    assert list(out.epochs) == list(range(EPOCHS))
    again = Replay.load(tmp_path / "replay.npz")
    for key, value in replay.arrays().items():
        if key.startswith("ckpt/"):
            assert key not in again.arrays()
        else:
            np.testing.assert_array_equal(again.arrays()[key], value)
    assert check_budget(tmp_path / "replay.npz", 10) == (tmp_path / "replay.npz").stat().st_size


def test_over_budget_publishes_as_many_evenly_spaced_epochs_as_fit(tmp_path: Path,
                                                                   caplog) -> None:
    replay = _heavy(tmp_path)
    wide = EPOCHS * POINTS * WIDE * 4  # incompressible
    budget_mb = 0.4 * wide / MB
    with caplog.at_level(logging.WARNING):
        out = replay.publish(tmp_path / "replay.npz", budget_mb=budget_mb)
    size = (tmp_path / "replay.npz").stat().st_size
    assert size <= budget_mb * MB
    kept = [int(e) for e in out.epochs]
    assert kept[0] == 0 and kept[-1] == EPOCHS - 1 and 2 < len(kept) < 0.45 * EPOCHS
    assert list(Replay.load(tmp_path / "replay.npz").epochs) == kept
    gaps = np.diff(kept)
    assert len(set(gaps[:-1])) == 1 and gaps[-1] <= gaps[0]  # every k-th epoch, and the last
    message = " ".join(r.getMessage() for r in caplog.records)
    assert f"{len(kept)} of {EPOCHS} recorded epochs published" in message
    np.testing.assert_array_equal(Replay.load(tmp_path / "replay.npz").layer_outputs("wide"),
                                  replay.layer_outputs("wide")[kept])


def test_max_epochs_is_honoured_first(tmp_path: Path) -> None:
    out = _heavy(tmp_path).publish(tmp_path / "replay.npz", max_epochs=5)
    assert [int(e) for e in out.epochs] == [0, 10, 20, 30, 39]


def test_over_budget_error_names_what_to_thin(tmp_path: Path) -> None:
    replay = _heavy(tmp_path)
    target = tmp_path / "replay.npz"
    budget_mb = 0.02 * EPOCHS * POINTS * WIDE * 4 / MB  # not even two epochs fit
    with pytest.raises(ReplayBudgetError) as info:
        replay.publish(target, budget_mb=budget_mb)
    text = str(info.value)
    assert text.startswith(f"{target}: replay.npz is ")
    assert f"over its budget of {budget_mb * 1000:,.0f} kB" in text
    assert "layer outputs, every point at every epoch: wide" in text
    assert "- layers:" in text and "without 'wide', 'hidden' it would be" in text
    assert "- epochs:" in text and "not even the first and the last fit" in text
    assert "- points: record fewer probe points" in text and "no number of points fits" in text
    assert not target.exists()  # nothing over budget is left to publish
    assert isinstance(info.value, ReplayFileError)


def test_without_thinning_an_over_budget_replay_is_an_error(tmp_path: Path) -> None:
    replay = _heavy(tmp_path)
    budget_mb = 0.5 * EPOCHS * POINTS * WIDE * 4 / MB
    with pytest.raises(ReplayBudgetError) as info:
        replay.publish(tmp_path / "replay.npz", budget_mb=budget_mb, thin_epochs=False)
    fit = {kind: int(n) for kind, n in
           __import__("re").findall(r"- (epochs|points):.*about ([\d,]+) of", str(info.value))}
    assert 15 <= fit["epochs"] <= 20 and 20 <= fit["points"] <= 25, fit  # about half of each


def test_check_budget_reads_the_file(tmp_path: Path) -> None:
    replay = _heavy(tmp_path)
    replay.save(tmp_path / "big.npz", compress=True)
    sizes = array_sizes(tmp_path / "big.npz")
    assert sizes["output/wide"] > 0.9 * EPOCHS * POINTS * WIDE * 4
    with pytest.raises(ReplayBudgetError, match=r"(?s)big.npz is .*wide 0.7 MB"):
        check_budget(tmp_path / "big.npz", budget_mb=0.1)


def test_evenly_spaced_keeps_first_and_last() -> None:
    assert evenly_spaced(range(61), 3) == [0, 30, 60]
    assert evenly_spaced(range(201), 51) == list(range(0, 201, 4))
    assert evenly_spaced(range(61), 40) == [*range(0, 61, 2)]
    for n in range(2, 62):
        picks = evenly_spaced(range(61), n)
        assert len(picks) <= n and picks[0] == 0 and picks[-1] == 60
    assert evenly_spaced([0, 5, 9], 10) == [0, 5, 9]
    assert evenly_spaced(range(61), None) == list(range(61))
    with pytest.raises(ReplayFileError, match="the first and the last at least"):
        evenly_spaced(range(5), 1)


def test_publish_replay_says_on_the_page_what_it_cannot_draw(tmp_path: Path) -> None:
    """The one-call path (``publish_replay``) puts the default layout's notes on the page: here
    an output activation the numpy forward pass does not know costs the background."""
    need_module("keras")
    from pipeline.library.replay import default_layout_notes, publish_replay
    from pipeline.library.runtime import Explainer
    from tests.replay_synth import synthetic_replay

    replay = synthetic_replay("binary", n_inputs=3, hidden=(2,), epochs=2, n_probe=20)
    config = json.loads(replay.meta["model_config"])
    config["config"]["layers"][-1]["config"]["activation"] = "gelu"
    odd = Replay(replay.arrays(), {**replay.meta, "model_config": json.dumps(config)})
    notes = default_layout_notes(odd)
    assert len(notes) == 1 and "no background" in notes[0] and "'gelu'" in notes[0]
    ex = Explainer(asset_dir=tmp_path / "assets")
    out = publish_replay(ex, odd, layout_kwargs={"dpi": 20}, video=False)
    assert out is not None and out.panels[0] == "FeatureSpacePanel"
    assert notes[0] in ex.notes

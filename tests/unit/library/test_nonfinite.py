"""Nothing false is published: a NaN or infinite loss/metric marks the build diverged (even with
no DivergenceGuard), pictures drawn from such a run are withheld, and every JSON file written is
strict JSON (no bare NaN)."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from pipeline.library import atomic
from pipeline.library.runtime import Explainer, active_explainer, report_non_finite_loss
from pipeline.site.pages import PageContext, divergence_notice, expand_shortcodes, provenance_box
from tests.conftest import recipe_header


def _strict_load(text: str):
    def refuse(token: str):
        raise ValueError(f"non-strict JSON constant {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def ex(tmp_path) -> Explainer:
    return Explainer(asset_dir=tmp_path / "assets", profile="quick", seed=0,
                     checkpoint_dir=tmp_path / "ckpt")


def _picture(ex: Explainer, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    ex.save_figure(fig, name, alt="a line", show=False)


def test_write_json_is_strict_and_turns_non_finite_into_null(tmp_path) -> None:
    target = tmp_path / "x.json"
    atomic.write_json(target, {"a": float("nan"), "b": [1.0, float("inf"), np.float32("-inf")],
                               "c": np.float64(2.5), "d": (float("nan"),)})
    data = _strict_load(target.read_text())
    assert data == {"a": None, "b": [1.0, None, None], "c": 2.5, "d": [None]}


def test_finite_run_is_not_marked(ex) -> None:
    _picture(ex, "a.png")
    ex.metric("loss", np.float32(0.25))
    out = _strict_load(ex.finish().read_text())
    assert out["status"] == {} and [o["name"] for o in out["outputs"]] == ["a.png"]
    assert out["metrics"]["loss"] == pytest.approx(0.25)


def test_nan_metric_marks_diverged_and_withholds_every_picture(ex) -> None:
    _picture(ex, "before.png")
    ex.metric("final_loss", np.float32("nan"))
    _picture(ex, "after.png")
    out = _strict_load(ex.finish().read_text())
    assert out["status"]["state"] == "diverged" and out["status"]["detected"] == "non-finite"
    assert out["metrics"]["final_loss"] is None
    # Found only after training: no picture of this run can be trusted.
    assert out["outputs"] == [] and sorted(out["withheld"]) == ["after.png", "before.png"]
    assert not (ex.asset_dir / "before.png").exists() and not (ex.asset_dir / "after.png").exists()


def test_non_finite_epoch_loss_keeps_only_pictures_made_before(ex) -> None:
    _picture(ex, "data.png")
    assert active_explainer() is ex
    assert not report_non_finite_loss(1, {"loss": 0.5})
    assert report_non_finite_loss(3, {"loss": float("inf")})
    _picture(ex, "boundary.png")
    out = _strict_load(ex.finish().read_text())
    assert out["status"]["epoch"] == 3 and out["status"]["loss"] == "inf"
    assert [o["name"] for o in out["outputs"]] == ["data.png"] and out["withheld"] == ["boundary.png"]


def test_explicit_diverged_keeps_the_recipes_choice(ex) -> None:
    from pipeline.library.errors import TrainingDiverged

    report_non_finite_loss(2, {"loss": float("nan")})
    ex.diverged(TrainingDiverged(2, 0.1, float("nan")))
    _picture(ex, "curve.png")
    out = _strict_load(ex.finish().read_text())
    assert "detected" not in out["status"] and [o["name"] for o in out["outputs"]] == ["curve.png"]


def test_page_of_a_detected_divergence_says_so_and_shows_no_metric_value() -> None:
    manifest = {"status": {"state": "diverged", "epoch": None, "learning_rate": None, "loss": None,
                           "message": "metric 'loss' became nan", "detected": "non-finite"},
                "metrics": {"loss": None}, "outputs": [], "timings": {}, "hardware": {}}
    notice = divergence_notice(manifest)
    assert "not finite" in notice and "none of the pictures" in notice
    ctx = PageContext(slug="s", manifest=manifest, state={}, url_for=lambda n: None)
    out = expand_shortcodes('{{ figure("boundary.png") }} loss {{ metric("loss") }}', ctx)
    assert ctx.warnings == [] and "Not drawn" in out and "n/a" in out and "nan" not in out
    assert "n/a (not a finite number)" in provenance_box(manifest)


NAN_RECIPE = textwrap.dedent('''
    # %% tags=["parameters"]
    profile = "quick"
    seed = 0
    asset_dir = "_assets"
    data_dir = None
    sizes = {"n": 64}

    # %%
    import matplotlib.pyplot as plt
    import numpy as np
    from pipeline.library.runtime import Explainer
    ex = Explainer(asset_dir=asset_dir, profile=profile, seed=seed, data_dir=data_dir, sizes=sizes)
    ex.seed_everything()
    import keras
    from pipeline.library.replay.recorder import ReplayRecorder

    rng = np.random.default_rng(0)
    x = rng.normal(size=(sizes["n"], 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5], dtype="float32"))[:, None]
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=50.0), loss="mse")
    recorder = ReplayRecorder(x, y)
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[recorder])

    # %%
    fig, ax = plt.subplots()
    ax.plot(history.history["loss"])
    ex.save_figure(fig, "loss.png", alt="the training loss per epoch")
    ex.metric("final_loss", history.history["loss"][-1])

    # %%
    ex.finish()
''')


@pytest.mark.slow
def test_unguarded_nan_run_publishes_no_plot_of_nan(mini, tmp_path) -> None:
    """A linear-output MSE network at learning rate 50 reaches NaN in one epoch (measured)."""
    from tests.sitebuild import build_site

    header = recipe_header("NaN run", "An unguarded run that diverges.", "[]", 64, 64)
    mini.add("nan-run", header + NAN_RECIPE,
             page='# NaN run\n\n{{ figure("loss.png") }}\n\nFinal loss {{ metric("final_loss") }}.\n')
    assert mini.cli("build") == 0
    entry, manifest = mini.current("nan-run")
    text = (entry / "manifest.json").read_text()
    _strict_load(text)
    _strict_load((entry / "assets" / "outputs.json").read_text())
    assert manifest["status"]["state"] == "diverged" and manifest["status"]["epoch"] == 1
    assert manifest["outputs"] == [] and not (entry / "assets" / "loss.png").exists()
    assert manifest["metrics"]["final_loss"] is None
    site = tmp_path / "site"
    result = build_site(mini.content, mini.build_dir, site)
    assert result.returncode == 0, result.stderr[-4000:]
    page = (site / "demo" / "nan-run" / "index.html").read_text()
    assert "Training diverged" in page and "loss.png" not in page


def test_non_finite_value_written_straight_into_metrics_is_caught_at_finish(ex) -> None:
    _picture(ex, "curve.png")
    ex.metrics["loss"] = float("inf")  # bypassing ex.metric(...)
    out = _strict_load(ex.finish().read_text())
    assert out["status"]["state"] == "diverged" and out["metrics"]["loss"] is None
    assert out["outputs"] == []

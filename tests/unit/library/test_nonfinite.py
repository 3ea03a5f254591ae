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
    import json
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image
    from pipeline.library.runtime import Explainer
    ex = Explainer(asset_dir=asset_dir, profile=profile, seed=seed, data_dir=data_dir, sizes=sizes)
    ex.seed_everything()
    import keras
    from pipeline.library.replay.recorder import ReplayRecorder

    rng = np.random.default_rng(0)
    x = rng.normal(size=(sizes["n"], 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5], dtype="float32"))[:, None]
    fig, ax = plt.subplots()
    ax.scatter(x[:, 0], y[:, 0], color="#0000ff")  # drawn before training: published
    ex.save_figure(fig, "data.png", alt="the data")

    # %%
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=50.0), loss="mse")
    recorder = ReplayRecorder(x, y)
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[recorder])

    # %%
    # Everything below is drawn from the diverged run in pure magenta, so that any trace of it
    # anywhere (a twin, a poster, a frame, a thumbnail, the notebook page) can be found.
    MAGENTA = "#ff00ff"
    fig, ax = plt.subplots()
    ax.plot(history.history["loss"], color=MAGENTA, linewidth=8)
    ex.save_figure(fig, "loss.png", alt="the training loss per epoch")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0], color=MAGENTA, linewidth=8)
    plt.show()

    def square(palette):
        return Image.new("RGB", (40, 30), (255, 0, 255) if palette == "light" else (200, 0, 200))

    for palette, folder in (("light", "frames"), ("dark", "frames.dark")):
        for epoch in (0, 1):
            square(palette).save(ex.asset_path(f"{folder}/e{epoch}.png"))
        ex.asset_path(f"{folder}/index.json").write_text(json.dumps(
            {"epochs": [0, 1], "files": ["e0.png", "e1.png"], "width": 40, "height": 30}))
        suffix = "" if palette == "light" else ".dark"
        square(palette).save(ex.asset_path(f"poster{suffix}.png"))
        square(palette).save(ex.asset_path(f"anim{suffix}.gif"), save_all=True,
                             append_images=[square(palette)], duration=100)
    ex.add_output("frames/index.json", kind="frames", dark="frames.dark/index.json",
                  alt="the run, epoch by epoch")
    ex.add_output("poster.png", kind="image", dark="poster.dark.png", alt="the last epoch")
    ex.add_output("anim.gif", kind="gif", poster="poster.png", dark="anim.dark.gif",
                  alt="the run as a GIF")
    ex.metric("final_loss", history.history["loss"][-1])

    # %%
    ex.finish()
''')

NAN_PAGE = """# NaN run

{{ figure("data.png") }}

{{ figure("loss.png") }}

{{ figure("anim.gif") }}

{{ frames("frames") }}

Final loss {{ metric("final_loss") }}.
"""


def _magenta_images(files) -> list[str]:
    """The image files (PNG, GIF, WebP, also base64 inside a notebook) that show magenta."""
    import base64
    import io

    from PIL import Image, ImageSequence

    def magenta(data: bytes) -> bool:
        try:
            with Image.open(io.BytesIO(data)) as im:
                for frame in ImageSequence.Iterator(im):
                    rgb = np.asarray(frame.convert("RGB")).astype(int)
                    if ((rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] > 150)).any():
                        return True
        except Exception:  # noqa: BLE001 - not an image Pillow reads
            return False
        return False

    found = []
    for path in files:
        if path.suffix == ".ipynb":
            nb = json.loads(path.read_text())
            for cell in nb["cells"]:
                for output in cell.get("outputs", []):
                    for mime, value in (output.get("data") or {}).items():
                        if mime.startswith("image/") and magenta(base64.b64decode("".join(value))):
                            found.append(f"{path} ({mime})")
        elif path.suffix.lower() in (".png", ".gif", ".webp", ".jpg", ".jpeg") and magenta(
                path.read_bytes()):
            found.append(str(path))
    return found


@pytest.mark.slow
def test_unguarded_nan_run_publishes_no_plot_of_nan(mini, tmp_path) -> None:
    """A linear-output MSE network at learning rate 50 reaches NaN in one epoch (measured).

    Every picture drawn after that is magenta; no file of the store entry or of the published
    site may show magenta: not the picture, its dark twin, its poster, its frames, its GIF, the
    gallery thumbnail, nor the executed notebook's page, images or download.
    """
    from tests.sitebuild import build_site

    header = recipe_header("NaN run", "An unguarded run that diverges.", "[]", 64, 64,
                           thumbnail="loss.png")
    mini.add("nan-run", header + NAN_RECIPE, page=NAN_PAGE)
    assert mini.cli("build") == 0
    entry, manifest = mini.current("nan-run")
    text = (entry / "manifest.json").read_text()
    _strict_load(text)
    _strict_load((entry / "assets" / "outputs.json").read_text())
    assert manifest["status"]["state"] == "diverged" and manifest["status"]["epoch"] == 1
    assert [o["name"] for o in manifest["outputs"]] == ["data.png"]
    assert manifest["metrics"]["final_loss"] is None
    stored = sorted(p for p in entry.rglob("*") if p.is_file())
    assert sorted(p.relative_to(entry / "assets").as_posix() for p in stored
                  if p.is_relative_to(entry / "assets")) == ["data.dark.png", "data.png",
                                                             "outputs.json"]
    assert _magenta_images(stored) == []
    site = tmp_path / "site"
    result = build_site(mini.content, mini.build_dir, site)
    assert result.returncode == 0, result.stderr[-4000:]
    published = sorted(p for p in site.rglob("*") if p.is_file())
    assert _magenta_images(published) == []
    page = (site / "demo" / "nan-run" / "index.html").read_text()
    assert "Training diverged" in page
    for name in ("loss", "anim", "poster", "frames"):
        assert name not in {p.name.split(".")[0] for p in published
                            if "nan-run" in p.as_posix()}, name
        assert f"{name}." not in page and f"{name}/" not in page
    assert not [p for p in published if "thumbnails" in p.as_posix() and "nan-run" in p.name]
    # what was drawn before training stays: the data figure, on the page and in the notebook
    assert (site / "assets" / "nan-run" / "data.png").is_file() and "data.png" in page
    notebook = site / "notebooks" / "nan-run"
    assert "picture not published: drawn after training diverged" in (
        notebook / "index.html").read_text()
    assert len(list((site / "notebooks" / "nan-run_files").glob("*.png"))) == 1  # the data


def test_non_finite_value_written_straight_into_metrics_is_caught_at_finish(ex) -> None:
    _picture(ex, "curve.png")
    ex.metrics["loss"] = float("inf")  # bypassing ex.metric(...)
    out = _strict_load(ex.finish().read_text())
    assert out["status"]["state"] == "diverged" and out["metrics"]["loss"] is None
    assert out["outputs"] == []

"""The two replay explainers (seed 000 and seed 002 part 3), built with the quick profile
through the CLI, and their pictures recomputed here from the models they claim to show.

Each recipe publishes its recording as a replay file (the seed-000 one thinned to every tenth
epoch, to stay small). This test rebuilds the Keras model from the file's own model config,
loads the replayed weights of an epoch and checks:

- the loss and accuracy the curves show for that epoch are what ``model.evaluate`` returns
  for those weights on the regenerated data. (The curves plot the recorder's ``probe_loss``,
  the loss of all points with the weights at the end of the epoch; Keras' logged ``loss`` is a
  running mean over the epoch's batches while the weights moved, so no single set of weights
  reproduces it, and the pages do not plot it.)
- the feature-space panel puts each point (and each grid line) exactly where the model's
  ``hidden`` layer does;
- the decision-boundary panel's probability grid is ``model.predict`` on that grid, and its
  0.5 contour runs where the model's prediction crosses 0.5;

plus the published assets: H.264 yuv420p faststart MP4 with one frame per shown epoch (seed 000's
quick profile: every `video_step`-th, at fps / video_step, so as long), GIF, poster,
still, and the scrubber's frames with their ``index.json``. Marked slow: it executes both
recipes (about 30 s on two cores) and builds a small mkdocs site.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, SHARED_DATA
from tests.sitebuild import build_real_recipes, real_build_dir

pytestmark = pytest.mark.slow

SEED000 = "replaying-training"
BOUNDARY = "watching-the-boundary-move"
SLUGS = (SEED000, BOUNDARY)
SECTION = REPO_ROOT / "content" / "replay"


@pytest.fixture(scope="module")
def replay_build(tmp_path_factory):
    build_dir = real_build_dir(tmp_path_factory.mktemp("replay") / "build")
    entries = build_real_recipes(build_dir, SLUGS, SHARED_DATA, timeout=900)
    for slug, (_, manifest) in entries.items():
        print(slug, "timings", manifest["timings"])  # shown with -s: the measured seconds
    return build_dir, entries


@pytest.fixture(scope="module")
def built(replay_build):
    return replay_build[1]


def _keras_model(replay):
    """The recorded model, rebuilt from the replay file's own config and compiled."""
    import keras

    model = keras.models.model_from_json(json.dumps(replay.model_config))
    model.compile(loss=replay.loss_name, metrics=["accuracy"])
    return model


def _set_epoch(model, replay, epoch: int) -> None:
    weights = replay.weights(epoch)
    model.set_weights([weights[f"{ly.name}/{v.name}"] for ly in model.layers for v in ly.weights])


# --------------------------------------------------------------------------------------------
# Assets
# --------------------------------------------------------------------------------------------


def _mp4_top_level_boxes(path: Path) -> list[str]:
    boxes, data, pos = [], path.read_bytes(), 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8:pos + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        pos += size
    return boxes


def _check_video(path: Path, n_frames: int, seconds: float) -> tuple[int, int]:
    import imageio_ffmpeg

    boxes = _mp4_top_level_boxes(path)
    assert "moov" in boxes and "mdat" in boxes
    assert boxes.index("moov") < boxes.index("mdat"), f"{path.name} is not faststart: {boxes}"
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                           capture_output=True, text=True)
    stream = next(line for line in probe.stderr.splitlines() if "Video:" in line)
    assert "h264" in stream and "yuv420p" in stream, stream
    frames, secs = imageio_ffmpeg.count_frames_and_secs(str(path))
    assert frames == n_frames
    assert secs == pytest.approx(seconds, abs=0.15)
    w, h = (int(v) for v in re.search(r", (\d+)x(\d+)", stream).groups())
    return w, h


EXPECTED = {
    SEED000: {"video": "replay.mp4", "gif": "replay.gif", "still": "epoch-160.png",
              # quick: video_step 2, every second epoch at 10 fps (as long as 201 at 20 fps)
              "frame_epochs": [*range(0, 201, 2)], "video_frames": 101, "video_seconds": 10.1},
    BOUNDARY: {"video": "boundary.mp4", "gif": "boundary.gif", "still": "boundary-epoch-100.png",
               "frame_epochs": [*range(0, 101)], "video_frames": 101, "video_seconds": 10.1},
}


@pytest.mark.parametrize("slug", SLUGS)
def test_published_assets_are_complete_and_playable(built, slug):
    from PIL import Image

    from pipeline.builder.recipes import discover_all

    assets, manifest = built[slug]
    want = EXPECTED[slug]
    outputs = {o["name"]: o for o in manifest["outputs"]}
    assert manifest["profile"] == "quick" and manifest["status"] == {}
    assert manifest["data"][0]["dataset"] == "moons"
    assert "scikit-learn make_moons" in manifest["data"][0]["description"]
    for name, out in outputs.items():
        assert (assets / name).is_file(), f"{slug}: {name} missing"
        if out["kind"] in ("image", "video", "gif", "frames"):
            assert len(out["alt"]) > 20, f"{slug}/{name} needs real alt text"
    assert outputs[want["video"]]["kind"] == "video"
    assert outputs[want["video"]]["poster"] == "poster.png"
    assert outputs[want["gif"]]["kind"] == "gif"
    assert outputs[want["still"]]["kind"] == "image"
    assert outputs["frames/index.json"]["kind"] == "frames"

    w, h = _check_video(assets / want["video"], want["video_frames"], want["video_seconds"])
    with Image.open(assets / "poster.png") as poster:
        assert poster.size == (w, h)
    with Image.open(assets / want["gif"]) as gif:
        assert gif.format == "GIF" and gif.n_frames > 10
    assert (assets / want["video"]).stat().st_size < 2_000_000
    assert (assets / want["gif"]).stat().st_size < 2_000_000

    index = json.loads((assets / "frames" / "index.json").read_text())
    assert index["epochs"] == want["frame_epochs"]
    assert len(index["files"]) == len(index["epochs"]) and index["format"] == "webp"
    for name in (index["files"][0], index["files"][-1]):
        with Image.open(assets / "frames" / name) as frame:
            assert frame.size == (index["width"], index["height"]) == (w, h)
    assert all((assets / "frames" / f).is_file() for f in index["files"])
    frames_bytes = sum((assets / "frames" / f).stat().st_size for f in index["files"])
    assert frames_bytes < 8_000_000

    recipe = next(r for r in discover_all(REPO_ROOT / "content")[0] if r.slug == slug)
    assert recipe.header.thumbnail == "poster.png" and recipe.header.section == "replay"
    # How long it took is the benchmarks' business (`python -m benchmarks`: firstbuild lists
    # every recipe's seconds), not a correctness test's.
    assert manifest["timings"]["train"] > 0 and manifest["timings"]["render"] > 0


@pytest.mark.parametrize("slug", SLUGS)
def test_pages_show_only_what_the_recipes_produce(built, slug):
    _, manifest = built[slug]
    text = (SECTION / f"{slug}.md").read_text()
    assert "{{ provenance() }}" in text and "{{ notebook_link() }}" in text
    assert re.search(r'\{\{ video\("[^"]+\.mp4".*scrub="frames"\) \}\}', text)
    names = {o["name"] for o in manifest["outputs"]}
    for name in re.findall(r'\{\{ (?:figure|video)\("([^"]+)"', text):
        assert name in names, f"{slug}.md shows {name}, which the recipe does not produce"
    for name in re.findall(r'\{\{ metric\("([^"]+)"', text):
        assert name in manifest["metrics"], f"{slug}.md uses metric {name}, which is not recorded"


# --------------------------------------------------------------------------------------------
# Seed 000: replaying training
# --------------------------------------------------------------------------------------------


def test_seed000_reaches_the_articles_accuracy_and_says_why_not_seed_42(built):
    _, manifest = built[SEED000]
    m = manifest["metrics"]
    assert m["final_accuracy"] == 1.0
    assert m["init_seed"] == 0 and m["compare_seed"] == 42
    assert m["compare_seed_accuracy"] < 0.95  # Keras 3 + seed 42: stuck near 0.89
    assert 0 < m["first_full_accuracy_epoch"] <= 200
    assert m["still_epoch"] == 160 and m["still_accuracy"] == 1.0
    assert any("seed 42" in note for note in manifest["notes"])


@pytest.fixture(scope="module")
def seed000_replay(built):
    from pipeline.library.replay import Replay

    assets, _ = built[SEED000]
    path = assets / "replay-every-10-epochs.npz"
    assert path.stat().st_size < 2_000_000
    return Replay.load(path)


def test_seed000_replay_is_the_articles_data_and_model(seed000_replay):
    from sklearn.datasets import make_moons

    replay = seed000_replay
    x, y = make_moons(n_samples=2000, random_state=27, noise=0.03)
    np.testing.assert_array_equal(replay.probe_x, x.astype("float32"))
    np.testing.assert_array_equal(replay.probe_y, y.astype("float32"))
    assert list(replay.epochs) == list(range(0, 201, 10))
    assert replay.recorded_layers == ["hidden"]
    model = _keras_model(replay)
    assert [(ly.name, ly.units, ly.activation.__name__) for ly in model.layers] == [
        ("dense", 4, "tanh"), ("hidden", 2, "tanh"), ("output", 1, "sigmoid")]


def test_seed000_replayed_weights_reproduce_the_curves(seed000_replay, built):
    import keras

    from pipeline.library.replay import FeatureSpacePanel

    replay = seed000_replay
    model = _keras_model(replay)
    hidden = keras.Model(model.inputs, model.get_layer("hidden").output)
    panel = FeatureSpacePanel("hidden", ((-1.0, 2.0), (-0.5, 1.0)))
    from matplotlib.figure import Figure

    panel.setup(Figure().add_subplot(), replay)
    grid = panel.input_grid()
    x = replay.probe_x
    for epoch in (0, 10, 50, 100, 160, 200):
        i = replay.index(epoch)
        _set_epoch(model, replay, epoch)
        loss, acc = model.evaluate(x, replay.probe_y, batch_size=len(x), verbose=0)
        assert replay.metrics["probe_loss"][i] == pytest.approx(loss, rel=1e-5), epoch
        assert replay.metrics["probe_accuracy"][i] == pytest.approx(acc), epoch
        h = hidden.predict(x, batch_size=len(x), verbose=0)
        np.testing.assert_allclose(replay.layer_output("hidden", epoch), h, atol=1e-5)
        # The points the feature-space panel draws are the hidden layer's outputs ...
        np.testing.assert_allclose(panel.feature_coordinates(epoch), h, atol=1e-5)
        # ... and so is the bent grid (the numpy forward pass of the same weights).
        bent = hidden.predict(grid.reshape(-1, 2), verbose=0).reshape(grid.shape)
        np.testing.assert_allclose(panel.grid_coordinates(epoch), bent, atol=1e-5)
        np.testing.assert_allclose(replay.probabilities(epoch),
                                   model.predict(x, batch_size=len(x), verbose=0), atol=1e-5)
    m = built[SEED000][1]["metrics"]
    assert m["final_loss"] == pytest.approx(replay.metrics["probe_loss"][-1], abs=1e-4)
    assert replay.metrics["probe_accuracy"][-1] == m["final_accuracy"] == 1.0


# --------------------------------------------------------------------------------------------
# Seed 002 part 3: watching the boundary move
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def boundary_replay(built):
    from pipeline.library.replay import Replay

    assets, _ = built[BOUNDARY]
    return Replay.load(assets / "replay.npz")


def test_boundary_replay_is_the_articles_data_and_model(boundary_replay, built):
    from sklearn.datasets import make_moons

    replay = boundary_replay
    x, y = make_moons(500, noise=0.1, random_state=0)
    np.testing.assert_array_equal(replay.probe_x, x.astype("float32"))
    np.testing.assert_array_equal(replay.probe_y, y.astype("float32"))
    assert list(replay.epochs) == list(range(101))
    assert replay.recorded_layers == []  # layers=[]: the boundary comes from the weights
    model = _keras_model(replay)
    assert [(ly.name, ly.units, ly.activation.__name__) for ly in model.layers] == [
        ("hidden", 20, "relu"), ("output", 1, "sigmoid")]
    m = built[BOUNDARY][1]["metrics"]
    assert m["final_accuracy"] == replay.metrics["probe_accuracy"][-1] >= 0.99
    assert m["epoch1_accuracy"] > m["initial_accuracy"]
    assert 1 <= m["compare_seeds_full"] <= m["compare_seeds"] == 8


def test_boundary_panel_draws_the_models_prediction(boundary_replay):
    import contourpy
    from matplotlib.figure import Figure

    from pipeline.library.replay import DecisionBoundaryPanel

    replay = boundary_replay
    model = _keras_model(replay)
    panel = DecisionBoundaryPanel()  # the recipe's settings
    panel.setup(Figure().add_subplot(), replay)
    classes = {}
    for epoch in (0, 1, 5, 20, 50, 100):
        i = replay.index(epoch)
        _set_epoch(model, replay, epoch)
        loss, acc = model.evaluate(replay.probe_x, replay.probe_y, batch_size=500, verbose=0)
        assert replay.metrics["probe_loss"][i] == pytest.approx(loss, rel=1e-5), epoch
        assert replay.metrics["probe_accuracy"][i] == pytest.approx(acc), epoch
        want = model.predict(panel.grid_points, batch_size=8192, verbose=0)[:, 0]
        want = want.reshape(len(panel.ys), len(panel.xs))
        drawn = panel.probability_grid(epoch)
        np.testing.assert_allclose(drawn, want, atol=1e-5)
        classes[epoch] = want > 0.5
        # The drawn 0.5 line runs where the model's prediction crosses 0.5.
        segments = panel.boundary_segments(epoch)
        vertices = np.concatenate(segments) if segments else np.empty((0, 2))
        if epoch > 0:
            assert len(vertices) > 50
            p = model.predict(vertices.astype("float32"), verbose=0)[:, 0]
            assert np.median(np.abs(p - 0.5)) < 0.02 and np.max(np.abs(p - 0.5)) < 0.15, epoch
            # Same line as matplotlib's own contour engine draws from the model's grid.
            ref = contourpy.contour_generator(panel.xs, panel.ys, want, line_type="Separate").lines(0.5)
            assert sum(len(s) for s in ref) == len(vertices)
    # The boundary moves: from the first epoch to the last, a sizeable part of the plane
    # changes class, and it moves a lot in the very first epoch.
    assert (classes[0] != classes[1]).mean() > 0.05
    assert (classes[1] != classes[100]).mean() > 0.05


# --------------------------------------------------------------------------------------------
# The site
# --------------------------------------------------------------------------------------------


def test_replay_pages_build_strict(replay_build, tmp_path):
    from tests.sitebuild import build_site

    build_dir, _ = replay_build
    content = tmp_path / "content"
    (content / "replay").mkdir(parents=True)
    (content / "index.md").write_text("# Replay pages\n\nOnly the replay section.\n")
    for slug in SLUGS:
        for suffix in (".md", ".recipe.py"):
            shutil.copy(SECTION / f"{slug}{suffix}", content / "replay" / f"{slug}{suffix}")
    site = tmp_path / "site"
    result = build_site(content, build_dir, site, strict=True)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "WARNING" not in result.stderr, result.stderr[-4000:]
    for slug in SLUGS:
        html = (site / "replay" / slug / "index.html").read_text()
        assert f'data-nnx-frames="../../assets/{slug}/frames/index.json"' in html
        assert "<p><figure" not in html
        assert (site / "assets" / slug / "frames" / "index.json").is_file()


@pytest.mark.parametrize("slug", SLUGS)
def test_every_picture_has_a_dark_version_and_the_runs_compare(built, slug):
    """Light and dark versions of every picture (same size); the compare() runs share epochs."""
    import json

    from PIL import Image

    assets, manifest = built[slug]
    for out in manifest["outputs"]:
        if out["kind"] not in ("image", "video", "gif", "frames"):
            continue
        dark = (out.get("extra") or {}).get("dark")
        assert dark and (assets / dark).is_file(), f"{slug}/{out['name']} has no dark version"
        if out["kind"] == "image":
            with Image.open(assets / out["name"]) as a, Image.open(assets / dark) as b:
                assert a.size == b.size
                # the figure background follows the palette: the corners are far apart
                assert sum(abs(x - y) for x, y in zip(a.convert("RGB").getpixel((0, 0)),
                                                      b.convert("RGB").getpixel((0, 0)),
                                                      strict=True)) > 300
    text = (SECTION / f"{slug}.md").read_text()
    runs = re.search(r'\{\{ compare\(\[([^\]]+)\]', text)
    assert runs, f"{slug}.md shows no runs side by side"
    names = [n.strip().strip('"') for n in runs.group(1).split(",")]
    indexes = [json.loads((assets / n / "index.json").read_text()) for n in names]
    assert len(indexes) == 2 and indexes[0]["epochs"] == indexes[1]["epochs"]
    assert indexes[0]["width"] == indexes[1]["width"] and indexes[0]["height"] == indexes[1]["height"]
    for n, ix in zip(names, indexes, strict=True):
        dark = json.loads((assets / f"{n}.dark" / "index.json").read_text())
        assert dark["files"] == ix["files"] and dark["palette"] == "dark"
        assert len(ix["metrics"]["probe_loss"]) == len(ix["epochs"])

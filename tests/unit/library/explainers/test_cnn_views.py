"""Fast tests for pipeline.library.explainers.cnn_views: every picture helper returns what it drew, every number
matches its definition, and the recorder stores what the model predicts at each epoch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.library.errors import PipelineError
from pipeline.library.explainers import cnn_views as V
from tests.conftest import need_module

# --------------------------------------------------------------------------------------------
# Images in
# --------------------------------------------------------------------------------------------


def test_imagenet_name_known_and_unknown():
    assert V.imagenet_name(285) == "Egyptian cat"
    assert V.imagenet_name(np.int64(317)) == "leafhopper"
    assert V.imagenet_name(999) == "class 999"


def test_center_square_takes_the_middle():
    img = np.arange(3 * 5).reshape(3, 5)
    out = V.center_square(img)
    assert out.shape == (3, 3)
    np.testing.assert_array_equal(out, img[:, 1:4])
    tall = np.zeros((7, 4, 3))
    assert V.center_square(tall).shape == (4, 4, 3)
    with pytest.raises(PipelineError):
        V.center_square(np.zeros(5))


def test_squash_resize_shapes_and_constant_images():
    img = np.full((30, 45, 3), 77, np.uint8)
    out = V.squash_resize(img, 8)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    assert np.all(out == 77)
    assert V.squash_resize(img[..., 0], (6, 10)).shape == (6, 10)
    with pytest.raises(PipelineError, match="uint8"):
        V.squash_resize(img.astype(float), 8)


def test_to_unit_gray_range_and_luma():
    white = np.full((40, 60, 3), 255, np.uint8)
    out = V.to_unit_gray(white, 28)
    assert out.shape == (28, 28, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out, 1.0)
    red = np.zeros((10, 10, 3), np.uint8)
    red[..., 0] = 255
    # ITU-R 601 luma of pure red is 0.299 (Pillow rounds to 76/255).
    np.testing.assert_allclose(V.to_unit_gray(red, 5), 76 / 255, atol=1e-6)
    with pytest.raises(PipelineError):
        V.to_unit_gray(np.zeros((4, 4, 2), np.uint8))


# --------------------------------------------------------------------------------------------
# Recording and epochs
# --------------------------------------------------------------------------------------------


def test_pick_epochs_keeps_ends():
    assert V.pick_epochs(range(11), 3) == [0, 5, 10]
    assert V.pick_epochs([0, 1, 2], 5) == [0, 1, 2]
    picked = V.pick_epochs(range(51), 11)
    assert picked[0] == 0 and picked[-1] == 50 and len(picked) == 11
    assert V.pick_epochs(range(5), 1) == [4]
    with pytest.raises(PipelineError):
        V.pick_epochs([], 3)
    with pytest.raises(PipelineError):
        V.pick_epochs([1, 2], 0)


def test_probe_recorder_stores_predictions_each_epoch():
    keras = need_module("keras")
    from pipeline.library.training import fit_fast

    keras.utils.set_random_seed(0)
    inp = keras.Input((6,))
    code = keras.layers.Dense(3, activation="relu", name="code")(inp)
    out = keras.layers.Dense(6, activation="sigmoid")(code)
    auto = keras.Model(inp, out)
    enc = keras.Model(inp, code)
    auto.compile("adam", "mse")
    rng = np.random.default_rng(0)
    x = rng.random((64, 6)).astype("float32")
    probe = x[:4]
    before = enc.predict(probe, verbose=0)
    rec = V.probe_recorder({"codes": enc, "recons": auto}, probe)
    fit_fast(auto, x, x, epochs=3, batch_size=16, callbacks=[rec], seed=0)
    arrays = rec.arrays()
    assert rec.epochs == [0, 1, 2, 3]
    assert arrays["codes"].shape == (4, 4, 3)
    assert arrays["recons"].shape == (4, 4, 6)
    np.testing.assert_allclose(arrays["codes"][0], before, atol=1e-6)
    np.testing.assert_allclose(arrays["codes"][-1], enc.predict(probe, verbose=0), atol=1e-6)
    np.testing.assert_allclose(arrays["recons"][-1], auto.predict(probe, verbose=0), atol=1e-6)
    assert not np.allclose(arrays["codes"][0], arrays["codes"][-1])
    with pytest.raises(PipelineError):
        V.probe_recorder({}, probe)


def test_codes_to_images_is_row_major():
    codes = np.arange(2 * 32).reshape(2, 32)
    imgs = V.codes_to_images(codes)
    assert imgs.shape == (2, 8, 4)
    for i in range(32):
        assert imgs[1, i // 4, i % 4] == codes[1, i]
    with pytest.raises(PipelineError, match="32"):
        V.codes_to_images(np.zeros((3, 30)))


# --------------------------------------------------------------------------------------------
# Pictures
# --------------------------------------------------------------------------------------------


def test_probe_rows_figure_returns_what_it_drew():
    rng = np.random.default_rng(1)
    digits = rng.random((5, 28, 28))
    codes = rng.random((5, 8, 4))
    fig, shown = V.probe_rows_figure(
        [V.ProbeRow("input", digits), V.ProbeRow("code", codes, cmap="magma", colorbar=True)],
        col_titles=[str(i) for i in range(5)], title="t")
    np.testing.assert_array_equal(shown["input"], digits)
    np.testing.assert_array_equal(shown["code"], codes)
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == 10
    np.testing.assert_array_equal(np.asarray(images[5]), codes[0])
    with pytest.raises(PipelineError):
        V.probe_rows_figure([V.ProbeRow("a", digits), V.ProbeRow("b", codes[:3])])
    with pytest.raises(PipelineError):
        V.probe_rows_figure([V.ProbeRow("a", digits)], col_titles=["x"])


def _probe_frames_rebuilt(epochs, palette):
    """The old way: a new figure per frame, restyled, drawn."""
    from matplotlib.figure import Figure

    from pipeline.library.inspection import figure_to_array
    from pipeline.library.palette import restyle_figure

    digits, codes, recons = epochs
    out = []
    for i in range(len(codes)):
        fig = Figure(figsize=(4.5, 2.6), dpi=40)
        V.probe_rows_figure(_probe_rows(digits, codes[i], recons[i]), col_titles=list("abcd"),
                            figure=fig, title=f"epoch {i}" + ("  (untrained)" if i == 0 else ""))
        restyle_figure(fig, palette)
        out.append(figure_to_array(fig))
    return out


def _probe_rows(digits, codes, recons):
    return [V.ProbeRow("input", digits, vmin=0, vmax=1),
            V.ProbeRow("code", codes, cmap="magma", colorbar=True),  # its own min and max
            V.ProbeRow("reconstruction", recons, vmin=0, vmax=1)]


@pytest.mark.parametrize("palette", ["light", "dark"])
def test_update_probe_rows_draws_the_frames_a_new_figure_draws(palette):
    from matplotlib.figure import Figure

    from pipeline.library.inspection import figure_to_array
    from pipeline.library.palette import restyle_figure

    rng = np.random.default_rng(3)
    digits = rng.random((4, 6, 6))
    codes = rng.random((5, 4, 8, 4)) * np.arange(1, 6)[:, None, None, None]  # the scale grows
    recons = rng.random((5, 4, 6, 6))
    old = _probe_frames_rebuilt((digits, codes, recons), palette)
    fig = Figure(figsize=(4.5, 2.6), dpi=40)
    V.probe_rows_figure(_probe_rows(digits, codes[0], recons[0]), col_titles=list("abcd"),
                        figure=fig, title="epoch 0  (untrained)")
    restyle_figure(fig, palette)
    new = []
    for i in range(len(codes)):
        shown = V.update_probe_rows(fig, _probe_rows(digits, codes[i], recons[i]),
                                    title=f"epoch {i}" + ("  (untrained)" if i == 0 else ""))
        np.testing.assert_array_equal(shown["code"], codes[i])
        new.append(figure_to_array(fig))
    assert len(new) == len(old) == 5
    for i, (a, b) in enumerate(zip(old, new, strict=True)):
        assert np.array_equal(a, b), f"frame {i} ({palette}) differs from a new figure's"
    assert not np.array_equal(new[1], new[2])  # the frames do change


def test_update_probe_rows_rejects_rows_of_another_shape():
    digits = np.zeros((4, 6, 6))
    fig, _ = V.probe_rows_figure([V.ProbeRow("a", digits), V.ProbeRow("b", digits)])
    with pytest.raises(PipelineError, match="2 x 3"):
        V.update_probe_rows(fig, [V.ProbeRow("a", digits[:3]), V.ProbeRow("b", digits[:3])])
    with pytest.raises(PipelineError, match="row 'b'"):
        V.update_probe_rows(fig, [V.ProbeRow("a", digits), V.ProbeRow("b", digits[:3])])


def test_epoch_strip_figure():
    arr = np.random.default_rng(2).random((3, 4, 8, 4))
    fig, shown = V.epoch_strip_figure(arr, [0, 5, 10], col_titles=list("abcd"),
                                      colorbar_label="value")
    assert shown is arr or np.array_equal(shown, arr)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 12
    np.testing.assert_array_equal(np.asarray(drawn[4].images[0].get_array()), arr[1, 0])
    assert drawn[4].get_ylabel() == "epoch 5"
    with pytest.raises(PipelineError):
        V.epoch_strip_figure(arr, [0, 1])
    with pytest.raises(PipelineError):
        V.epoch_strip_figure(arr[0], [0])


def test_channel_mosaic_scales_each_channel_and_keeps_dead_ones_zero():
    maps = np.random.default_rng(3).random((5, 6, 7)) * 10
    maps[..., 2] = 0.0
    mosaic, anchors = V.channel_mosaic(maps, cols=3)
    assert len(anchors) == 7
    h, w = 5, 6
    gap_x, gap_y = max(1, round(0.15 * w)), max(1, round(0.45 * h))
    for i in range(7):
        r, c = divmod(i, 3)
        y0, x0 = r * (h + gap_y) + gap_y, c * (w + gap_x)
        tile = mosaic[y0 : y0 + h, x0 : x0 + w]
        ch = maps[..., i]
        expected = np.zeros_like(ch) if i == 2 else (ch - ch.min()) / (ch.max() - ch.min())
        np.testing.assert_allclose(tile, expected)
    assert np.isnan(mosaic).any()  # gaps are blank


def test_feature_map_pair_figure_labels_silent_channels():
    rng = np.random.default_rng(4)
    a, b = rng.random((4, 4, 10)), rng.random((4, 4, 10))
    a[..., 3] = 0
    fig, (left, right) = V.feature_map_pair_figure(a, b, suptitle="conv")
    np.testing.assert_array_equal(left, a)
    np.testing.assert_array_equal(right, b)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "3:0" in texts and texts.count("3") == 1  # silent on the left only
    assert len(texts) == 20
    with pytest.raises(PipelineError, match="shape"):
        V.feature_map_pair_figure(a, b[..., :5])
    with pytest.raises(PipelineError):
        V.feature_map_pair_figure(a[..., 0], b[..., 0])


# --------------------------------------------------------------------------------------------
# Video
# --------------------------------------------------------------------------------------------


def test_write_mp4_roundtrip_with_odd_size(tmp_path):
    imageio_ffmpeg = need_module("imageio_ffmpeg")
    frames = [np.full((21, 33, 3), v, np.uint8) for v in (0, 80, 160, 240)]
    path = V.write_mp4(tmp_path / "clip.mp4", frames, fps=2)
    assert path.is_file() and path.stat().st_size > 0
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = reader.__next__()
    assert tuple(meta["size"]) == (34, 22)
    got = list(reader)
    assert len(got) == 4
    first = np.frombuffer(got[0], np.uint8).reshape(22, 34, 3)
    last = np.frombuffer(got[-1], np.uint8).reshape(22, 34, 3)
    assert first.mean() < 20 and last.mean() > 220
    assert not list(tmp_path.glob(".clip*"))  # no temporary file left behind


def test_write_mp4_rejects_bad_frames(tmp_path):
    with pytest.raises(PipelineError, match="no frames"):
        V.write_mp4(tmp_path / "a.mp4", [])
    with pytest.raises(PipelineError, match="same size"):
        V.write_mp4(tmp_path / "a.mp4", [np.zeros((4, 4, 3), np.uint8),
                                         np.zeros((6, 4, 3), np.uint8)])
    with pytest.raises(PipelineError, match="uint8"):
        V.write_mp4(tmp_path / "a.mp4", [np.zeros((4, 4, 3))])
    assert not (tmp_path / "a.mp4").exists()


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


def test_box_share():
    flat = np.ones((10, 20))
    share, area = V.box_share(flat, (0, 0, 10, 5))
    assert share == pytest.approx(0.25) and area == pytest.approx(0.25)
    peaked = np.zeros((10, 20))
    peaked[2, 3] = 5.0
    peaked[9, 19] = -7.0  # evidence against the class is ignored
    assert V.box_share(peaked, (3, 2, 4, 3))[0] == pytest.approx(1.0)
    assert V.box_share(np.zeros((4, 4)), (0, 0, 2, 2)) == (0.0, 0.25)
    with pytest.raises(PipelineError):
        V.box_share(flat, (0, 0, 21, 5))
    with pytest.raises(PipelineError):
        V.box_share(flat, (5, 0, 5, 5))


def test_glorot_uniform_std_matches_keras_initialiser():
    keras = need_module("keras")
    assert V.glorot_uniform_std((10, 30)) == pytest.approx(np.sqrt(2 / 40))
    assert V.glorot_uniform_std((3, 3, 64, 128)) == pytest.approx(np.sqrt(2 / (9 * 192)))
    sample = np.asarray(keras.initializers.GlorotUniform(seed=0)((3, 3, 32, 64)))
    assert sample.std() == pytest.approx(V.glorot_uniform_std((3, 3, 32, 64)), rel=0.02)
    with pytest.raises(PipelineError):
        V.glorot_uniform_std((5,))


def test_weight_stats_html_escapes_and_formats():
    from pipeline.library.inspection import WeightRow

    rows = [WeightRow("conv<1>", "kernel", (3, 3, 1, 2), 18, 0.1, 0.2, -0.5, 0.5, 0.0, True)]
    text = V.weight_stats_html(rows)
    assert text.startswith("<table>") and '<th scope="col">Layer</th>' in text
    assert "conv&lt;1&gt;" in text and "(3, 3, 1, 2)" in text and ">18<" in text


def test_save_model_without_optimizer_is_smaller_and_equivalent(tmp_path):
    keras = need_module("keras")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2)])
    model.compile("adam", "mse")
    x = np.random.default_rng(0).random((32, 8)).astype("float32")
    model.fit(x, x[:, :2], epochs=1, verbose=0)
    full = tmp_path / "full.keras"
    model.save(full)
    slim = V.save_model_without_optimizer(model, tmp_path / "slim.keras")
    assert slim.stat().st_size < full.stat().st_size
    loaded = keras.models.load_model(slim)
    assert not loaded.compiled
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    with pytest.raises(PipelineError, match=".keras"):
        V.save_model_without_optimizer(model, tmp_path / "m.h5")


def test_importing_cnn_views_does_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys; import pipeline.library.explainers.cnn_views; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules, "
            "'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=str(Path(__file__).resolve().parents[4]))
    assert out.stdout.split() == ["False", "False", "False"]

"""Tests for pipeline.library.inspection on tiny models built here (VGG16 weights=None is marked slow)."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

from tests.conftest import need_module

keras = need_module("keras")
need_module("tensorflow")

from pipeline.library import inspection as I  # noqa: E402, E741
from pipeline.library.errors import PipelineError  # noqa: E402


@pytest.fixture(scope="module")
def seq_model():
    """Sequential conv net with a frozen layer and batch-norm (non-trainable statistics)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(8, 3, activation="relu", name="conv1"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Conv2D(6, 3, activation="relu", name="conv2"),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dropout(0.2, name="drop"),
            keras.layers.Dense(4, activation="softmax", name="out"),
        ],
        name="seq",
    )
    model.get_layer("conv2").trainable = False
    return model


@pytest.fixture(scope="module")
def func_model():
    """Functional model with a branch and a nested model as one layer."""
    keras.utils.set_random_seed(1)
    inner = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, name="inner_dense")],
                             name="inner")
    inp = keras.Input((5,), name="x")
    a = keras.layers.Dense(5, name="a")(inp)
    b = inner(a)
    c = keras.layers.Concatenate(name="cat")([a, b])
    out = keras.layers.Dense(2, name="y")(c)
    return keras.Model(inp, out, name="func")


def test_summary_totals_equal_count_params(seq_model, func_model):
    for model in (seq_model, func_model):
        rows = I.summary_rows(model)
        totals = I.summary_totals(rows)
        assert totals.total == model.count_params()
        assert totals.trainable == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert totals.non_trainable == sum(
            int(np.prod(w.shape)) for w in model.non_trainable_weights
        )
        assert [r.name for r in rows] == [layer.name for layer in model.layers]


def test_summary_rows_content(seq_model, func_model):
    rows = {r.name: r for r in I.summary_rows(seq_model)}
    conv1 = rows["conv1"]
    assert conv1.class_name == "Conv2D"
    assert conv1.output_shape == "(None, 10, 10, 8)"
    assert conv1.params == 3 * 3 * 3 * 8 + 8 and conv1.trainable_params == conv1.params
    assert rows["conv2"].trainable is False and rows["conv2"].trainable_params == 0
    assert rows["conv2"].non_trainable_params == 3 * 3 * 8 * 6 + 6
    assert rows["bn"].trainable_params == 16 and rows["bn"].non_trainable_params == 16
    assert rows["drop"].params == 0
    frows = {r.name: r for r in I.summary_rows(func_model)}
    assert frows["x"].class_name == "InputLayer" and frows["x"].output_shape == "(None, 5)"
    assert frows["inner"].params == 5 * 3 + 3
    assert frows["cat"].output_shape == "(None, 8)"


def test_unbuilt_model_is_a_pipeline_error():
    model = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(PipelineError, match="not built"):
        I.summary_rows(model)


def test_markdown_and_html_tables(seq_model):
    rows = I.summary_rows(seq_model)
    md = I.rows_to_markdown(rows)
    lines = md.strip().splitlines()
    assert lines[0].startswith("| Layer | Type | Output shape | Params")
    assert len(lines) == 2 + len(rows) + 1
    assert all(line.count("|") == 7 for line in lines)
    total = I.summary_totals(rows).total
    assert f"**{total:,}**" in lines[-1]
    big = I.LayerRow("fc|1", "Dense", "(None, 4096)", 102_764_544, 102_764_544, 0, True)
    md_big = I.rows_to_markdown([big], totals=False)
    assert "102,764,544" in md_big and "fc\\|1" in md_big
    html = I.rows_to_html([big, *rows])
    assert html.startswith("<table>") and "<tfoot>" in html  # no class: material styles it
    assert html.count("<tr>") == len(rows) + 3  # header, rows, footer
    assert html.count('<th scope="col"') == 6 and '<th scope="row">fc|1</th>' in html
    assert "102,764,544" in html
    evil = I.LayerRow("<script>", "Dense", "(None, 1)", 1, 1, 0, True)
    assert "<script>" not in I.rows_to_html([evil])


def test_layer_config_is_json_safe(seq_model):
    cfg = I.layer_config(seq_model, "conv1")
    assert json.loads(json.dumps(cfg)) == cfg
    assert cfg["filters"] == 8 and cfg["kernel_size"] == [3, 3] and cfg["name"] == "conv1"
    assert I.layer_config(seq_model, 0)["name"] == "conv1"
    configs = I.layer_configs(seq_model)
    assert list(configs) == [layer.name for layer in seq_model.layers]
    with pytest.raises(PipelineError, match="Did you mean 'conv1'"):
        I.layer_config(seq_model, "cnv1")


def test_weight_stats_match_numpy(seq_model):
    rows = I.weight_stats(seq_model)
    expected = [(layer.name, w) for layer in seq_model.layers for w in layer.get_weights()]
    assert len(rows) == len(expected)
    for row, (layer_name, w) in zip(rows, expected, strict=True):
        w64 = w.astype(np.float64)
        assert row.layer == layer_name
        assert row.shape == w.shape and row.count == w.size
        assert row.mean == pytest.approx(w64.mean(), abs=1e-12)
        assert row.std == pytest.approx(w64.std(), abs=1e-12)
        assert row.min == w64.min() and row.max == w64.max()
        assert row.zero_fraction == pytest.approx(np.mean(w == 0))
    names = {(r.layer, r.name): r for r in rows}
    assert names[("conv1", "bias")].zero_fraction == 1.0
    assert names[("bn", "moving_mean")].trainable is False
    assert names[("conv2", "kernel")].trainable is False
    assert [r.layer for r in I.weight_stats(seq_model, layers=["out"])] == ["out", "out"]


def test_snapshot_weights_is_a_copy(seq_model):
    snap = I.snapshot_weights(seq_model)
    assert set(snap) == {"conv1", "bn", "conv2", "out"}
    kernel = seq_model.get_layer("out").get_weights()[0]
    np.testing.assert_array_equal(snap["out"], kernel.ravel())
    snap["out"][:] = 123.0
    assert not np.any(seq_model.get_layer("out").get_weights()[0] == 123.0)


def test_feature_maps_and_grid_show_the_layer_output(seq_model):
    x = np.random.default_rng(0).uniform(0, 1, (2, 12, 12, 3)).astype(np.float32)
    maps = I.feature_maps(seq_model, x, ["conv1", "pool", 3])
    assert list(maps) == ["conv1", "pool", "conv2"]
    assert maps["conv1"].shape == (2, 10, 10, 8) and maps["conv2"].shape == (2, 3, 3, 6)
    sub = keras.Model(seq_model.inputs, seq_model.get_layer("conv1").output)
    np.testing.assert_allclose(maps["conv1"], sub.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    single = I.feature_maps(seq_model, x[0], ["conv1"])
    np.testing.assert_allclose(single["conv1"], maps["conv1"][0], rtol=1e-5, atol=1e-6)

    fig, shown = I.feature_map_grid(maps["conv1"][0], max_channels=5, cols=3, title="conv1")
    np.testing.assert_array_equal(shown, maps["conv1"][0][..., :5])
    drawn = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(drawn) == 5
    for i, img in enumerate(drawn):
        np.testing.assert_array_equal(np.asarray(img), maps["conv1"][0][..., i])
    assert [ax.get_title() for ax in fig.axes if ax.images] == [f"ch {i}" for i in range(5)]
    fig_all, shown_all = I.feature_map_grid(maps["conv1"][:1], channel_labels=False)
    assert shown_all.shape == (10, 10, 8)
    assert sum(1 for ax in fig_all.axes if ax.images) == 8
    with pytest.raises(PipelineError, match="one \\(H, W, C\\)"):
        I.feature_map_grid(maps["conv1"])


def test_feature_maps_typo_lists_valid_names(seq_model):
    x = np.zeros((1, 12, 12, 3), np.float32)
    with pytest.raises(PipelineError) as err:
        I.feature_maps(seq_model, x, ["conv1", "conv_2"])
    msg = str(err.value)
    assert "'conv_2'" in msg and "Did you mean 'conv2'" in msg
    assert "Valid layer names: conv1, bn, pool, conv2, flat, drop, out" in msg
    with pytest.raises(PipelineError, match="takes inputs of shape"):
        I.feature_maps(seq_model, np.zeros((12, 12)), ["conv1"])


def test_filter_grid_rgb_and_gray(seq_model):
    kernel = seq_model.get_layer("conv1").get_weights()[0]  # (3, 3, 3, 8)
    fig, shown = I.filter_grid(seq_model.get_layer("conv1").get_weights(), max_filters=6)
    assert shown.shape == (6, 3, 3, 3) and shown.min() >= 0 and shown.max() <= 1
    f0 = kernel[..., 0]
    np.testing.assert_allclose(shown[0], (f0 - f0.min()) / (f0.max() - f0.min()), rtol=1e-6)
    assert sum(1 for ax in fig.axes if ax.images) == 6
    k2 = seq_model.get_layer("conv2").get_weights()[0]  # (3, 3, 8, 6)
    _, gray = I.filter_grid(k2)
    np.testing.assert_allclose(gray, np.moveaxis(k2.mean(axis=2), -1, 0), rtol=1e-6)
    _, one = I.filter_grid(k2, in_channel=2)
    np.testing.assert_allclose(one, np.moveaxis(k2[:, :, 2, :], -1, 0))
    with pytest.raises(PipelineError, match="kernel must be"):
        I.filter_grid(np.zeros((3, 3)))


def test_weight_histograms_before_after_grouped(seq_model):
    before = I.snapshot_weights(seq_model)
    after = {k: v * 2 + 0.1 for k, v in before.items()}
    fig = I.weight_histograms(after, bins=20, group=3, before=before)
    assert len(fig.axes) == 2 * 2  # 4 layers -> groups of 3 and 1; rows before/after
    legends = [[t.get_text() for t in ax.get_legend().get_texts()] for ax in fig.axes]
    assert legends[0][0].startswith("conv1 (std ") and len(legends[0]) == 3
    assert len(legends[1]) == 1
    # panels are titled by layer name (never by 0-based position), matching the legends
    names = list(before)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == [f"before training: {names[0]}-{names[2]}", f"before training: {names[3]}",
                      f"after training: {names[0]}-{names[2]}", f"after training: {names[3]}"]
    assert not any("layers 0" in t for t in titles)
    one_row = I.weight_histograms(seq_model, layers=["conv1", "out"], bins=10)
    assert len(one_row.axes) == 1
    assert one_row.axes[0].get_title() == "after training: conv1-out"
    with pytest.raises(PipelineError, match="Did you mean .*'conv1'"):
        I.weight_histograms(seq_model, layers=["conv"])


def test_activation_strip_gif_is_world_readable_under_a_strict_umask(tmp_path, seq_model):
    old = os.umask(0o077)
    try:
        path = I.activation_strip_gif(tmp_path / "strip.gif", [np.zeros((4, 4))], ["blank"])
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_activation_strip_gif(tmp_path, seq_model):
    import imageio.v3 as iio

    x = np.random.default_rng(0).uniform(0, 1, (12, 12, 3)).astype(np.float32)
    maps = I.feature_maps(seq_model, x, ["conv1", "pool", "conv2"])
    frames = [x, maps["conv1"], maps["pool"], maps["conv2"]]
    labels = ["input", "after layer 1", "after layer 3", "after layer 4"]
    path = I.activation_strip_gif(tmp_path / "sub" / "strip.gif", frames, labels, duration=0.5)
    assert path.exists()
    data = iio.imread(path, index=None)
    assert data.shape[0] == 4
    assert iio.immeta(path)["duration"] == 500
    assert [p.name for p in path.parent.iterdir()] == ["strip.gif"]  # no temp files left
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # published like every other asset
    with pytest.raises(PipelineError, match="labels"):
        I.activation_strip_gif(tmp_path / "bad.gif", frames, labels[:2])
    assert not (tmp_path / "bad.gif").exists()


def test_tile_channels_and_figure_to_array():
    maps = np.arange(4 * 5 * 7, dtype=np.float64).reshape(4, 5, 7)
    mosaic = I.tile_channels(maps, max_channels=6, cols=3)
    assert mosaic.shape == (2 * 4 + 1, 3 * 5 + 2)
    assert np.isnan(mosaic[4]).all()  # the gap row
    np.testing.assert_allclose(mosaic[:4, :5], (maps[..., 0] - maps[..., 0].min())
                               / np.ptp(maps[..., 0]))
    fig, _ = I.feature_map_grid(maps, cols=4)
    arr = I.figure_to_array(fig)
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[-1] == 3


@pytest.mark.slow
def test_vgg16_summary_without_weights():
    model = keras.applications.VGG16(weights=None)
    rows = I.summary_rows(model)
    totals = I.summary_totals(rows)
    assert totals.total == 138_357_544 == model.count_params()
    assert totals.trainable == 138_357_544 and totals.non_trainable == 0
    by_name = {r.name: r for r in rows}
    assert by_name["block5_conv1"].output_shape == "(None, 14, 14, 512)"
    assert by_name["fc1"].params == 102_764_544
    assert "138,357,544" in I.rows_to_markdown(rows)
    assert I.layer_config(model, "block5_conv1")["filters"] == 512


def test_activation_strip_gif_dark_palette_and_poster(tmp_path) -> None:
    """The dark GIF recolours background and labels only; the poster is the first frame."""
    import imageio.v3 as iio

    from pipeline.library.inspection import activation_strip_gif

    rng = np.random.default_rng(0)
    frames = [rng.random((8, 8)), rng.random((6, 6, 4))]
    paths = {}
    for palette in ("light", "dark"):
        paths[palette] = activation_strip_gif(tmp_path / f"a.{palette}.gif", frames, ["a", "b"],
                                              palette=palette, poster=tmp_path / f"p.{palette}.png")
    light = iio.imread(paths["light"], index=None)
    dark = iio.imread(paths["dark"], index=None)
    assert light.shape == dark.shape
    h, w = light.shape[1:3]
    corner_l, corner_d = light[0, 2, 2, :3].astype(int), dark[0, 2, 2, :3].astype(int)
    assert corner_l.sum() > 600 and corner_d.sum() < 200  # white vs dark background
    centre = (slice(h // 2 - 5, h // 2 + 5), slice(w // 2 - 5, w // 2 + 5))
    np.testing.assert_array_equal(light[0][centre][..., :3], dark[0][centre][..., :3])
    for palette in ("light", "dark"):
        poster = iio.imread(tmp_path / f"p.{palette}.png")
        first = iio.imread(paths[palette], index=0)
        np.testing.assert_array_equal(poster[..., :3], first[..., :3])

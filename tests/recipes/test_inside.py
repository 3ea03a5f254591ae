"""The three "inside a network" explainers, built with the quick profile through the CLI, and
their pictures recomputed here from the models they claim to show.

Each recipe saves the arrays it drew (an .npz asset) and, for the models it trains, the model
itself; this test reloads them and checks every picture against the model's own outputs:
codes and reconstructions against ``encoder.predict`` / ``autoencoder.predict``, feature-map
grids against the layers' outputs, and the ImageNet attribution maps against a fresh
computation on the same pretrained network, plus the deletion check (masking the top-attributed
pixels lowers the class score more than masking random pixels). Marked slow: it trains two
MNIST models and runs the attribution methods (about 3-4 minutes on two cores).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, SHARED_DATA, need_data
from tests.sitebuild import build_real_recipes, real_build_dir

pytestmark = pytest.mark.slow

AUTOENCODER = "what-an-autoencoder-keeps"
CNN = "feature-maps-of-a-small-cnn"
IMAGENET = "anatomy-of-an-imagenet-classifier"
SLUGS = (AUTOENCODER, CNN, IMAGENET)


@pytest.fixture(scope="module")
def inside_build(tmp_path_factory):
    need_data("mnist")
    build_dir = real_build_dir(tmp_path_factory.mktemp("inside") / "build")
    return build_real_recipes(build_dir, SLUGS, SHARED_DATA)


def _npz(path):
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def test_outputs_exist_have_alt_text_and_stay_small(inside_build):
    for slug, (assets, manifest) in inside_build.items():
        assert manifest["profile"] == "quick"
        assert manifest["data"], f"{slug} records no data source"
        for out in manifest["outputs"]:
            path = assets / out["name"]
            assert path.is_file(), f"{slug}: {out['name']} missing"
            if out["kind"] in ("image", "video"):
                assert len(out["alt"]) > 20, f"{slug}/{out['name']} needs real alt text"
                assert path.stat().st_size < 1_000_000, f"{slug}/{out['name']} is over 1 MB"
    for slug in SLUGS:
        page = REPO_ROOT / "content" / "inside" / f"{slug}.md"
        assert page.is_file()
        text = page.read_text()
        assert "{{ provenance() }}" in text and "{{ notebook_link() }}" in text
        names = {o["name"] for o in inside_build[slug][1]["outputs"]}
        for name in re.findall(r'\{\{ (?:figure|video)\("([^"]+)"', text):
            assert name in names, f"{slug}.md shows {name}, which the recipe does not produce"
        metrics = inside_build[slug][1]["metrics"]
        for name in re.findall(r'\{\{ metric\("([^"]+)"', text):
            assert name in metrics, f"{slug}.md uses metric {name}, which is not recorded"


# --------------------------------------------------------------------------------------------
# What an autoencoder keeps
# --------------------------------------------------------------------------------------------


def test_autoencoder_codes_and_reconstructions_come_from_the_model(inside_build):
    import keras

    from pipeline.library.datasets import load_mnist
    from pipeline.library.explainers.cnn_views import codes_to_images

    assets, manifest = inside_build[AUTOENCODER]
    a = _npz(assets / "probe-arrays.npz")
    auto = keras.models.load_model(assets / "autoencoder.keras")
    encoder = keras.Model(auto.inputs, auto.get_layer("code").output)
    codes = encoder.predict(a["probe_x"], verbose=0)
    recons = auto.predict(a["probe_x"], verbose=0)
    # The pictures of the trained model are the model's outputs.
    np.testing.assert_allclose(a["shown_codes"], codes_to_images(codes), atol=1e-5)
    np.testing.assert_allclose(a["shown_recons"], recons.reshape(-1, 28, 28), atol=1e-5)
    np.testing.assert_allclose(a["codes_by_epoch"][-1], codes, atol=1e-5)
    # The epoch strips are rows of the per-epoch record, from epoch 0 to the trained model.
    epochs = list(a["epochs"])
    assert epochs == list(range(manifest["metrics"]["epochs"] + 1))
    rows = [epochs.index(e) for e in a["strip_epochs"]]
    assert rows[0] == 0 and rows[-1] == len(epochs) - 1
    np.testing.assert_array_equal(a["strip_codes"], codes_to_images(a["codes_by_epoch"][rows]))
    np.testing.assert_allclose(a["strip_recons"][-1], recons.reshape(-1, 28, 28), atol=1e-5)
    # Training happened: the codes changed and the reconstructions got much better.
    assert not np.allclose(a["codes_by_epoch"][0], a["codes_by_epoch"][-1])
    target = a["probe_x"].reshape(10, 28, 28)[None]
    err = ((a["strip_recons"] - target) ** 2).mean(axis=(1, 2, 3))
    assert err[-1] < 0.5 * err[0]
    assert manifest["metrics"]["val_mse"] < 0.05
    # The probes are the first test digit of each class, real MNIST.
    (_, _), (x_test, y_test), _ = load_mnist(SHARED_DATA, limit_test=2000)
    assert list(a["probe_labels"]) == list(range(10))
    np.testing.assert_allclose(
        a["probe_x"], x_test[a["probe_test_index"]].reshape(10, 784) / 255.0, atol=1e-7)
    data = manifest["data"][0]
    assert data["dataset"] == "mnist" and data["n_train"] == 12000 and data["subset"]


def test_autoencoder_video_has_one_frame_per_epoch(inside_build):
    import imageio_ffmpeg

    assets, manifest = inside_build[AUTOENCODER]
    video = next(o for o in manifest["outputs"] if o["name"] == "training.mp4")
    assert video["kind"] == "video" and video["poster"] == "training-poster.png"
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(assets / "training.mp4"))
    epochs = manifest["metrics"]["epochs"]
    fps = manifest["sizes"]["fps"]
    assert frames == epochs + 1 + 2 * fps  # epoch 0..E, then two seconds on the last one


# --------------------------------------------------------------------------------------------
# Feature maps of a small CNN
# --------------------------------------------------------------------------------------------


def test_cnn_feature_map_grids_are_the_layers_outputs(inside_build):
    import keras

    from pipeline.library.datasets import load_cat_photo
    from pipeline.library.explainers.cnn_views import to_unit_gray
    from pipeline.library.inspection import feature_maps

    assets, manifest = inside_build[CNN]
    a = _npz(assets / "feature-maps.npz")
    models = {"trained": keras.models.load_model(assets / "cnn-trained.keras"),
              "untrained": keras.models.load_model(assets / "cnn-untrained.keras")}
    cat_rgb, _ = load_cat_photo(SHARED_DATA)
    np.testing.assert_array_equal(a["cat"], to_unit_gray(cat_rgb, 28))
    layers = ["conv1", "conv2", "conv3"]
    for state, model in models.items():
        for input_name in ("cat", "digit"):
            maps = feature_maps(model, a[input_name], layers)
            for layer in layers:
                shown = a[f"{input_name}__{state}__{layer}"]
                assert shown.shape == maps[layer].shape
                assert shown.shape[-1] == {"conv1": 32, "conv2": 64, "conv3": 64}[layer]
                np.testing.assert_allclose(shown, maps[layer], atol=1e-5,
                                           err_msg=f"{input_name} {state} {layer}")
        np.testing.assert_array_equal(a[f"conv1_kernel_{state}"],
                                      model.get_layer("conv1").get_weights()[0])
    # The trained and untrained networks really differ, and the trained one learned digits.
    assert not np.allclose(a["conv1_kernel_trained"], a["conv1_kernel_untrained"])
    assert manifest["metrics"]["test_accuracy"] > 0.9
    assert manifest["metrics"]["digit_read_as"] == manifest["metrics"]["digit_label"]


# --------------------------------------------------------------------------------------------
# Anatomy of an ImageNet classifier
# --------------------------------------------------------------------------------------------


def test_vgg16_table_matches_the_architecture(inside_build):
    assets, manifest = inside_build[IMAGENET]
    m = manifest["metrics"]
    assert m["vgg16_total_params"] == 138_357_544
    assert m["vgg16_trainable_params"] == 138_357_544 and m["vgg16_non_trainable_params"] == 0
    assert m["vgg16_conv_layers"] == 13
    assert m["block5_conv1_params"] == 3 * 3 * 512 * 512 + 512
    assert m["vgg16_fc1_params"] == 7 * 7 * 512 * 4096 + 4096
    assert m["vgg16_fc_params"] == (7 * 7 * 512 * 4096 + 4096) + (4096 * 4096 + 4096) + (
        4096 * 1000 + 1000)
    html = (assets / "vgg16-summary.html").read_text()
    assert "138,357,544" in html and "block5_conv1" in html and "2,359,808" in html
    config = json.loads((assets / "vgg16-block5_conv1.json").read_text())
    assert config["filters"] == 512 and config["kernel_size"] == [3, 3]
    assert config["padding"] == "same" and config["activation"] == "relu"
    if m["vgg16_weights"].startswith("untrained"):
        assert m["vgg16_init_std_max_rel_dev"] < 0.05
    weights = (assets / "vgg16-weights.html").read_text()
    assert weights.count("<tr>") == 1 + 2 * 16  # header + kernel and bias of 16 layers


@pytest.fixture(scope="module")
def picture_model(inside_build):
    import keras

    from pipeline.library.datasets import install_mobilenet_weights

    assets, manifest = inside_build[IMAGENET]
    a = _npz(assets / "attributions.npz")
    if str(a["model"]) == "vgg16":
        net = keras.applications.VGG16(weights="imagenet")
        preprocess = keras.applications.vgg16.preprocess_input
    else:
        install_mobilenet_weights(SHARED_DATA)
        net = keras.applications.MobileNet(alpha=0.25, input_shape=(128, 128, 3),
                                           weights="imagenet")
        preprocess = keras.applications.mobilenet.preprocess_input
    x = preprocess(a["images"].astype("float32"))
    return net, x, a, assets, manifest


def test_attribution_maps_are_computed_from_the_model(picture_model):
    from pipeline.library import attribution as attr

    net, x, a, _, _ = picture_model
    targets = [int(t) for t in a["targets"]]
    assert [int(p.argmax()) for p in net.predict(x, verbose=0)] == targets
    cam_layer = str(a["cam_layer"])
    for i, t in enumerate(targets):
        np.testing.assert_allclose(a["gradcam"][i], attr.grad_cam(net, x[i], t, layer=cam_layer),
                                   atol=1e-4, err_msg=f"Grad-CAM {a['names'][i]}")
        occ = attr.occlusion_map(net, x[i], t, patch=int(a["occlusion_patch"]),
                                 stride=int(a["occlusion_stride"]))
        np.testing.assert_allclose(a["occlusion"][i], occ, atol=1e-4,
                                   err_msg=f"occlusion {a['names'][i]}")
        sal = attr.vanilla_saliency(net, x[i], t)
        # Stored as float16 (relative precision 5e-4).
        np.testing.assert_allclose(a["saliency"][i].astype(np.float32), sal, rtol=2e-3,
                                   atol=1e-3 * float(sal.max()))


def test_masking_top_attributed_pixels_hurts_more_than_random(picture_model):
    from pipeline.library import attribution as attr

    net, x, a, _, manifest = picture_model
    for i, t in enumerate(int(t) for t in a["targets"]):
        for method in ("gradcam", "occlusion"):
            drop = attr.mask_region_score_drop(net, x[i], t, a[method][i], fraction=0.1, rng=0)
            assert drop.drop_top > drop.drop_random, (
                f"{a['names'][i]} {method}: top {drop.drop_top:.3f} vs random "
                f"{drop.drop_random:.3f}")
    m = manifest["metrics"]
    assert m["deletion_checks_passed"] == m["deletion_checks"]


def test_activations_and_filters_are_the_networks(picture_model):
    from pipeline.library.inspection import feature_maps, filter_grid

    net, x, _, assets, _ = picture_model
    a = _npz(assets / "activations.npz")
    act_layers = [k[len("act_"):] for k in a if k.startswith("act_")]
    assert len(act_layers) == 3
    maps = feature_maps(net, x[0], act_layers)
    for layer in act_layers:
        shown = a[f"act_{layer}"]
        np.testing.assert_allclose(shown, maps[layer][..., : shown.shape[-1]], atol=1e-4)
    _, filt = filter_grid(net.get_layer(str(a["first_conv"])).get_weights()[0])
    np.testing.assert_allclose(a["filters_trained"], filt, atol=1e-7)

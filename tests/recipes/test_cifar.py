"""The CIFAR-10 all-convolutional explainer (seed 003), built with the quick profile through the
CLI, and its pictures recomputed here from the model and arrays it saved.

Checks: the integrated gradients are recomputed with an independent implementation (a
GradientTape and the trapezoid rule at the recorded step count) and satisfy completeness,
``sum(IG) == f(x) - f(black)`` within 1%, with ``f`` taken from ``model.predict``; the
activation grids are the outputs of layers 3, 6 and 9 for the test image; the interior
gradients are the model's gradients at the scaled images; the page names only outputs and
metrics the recipe records; the build says which data it used. Marked slow: it trains the
network (about 2-3 minutes on two cores).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, SHARED_DATA, need_data
from tests.sitebuild import build_real_recipes, real_build_dir

pytestmark = pytest.mark.slow

SLUG = "inside-an-all-convolutional-net"
PAGE = REPO_ROOT / "content" / "cifar" / f"{SLUG}.md"


@pytest.fixture(scope="module")
def cifar_build(tmp_path_factory):
    need_data("cifar10", "yoongikim_test_jpeg")
    build_dir = real_build_dir(tmp_path_factory.mktemp("cifar") / "build")
    return build_real_recipes(build_dir, [SLUG], SHARED_DATA)[SLUG]


@pytest.fixture(scope="module")
def saved(cifar_build):
    import keras

    assets, manifest = cifar_build
    with np.load(assets / "arrays.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    model = keras.models.load_model(assets / "model.keras")
    return model, arrays, assets, manifest


def test_outputs_page_and_sizes(cifar_build):
    assets, manifest = cifar_build
    assert manifest["profile"] == "quick"
    names = {o["name"]: o for o in manifest["outputs"]}
    for name, out in names.items():
        path = assets / name
        assert path.is_file(), f"{name} missing"
        assert path.stat().st_size < 1_000_000, f"{name} is over 1 MB"
        if out["kind"] in ("image", "gif"):
            assert len(out["alt"]) > 20, f"{name} needs real alt text"
    assert names["model.keras"]["kind"] == "data" and names["arrays.npz"]["kind"] == "data"
    text = PAGE.read_text()
    assert "{{ provenance() }}" in text and "{{ notebook_link() }}" in text
    for name in re.findall(r'\{\{ (?:figure|video)\("([^"]+)"', text):
        assert name in names, f"the page shows {name}, which the recipe does not produce"
    for name in re.findall(r'\{\{ metric\("([^"]+)"', text):
        assert name in manifest["metrics"], f"the page uses metric {name}, which is not recorded"
    for name in ("curves.png", "weight-histograms.png", "activations-conv3.png",
                 "activations-conv6.png", "activations-conv9.png", "activations.gif",
                 "interior-gradients.png", "integrated-gradients.png",
                 "weights-over-epochs-1.png", "weights-over-epochs-2.png",
                 "weights-over-epochs-3.png"):
        assert f'"{name}"' in text, f"the page does not show {name}"


def test_the_build_says_which_data_it_used(cifar_build):
    _, manifest = cifar_build
    m = manifest["metrics"]
    assert len(manifest["data"]) == 1
    data = manifest["data"][0]
    assert data["dataset"] == "cifar10" and data["origin"] == "verified-copy" and data["subset"]
    assert (data["n_train"], data["n_test"]) == (2500, 1000) == (m["n_train"], m["n_test"])
    assert "not comparable" in data["note"]
    assert m["full_dataset"] is False
    assert m["data_summary"].startswith("2,500 training images (250 per class) and 1,000 test "
                                        "images (100 per class)")
    assert "test set" in m["data_summary"] and "not comparable" in m["data_summary"]


def test_training_learned_and_every_batch_was_recorded(saved):
    model, a, _, manifest = saved
    m = manifest["metrics"]
    assert m["epochs"] == manifest["sizes"]["epochs"] == 6
    assert list(a["epochs"]) == list(range(m["epochs"] + 1))
    assert m["test_accuracy_before"] < 0.2
    assert m["test_accuracy"] > 0.25, "the quick build should be clearly above 10% chance"
    assert math.isclose(float(a["test_accuracy"][-1]), m["test_accuracy"], abs_tol=1e-4)
    steps = math.ceil(m["n_train"] / manifest["sizes"]["batch"])
    assert m["batches_recorded"] == m["epochs"] * steps == len(a["batch_loss"])
    assert np.all(np.isfinite(a["batch_loss"])) and np.all((a["batch_accuracy"] >= 0)
                                                           & (a["batch_accuracy"] <= 1))
    # The histograms' "after" row is the saved model; "before" is He-normal.
    from pipeline.library.explainers.cifar_views import CONV_LAYERS

    stds = [model.get_layer(n).get_weights()[0].std() for n in CONV_LAYERS]
    np.testing.assert_allclose(a["std_after"], stds, rtol=1e-5)
    width = m["width"]
    fan_in = np.array([27] + [9 * width] * 8)
    np.testing.assert_allclose(a["std_before"], np.sqrt(2 / fan_in), rtol=0.1)


def _independent_ig(model, image, target, steps):
    """Integrated gradients with the trapezoid rule, written here from the paper's definition."""
    import tensorflow as tf

    alphas = np.arange(steps + 1, dtype=np.float64) / steps
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] *= 0.5
    x = tf.constant(alphas[:, None, None, None].astype(np.float32) * image[None])
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = model(x, training=False)[:, target]
    grads = tape.gradient(score, x).numpy().astype(np.float64)
    return image.astype(np.float64) * np.tensordot(weights, grads, axes=1)


def test_integrated_gradients_are_complete_at_the_chosen_step_count(saved):
    model, a, _, manifest = saved
    m = manifest["metrics"]
    steps = int(a["ig_steps"])
    assert m["ig_steps"] == steps and str(a["ig_method"]) == m["ig_method"] == "trapezoid"
    images, targets = a["explain_x"], [int(t) for t in a["targets"]]
    assert len(targets) == manifest["sizes"]["n_explain"] == 4
    probs = model.predict(images, verbose=0)
    black = model.predict(np.zeros_like(images[:1]), verbose=0)[0]
    assert [int(p.argmax()) for p in probs] == targets  # the maps explain the prediction
    gaps = []
    for i, t in enumerate(targets):
        ig = _independent_ig(model, images[i], t, steps)
        np.testing.assert_allclose(a["ig_attributions"][i], ig, rtol=1e-3,
                                   atol=1e-4 * float(np.abs(ig).max()))
        delta = float(probs[i, t]) - float(black[t])
        assert delta > 0.05, "explained images should differ clearly from the black baseline"
        gap = abs(float(ig.sum()) - delta) / abs(delta)
        assert gap < 0.01, f"image {i}: completeness gap {gap:.3%} at {steps} steps"
        gaps.append(gap)
        assert math.isclose(float(a["ig_f_x"][i]), float(probs[i, t]), rel_tol=1e-4)
        assert math.isclose(float(a["ig_f_baseline"][i]), float(black[t]), rel_tol=1e-4,
                            abs_tol=1e-7)
    assert m["ig_completeness_gap_max"] < 0.01
    assert math.isclose(m["ig_completeness_gap_max"], max(gaps), rel_tol=0.2, abs_tol=2e-4)


def test_interior_gradients_are_the_models_gradients(saved):
    import tensorflow as tf

    model, a, _, _ = saved
    alphas = a["interior_alphas"].astype(np.float32)
    for i, t in enumerate(int(t) for t in a["targets"]):
        x = tf.constant(alphas[:, None, None, None] * a["explain_x"][i][None])
        with tf.GradientTape() as tape:
            tape.watch(x)
            score = model(x, training=False)[:, t]
        grads = tape.gradient(score, x).numpy()
        np.testing.assert_allclose(a["interior_gradients"][i], grads, rtol=1e-3,
                                   atol=1e-4 * float(np.abs(grads).max()))
    scores = a["interior_scores"]
    curve_alphas = a["interior_curve_alphas"]
    assert curve_alphas[0] == 0.0 and curve_alphas[-1] == 1.0
    np.testing.assert_allclose(scores[:, -1], a["ig_f_x"], rtol=1e-4)
    np.testing.assert_allclose(scores[:, 0], a["ig_f_baseline"], rtol=1e-4, atol=1e-7)


def test_activation_grids_are_the_layer_outputs(saved):
    import keras

    from pipeline.library.datasets import load_cifar10
    from pipeline.library.explainers.cifar_views import ACTIVATION_LAYERS

    model, a, assets, manifest = saved
    # The image is official test image k (lossless), scaled to [0, 1].
    _, (x_exact, _), _ = load_cifar10(SHARED_DATA, source="verified")
    k = manifest["metrics"]["activation_image_index"]
    assert k == int(a["explain_index"][0])
    np.testing.assert_array_equal(a["act_image"], x_exact[k].astype(np.float32) / 255.0)
    assert [str(s) for s in a["act_layers"]] == list(ACTIVATION_LAYERS)
    shapes = {"conv3": (32, 32, 27), "conv6": (16, 16, 27), "conv9": (8, 8, 27)}
    for layer in ACTIVATION_LAYERS:
        probe = keras.Model(model.inputs, model.get_layer(layer).output)
        out = probe.predict(a["act_image"][None], verbose=0)[0]
        shown = a[f"act_{layer}"]
        assert shown.shape == shapes[layer]
        np.testing.assert_allclose(shown, out[..., :27], rtol=1e-4, atol=1e-5, err_msg=layer)

    import imageio.v3 as iio

    frames = iio.imread(assets / "activations.gif", index=None)
    assert frames.shape[0] == 4  # input, layer 3, layer 6, layer 9


def test_notebook_page_mentions_the_step_count_and_gap():
    text = PAGE.read_text()
    assert '{{ metric("ig_steps") }}' in text
    assert 'metric("ig_completeness_gap_max"' in text
    # the profiles' data as the recipe loads it: the whole official split for full, a small
    # pool (not comparable with published numbers) for quick
    assert "50,000" in text and "10,000" in text and "2,500" in text
    assert "not comparable" in " ".join(text.replace("**", "").split())


def test_integrated_gradients_over_training_are_complete_at_every_epoch(saved):
    """Each epoch's maps are recomputed from the recorded weights of that epoch (published with
    the page) by the independent implementation above, and add up to f(x) - f(black) within 1%."""
    import keras

    from pipeline.library.replay.store import Replay

    model, a, assets, manifest = saved
    epochs = [int(e) for e in a["ig_over_epochs"]]
    assert len(epochs) == manifest["sizes"]["ig_epochs"] and epochs == sorted(epochs) and epochs[0] > 0
    assert manifest["metrics"]["ig_over_training_epochs"] == ", ".join(map(str, epochs))
    replay = Replay.load(assets / "replay-ig-epochs.npz")
    # every epoch shown but the last, whose weights are the trained model's (model.keras)
    assert [int(e) for e in replay.epochs] == epochs[:-1]
    assert epochs[-1] == manifest["sizes"]["epochs"]
    images, targets = a["explain_x"], [int(t) for t in a["targets"]]
    worst = 0.0
    previous = None
    for k, epoch in enumerate(epochs):
        at = model
        if epoch != epochs[-1]:
            at = keras.models.clone_model(model)
            values = replay.weights(epoch)
            variables = [v for layer in at.layers for v in layer.weights]
            for key, var in zip(replay.weight_keys, variables, strict=True):
                var.assign(values[key])
        probs = at.predict(images, verbose=0)
        black = at.predict(np.zeros_like(images[:1]), verbose=0)[0]
        steps = int(a["ig_over_steps"][k])
        for i, t in enumerate(targets):
            ig = _independent_ig(at, images[i], t, steps)
            np.testing.assert_allclose(a["ig_over_attributions"][k, i], ig, rtol=1e-3,
                                       atol=1e-4 * float(np.abs(ig).max()))
            delta = float(probs[i, t]) - float(black[t])
            gap = abs(float(ig.sum()) - delta) / abs(delta)
            assert gap < 0.01, f"epoch {epoch}, image {i}: completeness gap {gap:.3%}"
            worst = max(worst, gap)
            assert math.isclose(float(a["ig_over_f_x"][k, i]), float(probs[i, t]), rel_tol=1e-4)
        if previous is not None:  # the weights really differ between the epochs shown
            assert not np.allclose(previous, a["ig_over_attributions"][k])
        previous = a["ig_over_attributions"][k]
    # the last epoch shown is the trained model: its maps are the page's main ones
    np.testing.assert_allclose(a["ig_over_f_x"][-1], a["ig_f_x"], rtol=1e-4)
    assert manifest["metrics"]["ig_over_training_gap_max"] < 0.01
    assert math.isclose(manifest["metrics"]["ig_over_training_gap_max"], worst, rel_tol=0.2, abs_tol=2e-4)
    # one frame per epoch, light and dark, for the scrubber
    import json

    for folder in ("ig-over-training", "ig-over-training.dark"):
        index = json.loads((assets / folder / "index.json").read_text())
        assert index["epochs"] == epochs and all((assets / folder / f).is_file() for f in index["files"])

"""Tests for pipeline.library.attribution on tiny models built here (no downloads, a few seconds each).

The key model is ``region_model``: fixed weights make its class-0 score depend only on the red
pixels inside one known rectangle, so every attribution method must point there.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import need_module

keras = need_module("keras")

from pipeline.library import attribution as A  # noqa: E402
from pipeline.library.errors import PipelineError  # noqa: E402

H = W = 16
REGION = (slice(2, 8), slice(9, 15))  # rows 2..7, cols 9..14: the only pixels class 0 reads
RED = (slice(3, 7), slice(10, 14))  # a red square inside REGION
GREEN = (slice(10, 14), slice(2, 6))  # a green square outside it


def _in_region(rc: tuple[int, int], region: tuple[slice, slice] = REGION) -> bool:
    r, c = rc
    return region[0].start <= r < region[0].stop and region[1].start <= c < region[1].stop


def _argmax2d(a: np.ndarray) -> tuple[int, int]:
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(a)), a.shape))


@pytest.fixture(scope="module")
def region_model():
    """Conv(1x1: red detector, green detector, ReLU) -> Flatten -> Dense(2, softmax).

    The dense weights are zero outside REGION, so class 0 (red) and class 1 (green) scores
    depend only on pixels inside REGION; no Lambda layer, all weights fixed.
    """
    inp = keras.Input((H, W, 3), name="image")
    conv = keras.layers.Conv2D(2, 1, activation="relu", name="color")(inp)
    flat = keras.layers.Flatten(name="flat")(conv)
    out = keras.layers.Dense(2, activation="softmax", name="head")(flat)
    model = keras.Model(inp, out, name="region_model")
    kernel = np.zeros((1, 1, 3, 2), np.float32)
    kernel[0, 0, :, 0] = [1.0, -1.0, -1.0]  # red
    kernel[0, 0, :, 1] = [-1.0, 1.0, -1.0]  # green
    model.get_layer("color").set_weights([kernel, np.zeros(2, np.float32)])
    dense = np.zeros((H * W * 2, 2), np.float32)
    for i in range(H):
        for j in range(W):
            if _in_region((i, j)):
                dense[(i * W + j) * 2 + 0, 0] = 0.1
                dense[(i * W + j) * 2 + 1, 1] = 0.1
    model.get_layer("head").set_weights([dense, np.zeros(2, np.float32)])
    return model


@pytest.fixture(scope="module")
def region_image() -> np.ndarray:
    rng = np.random.default_rng(3)
    img = rng.uniform(0.25, 0.35, (H, W, 3)).astype(np.float32)
    img[RED] = [0.9, 0.1, 0.1]
    img[GREEN] = [0.1, 0.9, 0.1]
    return img


@pytest.fixture(scope="module")
def relu_net():
    """A small random conv net (ReLU, random biases) with a confident softmax."""
    keras.utils.set_random_seed(0)
    bias = keras.initializers.RandomNormal(stddev=0.3)
    inp = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu", padding="same", bias_initializer=bias,
                            kernel_initializer="he_normal")(inp)
    x = keras.layers.Conv2D(8, 3, activation="relu", strides=2, bias_initializer=bias,
                            kernel_initializer="he_normal")(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", bias_initializer=bias,
                            kernel_initializer="he_normal", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(5, activation="softmax",
                             kernel_initializer=keras.initializers.RandomNormal(stddev=2.0))(x)
    model = keras.Model(inp, out, name="relu_net")
    img = np.random.default_rng(0).uniform(0, 1, (12, 12, 3)).astype(np.float32)
    target = int(model.predict(img[None], verbose=0)[0].argmax())
    return model, img, target


@pytest.fixture(scope="module")
def smooth_net():
    """A Sequential net with smooth activations, where quadrature error follows theory."""
    keras.utils.set_random_seed(0)
    bias = keras.initializers.RandomNormal(stddev=0.3)
    model = keras.Sequential(
        [
            keras.Input((10, 10, 3)),
            keras.layers.Conv2D(6, 3, activation="softplus", kernel_initializer="he_normal",
                                bias_initializer=bias),
            keras.layers.Conv2D(6, 3, activation="tanh", kernel_initializer="he_normal",
                                bias_initializer=bias),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4, kernel_initializer=keras.initializers.RandomNormal(stddev=2.0)),
            keras.layers.Softmax(),
        ],
        name="smooth_net",
    )
    img = np.random.default_rng(0).uniform(0, 1, (10, 10, 3)).astype(np.float32)
    target = int(model.predict(img[None], verbose=0)[0].argmax())
    return model, img, target


# ----------------------------------------------------------------------------- integrated


@pytest.mark.parametrize("score", ["probability", "logit"])
def test_ig_completeness_within_one_percent_at_default_steps(relu_net, score):
    model, img, target = relu_net
    ig = A.integrated_gradients(model, img, target, score=score)
    assert ig.steps == 64 and ig.method == "trapezoid"
    assert ig.attributions.shape == img.shape
    assert abs(ig.delta) > 0.1  # a meaningful difference to explain
    assert ig.completeness_gap < 0.01
    assert ig.completeness_gap == pytest.approx(abs(ig.total - ig.delta) / abs(ig.delta))
    # f_x really is the model's score for the target (probability) / its logit
    prob = float(model.predict(img[None], verbose=0)[0, target])
    if score == "probability":
        assert ig.f_x == pytest.approx(prob, rel=1e-5)
    else:
        assert ig.f_x != pytest.approx(prob, rel=1e-3)


def test_ig_is_exact_for_a_linear_model():
    model = keras.Sequential([keras.Input((4, 4, 2)), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    rng = np.random.default_rng(1)
    wts = rng.normal(size=(32, 3)).astype(np.float32)
    model.layers[-1].set_weights([wts, np.array([0.5, -1.0, 2.0], np.float32)])
    img = rng.normal(size=(4, 4, 2)).astype(np.float32)
    base = np.full_like(img, 0.3)
    for method in A.IG_METHODS:
        ig = A.integrated_gradients(model, img, 2, baseline=0.3, steps=3, method=method)
        expected = (img - base) * wts[:, 2].reshape(4, 4, 2)
        np.testing.assert_allclose(ig.attributions, expected, rtol=1e-5, atol=1e-6)
        assert ig.completeness_gap < 1e-5


def test_riemann_and_trapezoid_converge_at_their_orders(smooth_net):
    model, img, target = smooth_net

    def gaps(method: str) -> list[float]:
        return [A.integrated_gradients(model, img, target, steps=s, method=method)
                .completeness_gap for s in (8, 16, 32, 64)]

    trap, right = gaps("trapezoid"), gaps("riemann_right")
    # both converge monotonically ...
    assert all(b < a for a, b in zip(trap, trap[1:], strict=False))
    assert all(b < a for a, b in zip(right, right[1:], strict=False))
    # ... trapezoid as 1/m^2 (x4 per doubling), a Riemann sum as 1/m (x2 per doubling)
    assert trap[0] / trap[-1] > 30
    assert 5 < right[0] / right[-1] < 12
    assert trap[-1] < right[-1] / 10
    gl = A.integrated_gradients(model, img, target, steps=16, method="gauss_legendre")
    assert gl.completeness_gap < trap[-1]


def test_steps_for_completeness_doubles_until_tol(smooth_net):
    model, img, target = smooth_net
    result = A.steps_for_completeness(model, img, target, tol=1e-3, start_steps=4)
    assert result.completeness_gap < 1e-3
    assert result.steps in (4, 8, 16, 32, 64, 128)
    half = A.integrated_gradients(model, img, target, steps=result.steps // 2)
    assert half.completeness_gap >= 1e-3  # the previous doubling was not enough
    # the incremental trapezoid equals a direct computation at the same steps
    direct = A.integrated_gradients(model, img, target, steps=result.steps)
    np.testing.assert_allclose(result.attributions, direct.attributions, rtol=1e-6, atol=1e-9)


def test_steps_for_completeness_raises_with_advice(smooth_net):
    model, img, target = smooth_net
    with pytest.raises(PipelineError, match="max_steps"):
        A.steps_for_completeness(model, img, target, tol=1e-9, start_steps=2, max_steps=4,
                                 method="riemann_right")


def test_double_steps_until_complete_stops_at_the_first_step_count_within_tol():
    gaps = {2: 0.5, 4: 0.2, 8: 0.05, 16: 0.01}
    asked: list[int] = []

    def evaluate(steps: int) -> tuple[str, float]:
        asked.append(steps)
        return f"result at {steps}", gaps[steps]

    def give_up(tried: str) -> PipelineError:
        return PipelineError(f"gave up after {tried}")

    got = A.double_steps_until_complete(evaluate, start_steps=2, max_steps=64, tol=0.1,
                                        give_up=give_up)
    assert got == "result at 8" and asked == [2, 4, 8]
    asked.clear()
    with pytest.raises(PipelineError, match=r"gave up after 2: 50.00%, 4: 20.00%$"):
        A.double_steps_until_complete(evaluate, start_steps=2, max_steps=7, tol=0.1,
                                      give_up=give_up)
    assert asked == [2, 4]  # 8 steps would pass max_steps=7: never evaluated


def test_ig_attributions_vanish_outside_the_region(region_model, region_image):
    ig = A.integrated_gradients(region_model, region_image, 0, score="logit")
    outside = np.ones((H, W), bool)
    outside[REGION] = False
    assert np.abs(ig.attributions[outside]).max() == 0.0
    assert ig.attributions[RED].sum() > 0
    assert ig.completeness_gap < 0.01


def test_interior_gradients_show_saturation(relu_net):
    model, img, target = relu_net
    alphas, grads, scores = A.interior_gradients(model, img, target)
    assert alphas.shape == (10,) and grads.shape == (10, *img.shape) and scores.shape == (10,)
    assert alphas[-1] == 1.0
    assert scores[-1] == pytest.approx(float(model.predict(img[None], verbose=0)[0, target]),
                                       rel=1e-5)
    res = A.interior_gradients(model, img, target, alphas=[0.5])
    assert res.gradients.shape == (1, *img.shape)


# ----------------------------------------------------------------------------- region model


def test_score_depends_only_on_region(region_model, region_image):
    probe = region_image.copy()
    outside = np.ones((H, W), bool)
    outside[REGION] = False
    probe[outside] = np.random.default_rng(0).uniform(0, 1, (int(outside.sum()), 3))
    p = region_model.predict(np.stack([region_image, probe]), verbose=0)
    np.testing.assert_allclose(p[0], p[1], rtol=1e-6)
    assert p[0, 0] > 0.7


def test_maps_peak_in_the_region(region_model, region_image):
    sal = A.vanilla_saliency(region_model, region_image, 0)
    occ = A.occlusion_map(region_model, region_image, 0, patch=4, stride=2)
    cam = A.grad_cam(region_model, region_image, 0)
    sg = A.smoothgrad(region_model, region_image, 0, n=8, noise=0.05)
    for name, m in {"saliency": sal, "occlusion": occ, "grad_cam": cam, "smoothgrad": sg}.items():
        assert m.shape == (H, W), name
        assert _in_region(_argmax2d(m)), (name, _argmax2d(m))
    outside = np.ones((H, W), bool)
    outside[REGION] = False
    assert sal[outside].max() == 0.0
    # a pixel gets a drop only from patches (4 wide) that also overlap the region
    far = np.ones((H, W), bool)
    rows = slice(max(0, REGION[0].start - 3), REGION[0].stop + 3)
    far[rows, max(0, REGION[1].start - 3) : REGION[1].stop + 3] = False
    assert np.abs(occ[far]).max() == pytest.approx(0.0, abs=1e-6)
    assert occ[RED].min() > 0


def test_masking_the_top_region_drops_the_score_more_than_random(region_model, region_image):
    for heat in (A.occlusion_map(region_model, region_image, 0, patch=4, stride=2),
                 A.vanilla_saliency(region_model, region_image, 0)):
        top, rnd = A.mask_region_score_drop(region_model, region_image, 0, heat, fraction=0.06)
        assert top > 0.1
        assert top > rnd + 0.1
    with pytest.raises(PipelineError, match="heatmap has shape"):
        A.mask_region_score_drop(region_model, region_image, 0, np.zeros((4, 4)))


def test_grad_cam_range_and_dependence_on_target(region_model, region_image):
    cam0 = A.grad_cam(region_model, region_image, 0)
    cam1 = A.grad_cam(region_model, region_image, 1)
    for cam in (cam0, cam1):
        assert cam.shape == (H, W)
        assert cam.min() >= 0.0 and cam.max() == pytest.approx(1.0)
    assert not np.allclose(cam0, cam1)
    # class 1's channel fires on the green square; Grad-CAM weights channels, not positions
    assert _in_region(_argmax2d(cam1), GREEN)
    assert A.last_conv_layer(region_model) == "color"


def test_grad_cam_upsamples_a_coarse_layer(relu_net):
    model, img, target = relu_net
    cam = A.grad_cam(model, img, target)  # last_conv is 4x4; the image is 12x12
    assert cam.shape == img.shape[:2]
    assert 0.0 <= cam.min() and cam.max() == pytest.approx(1.0)
    assert A.last_conv_layer(model) == "last_conv"


def test_grad_cam_errors_name_the_layer(region_model, region_image):
    with pytest.raises(PipelineError, match="'flat'.*not a 4-D"):
        A.grad_cam(region_model, region_image, 0, layer="flat")
    with pytest.raises(PipelineError, match="Did you mean 'color'"):
        A.grad_cam(region_model, region_image, 0, layer="colour")


def test_smoothgrad_is_deterministic_with_a_seed(region_model, region_image):
    a = A.smoothgrad(region_model, region_image, 0, n=6, seed=1, batch_size=4)
    b = A.smoothgrad(region_model, region_image, 0, n=6, seed=1, batch_size=4)
    c = A.smoothgrad(region_model, region_image, 0, n=6, seed=2, batch_size=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_occlusion_map_is_computed_from_the_model(region_model, region_image):
    patch = 4
    occ = A.occlusion_map(region_model, region_image, 0, patch=patch, stride=patch, fill=0.0)
    # with stride == patch every pixel is covered once: its value is that patch's drop
    occluded = region_image.copy()
    occluded[4:8, 12:16] = 0.0
    p = region_model.predict(np.stack([region_image, occluded]), verbose=0)[:, 0]
    assert occ[5, 13] == pytest.approx(p[0] - p[1], rel=1e-5)
    with pytest.raises(PipelineError, match="fill"):
        A.occlusion_map(region_model, region_image, 0, fill="median")


# ----------------------------------------------------------------------------- logit & errors


def test_logit_score_is_the_pre_softmax_value(region_model, region_image):
    sal_logit = A.interior_gradients(region_model, region_image, 0, alphas=[1.0], score="logit")
    dense = region_model.get_layer("head").get_weights()[0]
    act = np.maximum(region_image @ np.array([[1, -1], [-1, 1], [-1, -1]], np.float32), 0)
    logit0 = float(act.reshape(-1) @ dense[:, 0])
    assert sal_logit.scores[0] == pytest.approx(logit0, rel=1e-5)
    # the user's model is untouched
    assert region_model.get_layer("head").activation.__name__ == "softmax"


def test_user_errors_are_pipeline_errors(region_model, region_image):
    with pytest.raises(PipelineError, match="out of range"):
        A.vanilla_saliency(region_model, region_image, 5)
    with pytest.raises(PipelineError, match="score="):
        A.vanilla_saliency(region_model, region_image, 0, score="softmax")
    with pytest.raises(PipelineError, match="expects"):
        A.vanilla_saliency(region_model, region_image[:8], 0)
    with pytest.raises(PipelineError, match="method="):
        A.integrated_gradients(region_model, region_image, 0, method="simpson")
    with pytest.raises(PipelineError, match="baseline"):
        A.integrated_gradients(region_model, region_image, 0, baseline=np.zeros((2, 2, 3)))


# ----------------------------------------------------------------------------- display


def test_attribution_to_heatmap_and_overlay():
    rng = np.random.default_rng(0)
    attr = rng.normal(size=(40, 50, 3))
    attr[0, 0] = 1e6  # one outlier must not take the whole colour range
    heat = A.attribution_to_heatmap(attr)
    assert heat.shape == (40, 50) and heat.min() >= 0 and heat.max() == 1.0
    assert np.median(heat) > 0.2
    assert not A.attribution_to_heatmap(np.zeros((4, 4, 3))).any()

    heat = heat[:8, :10]
    img = rng.uniform(0, 1, (8, 10, 3))
    out = A.overlay(img, heat, cmap="inferno", alpha=0.4)
    assert out.dtype == np.uint8 and out.shape == (8, 10, 3)
    np.testing.assert_array_equal(A.overlay(img, heat, alpha=0.0), np.round(img * 255))
    small = A.overlay((img * 255).astype(np.uint8), np.ones((4, 5)), alpha=1.0)
    assert small.shape == (8, 10, 3)  # a coarse map is resized to the image
    gray = A.overlay(img[..., 0], heat)
    assert gray.shape == (8, 10, 3)
    with pytest.raises(PipelineError, match="cmap"):
        A.overlay(img, heat, cmap="no-such-map")


def test_plot_attributions_builds_a_figure_without_pyplot():
    import matplotlib

    before = dict(matplotlib.rcParams)
    img = np.random.default_rng(0).uniform(0, 1, (8, 8, 3))
    fig = A.plot_attributions(img, {"ig": np.random.default_rng(1).normal(size=(8, 8, 3)),
                                    "cam": np.ones((8, 8)) * 0.5}, title="t")
    assert [ax.get_title() for ax in fig.axes] == ["image", "ig", "cam"]
    assert dict(matplotlib.rcParams) == before
    with pytest.raises(PipelineError):
        A.plot_attributions(img, {})


def _tiny_seq(*head):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(3, 3, activation="relu"),
                             keras.layers.Flatten(), *head])


@pytest.mark.parametrize(
    "head",
    [
        lambda: [keras.layers.Dense(4, activation="softmax", name="d")],
        lambda: [keras.layers.Dense(4, name="d"), keras.layers.Activation("softmax")],
        lambda: [keras.layers.Dense(4, name="d"), keras.layers.Softmax()],
        lambda: [keras.layers.Dense(1, activation="sigmoid", name="d")],
        lambda: [keras.layers.Dense(3, name="d")],
    ],
    ids=["dense-softmax", "activation-layer", "softmax-layer", "sigmoid", "linear"],
)
def test_logit_for_each_kind_of_last_layer(head):
    model = _tiny_seq(*head())
    x = np.random.default_rng(0).uniform(0, 1, (6, 6, 2)).astype(np.float32)
    hidden = keras.Model(model.inputs, model.layers[1].output).predict(x[None], verbose=0)
    kernel, bias = model.get_layer("d").get_weights()
    logit = float((hidden @ kernel + bias)[0, 0])
    got = A.interior_gradients(model, x, 0, alphas=[1.0], score="logit").scores[0]
    assert got == pytest.approx(logit, rel=1e-5, abs=1e-6)
    prob = A.interior_gradients(model, x, 0, alphas=[1.0]).scores[0]
    assert prob == pytest.approx(float(model.predict(x[None], verbose=0)[0, 0]), rel=1e-5)


def test_subclassed_model_probability_only():
    class Tiny(keras.Model):
        def __init__(self):
            super().__init__(name="tiny")
            self.flat = keras.layers.Flatten()
            self.dense = keras.layers.Dense(2, activation="softmax")

        def call(self, x):
            return self.dense(self.flat(x))

    model = Tiny()
    x = np.random.default_rng(0).uniform(0, 1, (4, 4, 3)).astype(np.float32)
    model(x[None])
    ig = A.integrated_gradients(model, x, 1)
    assert ig.completeness_gap < 0.01
    with pytest.raises(PipelineError, match="score='logit' needs the graph"):
        A.vanilla_saliency(model, x, 0)
    with pytest.raises(PipelineError, match="out of range"):
        A.vanilla_saliency(model, x, 2, score="probability")


def _mobilenet_like(classes: int = 4):
    """MobileNet v1's head in miniature: convs, global pooling, Reshape(1, 1, C), 1x1 conv."""
    inp = keras.Input((H, W, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv_a")(inp)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv_b")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Reshape((1, 1, 8), name="reshape_1")(x)
    x = keras.layers.Conv2D(classes, 1, name="conv_preds")(x)  # after pooling: a 1x1 "map"
    x = keras.layers.Reshape((classes,), name="reshape_2")(x)
    out = keras.layers.Activation("softmax", name="predictions")(x)
    return keras.Model(inp, out, name="mobilenet_like")


def test_last_conv_layer_skips_1x1_convs_after_global_pooling():
    keras.utils.set_random_seed(3)
    model = _mobilenet_like()
    assert A.last_conv_layer(model) == "conv_b"  # not conv_preds, whose output is (1, 1, 4)
    x = np.random.default_rng(3).uniform(0, 1, (H, W, 3)).astype(np.float32)
    target = int(model.predict(x[None], verbose=0)[0].argmax())
    cam = A.grad_cam(model, x, target)
    # the default is the 8x8 map of conv_b: the same map as asking for it, and not constant
    np.testing.assert_allclose(cam, A.grad_cam(model, x, target, layer="conv_b"))
    assert cam.max() == pytest.approx(1.0) and cam.min() < 0.99


def test_grad_cam_needs_a_map_larger_than_1x1():
    inp = keras.Input((1, 1, 3))
    out = keras.layers.Conv2D(2, 1, activation="softmax", name="only_1x1")(inp)
    model = keras.Model(inp, keras.layers.Reshape((2,))(out))
    with pytest.raises(PipelineError, match=r"larger than 1x1.*'only_1x1'"):
        A.last_conv_layer(model)


@pytest.mark.slow
def test_mobilenet_grad_cam_uses_the_last_spatial_convolution():
    model = keras.applications.MobileNet(alpha=0.25, input_shape=(128, 128, 3), weights=None)
    assert "conv_preds" in [layer.name for layer in model.layers]
    assert A.last_conv_layer(model) == "conv_pw_13"  # 4x4 at 128x128, before global pooling


@pytest.mark.slow
def test_vgg16_grad_cam_and_logits_without_weights():
    model = keras.applications.VGG16(weights=None)
    x = np.random.default_rng(0).uniform(0, 255, (224, 224, 3)).astype(np.float32)
    assert A.last_conv_layer(model) == "block5_conv3"
    cam = A.grad_cam(model, x, 281)
    assert cam.shape == (224, 224) and 0.0 <= cam.min() and cam.max() <= 1.0
    sal = A.vanilla_saliency(model, x, 281)
    assert sal.shape == (224, 224)


@pytest.fixture(scope="module")
def trained_net():
    """A conv net trained (about 2 s) to tell a red square (class 0) from a green one (1)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 600
    x = rng.uniform(0, 0.3, (n, 16, 16, 3)).astype(np.float32)
    y = rng.integers(0, 2, n)
    pos = rng.integers(0, 12, (n, 2))
    for i in range(n):
        r, c = pos[i]
        x[i, r : r + 4, c : c + 4, y[i]] = 1.0
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(8, 3, activation="relu", padding="same"),
            keras.layers.Conv2D(8, 3, activation="relu", padding="same", name="c2"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    # Initial weights from numpy (He-normal kernels, zero biases), so every Keras backend trains
    # the same network (their random initialisers differ).
    init = np.random.default_rng(6)  # a seed whose black image is clearly class 1
    model.set_weights([
        init.normal(0, np.sqrt(2 / np.prod(w.shape[:-1])), w.shape).astype(np.float32)
        if w.ndim > 1 else np.zeros(w.shape, np.float32)
        for w in model.get_weights()
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0, shuffle=False)
    assert history.history["accuracy"][-1] > 0.95
    return model, x, y, pos


def test_trained_net_completeness_localisation_and_masking(trained_net):
    model, x, y, pos = trained_net
    reds = [i for i in range(40) if y[i] == 0][:5]  # class 0: far from the black baseline
    hits = 0
    for i in reds:
        ig = A.integrated_gradients(model, x[i], 0)
        assert ig.delta > 0.5
        assert ig.completeness_gap < 0.01
        heat = A.attribution_to_heatmap(ig.attributions)
        top, rnd = A.mask_region_score_drop(model, x[i], 0, heat, fraction=0.06)
        assert top > rnd + 0.2
        cam = A.grad_cam(model, x[i], 0)
        r, c = _argmax2d(cam)
        pr, pc = pos[i]
        hits += pr - 2 <= r < pr + 6 and pc - 2 <= c < pc + 6
    assert hits >= len(reds) - 1

"""Gradient and perturbation maps: vanilla saliency (Simonyan et al. 2013), SmoothGrad (Smilkov
et al. 2017), Grad-CAM (Selvaraju et al. 2017), occlusion (Zeiler and Fergus 2014), and the
masking check that a map points at pixels the model uses.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from pipeline.library.attribution.scoring import (
    ScoreKind,
    as_image,
    as_numpy,
    as_tensor,
    check_positive,
    check_target,
    class_count,
    first_output,
    forward_scores,
    model_inputs,
    score_gradients,
    score_tensor,
    scoring_model,
)
from pipeline.library.errors import PipelineError
from pipeline.library.inspection import find_layer

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras

log = logging.getLogger(__name__)


class ScoreDrop(NamedTuple):
    """How much the class score fell when the top-attributed / random pixels were masked."""

    drop_top: float
    drop_random: float


def vanilla_saliency(
    model: keras.Model,
    image: np.ndarray,
    target: int,
    score: ScoreKind = "logit",
) -> np.ndarray:
    """Saliency map ``max_c |df/dx|`` (Simonyan et al. 2013), shape ``(H, W)``.

    The maximum over colour channels follows the paper: a pixel matters if any of its channels
    does. The default score is the logit, as in the paper: the gradient of a confident softmax
    probability is nearly zero everywhere (saturation), which leaves only noise.
    """
    x = as_image(model, image)
    score_model = scoring_model(model, score)
    target = check_target(target, class_count(model, x), model)
    _, g = score_gradients(score_model, x[None], target, 1)
    return np.abs(g[0]).max(axis=-1)


def smoothgrad(
    model: keras.Model,
    image: np.ndarray,
    target: int,
    n: int = 25,
    noise: float = 0.15,
    seed: int | None = 0,
    batch_size: int = 32,
    score: ScoreKind = "logit",
) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): the saliency map averaged over ``n`` noisy copies.

    ``noise`` is the paper's noise level ``sigma / (x_max - x_min)``, so the same value works for
    images scaled to [0, 1] or [0, 255]. A fixed ``seed`` makes the map reproducible, which a
    cached build needs; ``seed=None`` draws fresh noise.
    """
    n = check_positive("n", n)
    batch_size = check_positive("batch_size", batch_size)
    if not noise >= 0:
        raise PipelineError(f"noise must be >= 0 (a fraction of the image's range), got {noise!r}.")
    x = as_image(model, image)
    span = float(x.max() - x.min())
    sigma = noise * span if span > 0 else float(noise)
    rng = np.random.default_rng(seed)
    score_model = scoring_model(model, score)
    target = check_target(target, class_count(model, x), model)
    acc = np.zeros(x.shape[:2], dtype=np.float64)
    for start in range(0, n, batch_size):
        k = min(batch_size, n - start)
        batch = x[None] + rng.normal(0.0, sigma, size=(k, *x.shape)).astype(np.float32)
        _, g = score_gradients(score_model, batch, target, batch_size)
        acc += np.abs(g).max(axis=-1).sum(axis=0)
    return acc / n


_CONV_CLASSES = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")


def _output_rank(layer: Any) -> int | None:
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def _spatial_size(layer: Any) -> tuple[Any, Any] | None:
    """``(H, W)`` of a 4-D layer output (``None`` entries when the size is not fixed)."""
    try:
        shape = tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None
    if len(shape) != 4:
        return None
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return shape[2], shape[3]
    return shape[1], shape[2]


def _has_spatial_extent(layer: Any) -> bool:
    """True unless the layer's map is 1x1: a variable (``None``) size counts as spatial."""
    size = _spatial_size(layer)
    if size is None:
        return False
    return any(d is None or int(d) > 1 for d in size)


def last_conv_layer(model: keras.Model) -> str:
    """Name of the layer :func:`grad_cam` uses by default.

    The last convolution whose ``(batch, H, W, C)`` output is still a spatial map (larger than
    1x1) keeps the finest map that still carries class-specific features (pooling after it only
    coarsens the map). Layers after global pooling are skipped even when they are convolutions:
    MobileNet's classifier is a 1x1 convolution (``conv_preds``) on a ``(1, 1, C)`` reshape of
    the pooled features, and a Grad-CAM there is one number, not a map. When the model has no
    such convolution, the last layer with a spatial 4-D output is used.
    """
    candidates = [
        layer
        for layer in model.layers
        if layer.__class__.__name__ != "InputLayer" and _output_rank(layer) == 4
    ]
    spatial = [c for c in candidates if _has_spatial_extent(c)]
    if not spatial:
        found = (f" (only 1x1 maps: {', '.join(repr(c.name) for c in candidates)})"
                 if candidates else "")
        raise PipelineError(
            f"grad_cam: model {model.name!r} has no layer with a spatial 4-D (batch, H, W, C) "
            f"output larger than 1x1{found}; Grad-CAM needs a convolutional feature map. Use "
            "integrated_gradients or occlusion_map instead."
        )
    convs = [c for c in spatial if c.__class__.__name__ in _CONV_CLASSES]
    return (convs or spatial)[-1].name


def _feature_map_gradient(
    model: keras.Model, cam_model: keras.Model, chosen: Any, score: str, x: np.ndarray,
    target: int,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The layer's output for one image and the target score's gradient with respect to it.

    TensorFlow watches the inner tensor with a ``GradientTape`` (the reference numbers). The
    other backends differentiate the network's head, rebuilt as a model from the layer's output
    to the score: this needs every path to the score to pass through that layer (true for the
    plain stacks Grad-CAM is used on).
    """
    import keras

    from pipeline.library import backends

    if backends.name() == "tensorflow":
        import tensorflow as tf

        xt = tf.convert_to_tensor(x[None], dtype=tf.float32)
        with tf.GradientTape() as tape:
            # Watching the input records every op even when the model's weights are frozen.
            tape.watch(xt)
            scores, fmap = cam_model(xt, training=False)
            s = scores[:, target]
        grads = tape.gradient(s, fmap)
        return np.asarray(fmap), (None if grads is None else np.asarray(grads))
    _, fmap = cam_model(as_tensor(x[None]), training=False)
    try:
        head = keras.Model(chosen.output, score_tensor(model, score))
    except ValueError as exc:
        raise PipelineError(
            f"grad_cam: on the {backends.name()} backend the score must depend on the input only "
            f"through layer {chosen.name!r} ({exc}); pick a later layer or use TensorFlow."
        ) from exc
    fmap_np = as_numpy(fmap, np.float32)
    _, g = backends.current().input_gradients(
        lambda f: first_output(head(f, training=False))[:, target], fmap_np
    )
    return fmap_np, g


def grad_cam(
    model: keras.Model,
    image: np.ndarray,
    target: int,
    layer: str | int | None = None,
    score: ScoreKind = "logit",
) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017): a coarse ``(H, W)`` map in [0, 1] of class evidence.

    Each channel ``A_k`` of the chosen conv layer is weighted by the spatial mean of the score's
    gradient, ``alpha_k = mean_ij df/dA_k``, and ``ReLU(sum_k alpha_k A_k)`` keeps only the
    evidence *for* the class. The map is bilinearly resized to the image and divided by its
    maximum (all zeros when nothing supports the class). The default score is the logit, as in
    the paper: a saturated probability has near-zero gradients.
    """
    import keras

    x = as_image(model, image)
    model_inputs(model)  # Grad-CAM reads an inner layer: the model needs a graph
    name = last_conv_layer(model) if layer is None else layer
    chosen = find_layer(model, name)
    name = chosen.name
    rank = _output_rank(chosen)
    if rank != 4:
        shape = None
        try:
            shape = tuple(chosen.output.shape)
        except (AttributeError, ValueError):
            pass
        raise PipelineError(
            f"grad_cam: layer {name!r} ({chosen.__class__.__name__}) outputs shape {shape}, not a "
            f"4-D (batch, H, W, C) feature map. Pick a convolution layer, e.g. "
            f"{last_conv_layer(model)!r}."
        )
    if not _has_spatial_extent(chosen):
        log.warning("grad_cam: layer %r outputs a 1x1 map, so the Grad-CAM is one value "
                    "spread over the image; pick a layer before global pooling", name)
    cam_model = scoring_model(model, score, extra=[chosen.output])
    target = check_target(target, class_count(model, x), model)
    fmap, grads = _feature_map_gradient(model, cam_model, chosen, score, x, target)
    if grads is None:
        raise PipelineError(
            f"grad_cam: the score does not depend on layer {name!r}; pick a layer on the path to "
            "the output."
        )
    fm = np.asarray(fmap[0], dtype=np.float64)
    weights = np.asarray(grads[0], dtype=np.float64).mean(axis=(0, 1))
    cam = np.maximum(fm @ weights, 0.0)
    resized = keras.ops.image.resize(
        cam[None, ..., None].astype(np.float32), x.shape[:2], interpolation="bilinear"
    )
    cam_full = np.maximum(as_numpy(resized[0, ..., 0], np.float64), 0.0)
    peak = cam_full.max()
    if peak <= 0:
        log.warning("grad_cam: no positive evidence for class %d at layer %r", target, name)
        return np.zeros(x.shape[:2])
    return cam_full / peak


def _fill_value(image: np.ndarray, fill: str | float) -> np.ndarray:
    if isinstance(fill, str):
        if fill != "mean":
            raise PipelineError(f"fill={fill!r} is not known; use 'mean' or a number.")
        return image.mean(axis=(0, 1), keepdims=True)
    return np.full((1, 1, image.shape[-1]), float(fill), dtype=np.float32)


def _pair(value: int | tuple[int, int], name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    if len(value) != 2:
        raise PipelineError(f"{name} must be an int or a (height, width) pair, got {value!r}.")
    return (check_positive(name, value[0]), check_positive(name, value[1]))


def _starts(size: int, patch: int, stride: int) -> list[int]:
    """Patch origins along one axis, always including one flush with the far edge."""
    starts = list(range(0, max(size - patch, 0) + 1, stride))
    if starts[-1] != max(size - patch, 0):
        starts.append(max(size - patch, 0))
    return starts


def occlusion_map(
    model: keras.Model,
    image: np.ndarray,
    target: int,
    patch: int | tuple[int, int] | None = None,
    stride: int | tuple[int, int] | None = None,
    fill: str | float = "mean",
    batch_size: int = 64,
    score: ScoreKind = "probability",
) -> np.ndarray:
    """Occlusion sensitivity (Zeiler and Fergus 2014): the score drop when a patch is masked.

    A patch of ``fill`` (the image's per-channel mean by default, so the patch adds no new
    colour) slides over the image; each pixel gets the mean drop ``f(x) - f(x_occluded)`` over
    the patches that covered it. Unlike gradient methods this needs only forward passes and
    cannot be fooled by saturation, at the cost of resolution. Defaults: ``patch`` is an eighth
    of the image side, ``stride`` half the patch.
    """
    batch_size = check_positive("batch_size", batch_size)
    x = as_image(model, image)
    h, w = x.shape[:2]
    ph, pw = _pair(patch if patch is not None else max(1, min(h, w) // 8), "patch")
    sh, sw = _pair(stride if stride is not None else (max(1, ph // 2), max(1, pw // 2)), "stride")
    ph, pw = min(ph, h), min(pw, w)
    value = _fill_value(x, fill)
    score_model = scoring_model(model, score)
    target = check_target(target, class_count(model, x), model)
    f_x = float(forward_scores(score_model, x[None], target, 1)[0])

    positions = [(i, j) for i in _starts(h, ph, sh) for j in _starts(w, pw, sw)]
    total = np.zeros((h, w), dtype=np.float64)
    counts = np.zeros((h, w), dtype=np.float64)
    for start in range(0, len(positions), batch_size):
        chunk = positions[start : start + batch_size]
        batch = np.repeat(x[None], len(chunk), axis=0)
        for k, (i, j) in enumerate(chunk):
            batch[k, i : i + ph, j : j + pw, :] = value
        drops = f_x - forward_scores(score_model, batch, target, batch_size)
        for (i, j), d in zip(chunk, drops, strict=True):
            total[i : i + ph, j : j + pw] += d
            counts[i : i + ph, j : j + pw] += 1
    log.debug("occlusion_map: %d patches of %dx%d", len(positions), ph, pw)
    return np.divide(total, counts, out=np.zeros_like(total), where=counts > 0)


def mask_region_score_drop(
    model: keras.Model,
    image: np.ndarray,
    target: int,
    heatmap: np.ndarray,
    fraction: float = 0.1,
    rng: np.random.Generator | int | None = None,
    n_random: int = 5,
    fill: str | float = "mean",
    score: ScoreKind = "probability",
) -> ScoreDrop:
    """Score drop when the top ``fraction`` of pixels by ``heatmap`` is masked, vs random pixels.

    A map that shows what the model uses should hurt the score more when its top pixels are
    masked than when the same number of random pixels are (a one-point "deletion" test). The
    random drop is averaged over ``n_random`` draws; ``rng=None`` means a fixed seed (0) so a
    build is reproducible.
    """
    n_random = check_positive("n_random", n_random)
    x = as_image(model, image)
    h, w = x.shape[:2]
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.shape != (h, w):
        raise PipelineError(
            f"heatmap has shape {heat.shape} but the image is {h}x{w}; pass an (H, W) map "
            "(e.g. attribution_to_heatmap(ig.attributions))."
        )
    if not 0 < fraction <= 1:
        raise PipelineError(f"fraction must be in (0, 1], got {fraction!r}.")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng or 0)
    k = max(1, int(round(fraction * h * w)))
    value = _fill_value(x, fill)
    flat = np.nan_to_num(heat.ravel(), nan=-np.inf)
    top = np.argsort(-flat, kind="stable")[:k]
    masks = [top] + [gen.choice(h * w, size=k, replace=False) for _ in range(n_random)]
    batch = np.repeat(x[None], len(masks) + 1, axis=0)
    for m, idx in enumerate(masks, start=1):
        rows, cols = np.unravel_index(idx, (h, w))
        batch[m, rows, cols, :] = value[0, 0]
    score_model = scoring_model(model, score)
    target = check_target(target, class_count(model, x), model)
    s = forward_scores(score_model, batch, target, len(batch))
    drops = s[0] - s[1:]
    return ScoreDrop(drop_top=float(drops[0]), drop_random=float(drops[1:].mean()))

"""Attribution methods for image classifiers: which pixels drove a prediction.

Seeds 003 (interior and integrated gradients on a CIFAR-10 all-convolutional net) and 004 (is a
VGG16 looking at the leopard or at the snow?) both ask "where did the model look?". This module
answers with the standard methods, all built the same way so a recipe stays short and a test can
check the numbers:

* every function takes a Keras model, one ``(H, W, C)`` float image and a target class index, and
  returns numpy arrays (or a small dataclass of them);
* the "score" ``f`` is the model's output for the target class. ``score="probability"`` uses the
  model's output as it is (a probability when the last activation is softmax or sigmoid);
  ``score="logit"`` uses the last layer's pre-activation value, obtained by rebuilding the last
  layer with a linear activation (the model itself is never modified).

Methods: :func:`vanilla_saliency` (Simonyan et al. 2013), :func:`smoothgrad` (Smilkov et al.
2017), :func:`interior_gradients` and :func:`integrated_gradients` (Sundararajan et al. 2017,
arXiv 1703.01365), :func:`grad_cam` (Selvaraju et al. 2017) and :func:`occlusion_map` (Zeiler and
Fergus 2014). :func:`mask_region_score_drop` is a sanity check that an attribution map points at
pixels the model actually uses; :func:`attribution_to_heatmap`, :func:`overlay` and
:func:`plot_attributions` turn the arrays into pictures.

TensorFlow and matplotlib are imported inside the functions: the build tool imports this package
to hash it and must not pay for (or be broken by) TensorFlow.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np

from pipeline.library.errors import PipelineError
from pipeline.library.inspection import find_layer

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

ScoreKind = Literal["probability", "logit"]
IGMethod = Literal["trapezoid", "riemann_left", "riemann_right", "riemann_middle", "gauss_legendre"]

SCORE_KINDS: tuple[str, ...] = ("probability", "logit")
IG_METHODS: tuple[str, ...] = (
    "trapezoid",
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "gauss_legendre",
)
DEFAULT_ALPHAS: tuple[float, ...] = (0.02, 0.04, 0.06, 0.08, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
_CONV_CLASSES = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # eq=False: fields hold arrays, whose == is elementwise
class IntegratedGradients:
    """Integrated gradients of one image for one class, with the numbers that make it checkable.

    Completeness (the paper's axiom) says ``attributions.sum() == f_x - f_baseline``; the
    relative ``completeness_gap`` tells how well the path integral was approximated, so a page
    can state it and a recipe can raise ``steps`` until it is small.
    """

    attributions: np.ndarray  # (H, W, C) float64
    f_x: float
    f_baseline: float
    completeness_gap: float
    steps: int
    method: str
    target: int
    score: str

    @property
    def delta(self) -> float:
        """``f_x - f_baseline``: what the attributions must add up to."""
        return self.f_x - self.f_baseline

    @property
    def total(self) -> float:
        """The sum of all attributions (compare with :attr:`delta`)."""
        return float(self.attributions.sum())


class InteriorGradients(NamedTuple):
    """Gradients at scaled inputs ``baseline + alpha * (image - baseline)``.

    A tuple so ``alphas, gradients, scores = interior_gradients(...)`` works; the ``scores``
    curve shows saturation: it flattens long before ``alpha = 1``, which is why the gradient at
    the image itself is small and noisy and the interior gradients are informative.
    """

    alphas: np.ndarray  # (n,)
    gradients: np.ndarray  # (n, H, W, C)
    scores: np.ndarray  # (n,)


class ScoreDrop(NamedTuple):
    """How much the class score fell when the top-attributed / random pixels were masked."""

    drop_top: float
    drop_random: float


# --------------------------------------------------------------------------------------------
# Model plumbing
# --------------------------------------------------------------------------------------------


def _tensor(batch: np.ndarray) -> Any:
    """A float32 tensor of the Keras backend in use."""
    import keras

    return keras.ops.convert_to_tensor(np.asarray(batch, dtype=np.float32), dtype="float32")


def _numpy(tensor: Any, dtype: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(tensor), dtype=dtype)


def _check_score(score: str) -> None:
    if score not in SCORE_KINDS:
        raise PipelineError(
            f"score={score!r} is not known; use 'probability' (the model's output) or 'logit' "
            "(the last layer's pre-activation value)."
        )


def _model_inputs(model: keras.Model) -> list[Any]:
    """The model's symbolic inputs; subclassed or unbuilt models have none."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError) as exc:  # unbuilt Sequential, subclassed model
        inputs = None
        detail = f" ({exc})"
    else:
        detail = ""
    if not inputs:
        raise PipelineError(
            f"model {model.name!r} has no symbolic inputs{detail}: build it with keras.Input "
            "(Sequential([keras.Input(shape), ...]) or the functional API) so its layers can be "
            "read."
        )
    if len(inputs) != 1:
        raise PipelineError(
            f"model {model.name!r} has {len(inputs)} inputs; attribution here supports "
            "single-input image classifiers."
        )
    return list(inputs)


def _single_output(model: keras.Model) -> Any:
    _model_inputs(model)
    outputs = model.outputs
    if len(outputs) != 1:
        raise PipelineError(
            f"model {model.name!r} has {len(outputs)} outputs; attribution needs one class-score "
            "output. Build a keras.Model(model.inputs, model.outputs[i]) for the head you want."
        )
    if len(outputs[0].shape) != 2:
        raise PipelineError(
            f"model {model.name!r} outputs shape {tuple(outputs[0].shape)}; attribution needs "
            "(batch, classes) class scores."
        )
    return outputs[0]


def _producing_layer(model: keras.Model, tensor: Any) -> Any:
    hist = getattr(tensor, "_keras_history", None)
    layer = getattr(hist, "operation", None)
    return layer if layer is not None else model.layers[-1]


def _score_tensor(model: keras.Model, score: str) -> Any:
    """The symbolic tensor whose ``[:, target]`` is the score, in the model's own graph.

    For ``"logit"`` the last layer is rebuilt from its config with ``activation="linear"`` and
    the original weights, applied to the original layer's input: this gives the pre-activation
    value without touching the user's model (swapping ``layer.activation`` in place would leak
    into training and is not thread-safe).
    """
    _check_score(score)
    if score == "logit" and not _has_graph(model):
        raise PipelineError(
            f"score='logit' needs the graph of model {model.name!r} to find the last layer's "
            "pre-activation, but it has no symbolic inputs (subclassed or unbuilt). Use "
            "score='probability', or build the model with keras.Input."
        )
    out = _single_output(model)
    if score == "probability":
        return out
    last = _producing_layer(model, out)
    activation = getattr(last, "activation", None)
    act_name = getattr(activation, "__name__", None)
    try:
        last_input = last.input
    except (AttributeError, ValueError) as exc:
        raise PipelineError(
            f"cannot find the input of the last layer {last.name!r} of model {model.name!r} "
            f"({exc}); use score='probability' or give the model a single-use last layer."
        ) from exc
    if last.__class__.__name__ == "Softmax":
        return last_input
    if activation is None:
        raise PipelineError(
            f"score='logit': the last layer {last.name!r} ({last.__class__.__name__}) has no "
            "activation to remove. Use score='probability', or end the model with a Dense / "
            "Activation / Softmax layer."
        )
    if act_name == "linear":
        return out  # the output already is the pre-activation value
    config = dict(last.get_config())
    config["activation"] = "linear"
    config["name"] = f"{last.name}_logits"
    clone = last.__class__.from_config(config)
    logits = clone(last_input)
    clone.set_weights(last.get_weights())
    log.debug("score='logit': rebuilt %r with a linear activation", last.name)
    return logits


def _score_model(model: keras.Model, score: str, extra: Sequence[Any] = ()) -> keras.Model:
    """A model returning the score tensor (and any extra tensors, e.g. a conv layer's output)."""
    import keras

    _check_score(score)
    if score == "probability" and not extra:
        if _has_graph(model):
            _single_output(model)
        return model  # no rebuilding: works for subclassed models too
    tensor = _score_tensor(model, score)
    outputs = [tensor, *extra] if extra else tensor
    return keras.Model(_model_inputs(model), outputs, name=f"{model.name}_{score}")


def _as_image(model: keras.Model, image: Any, what: str = "image") -> np.ndarray:
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3:
        raise PipelineError(
            f"{what} must be one (H, W, C) image, got shape {arr.shape}; pass image[i] rather "
            "than a batch."
        )
    try:
        expected = tuple(model.inputs[0].shape[1:])
    except (AttributeError, ValueError, IndexError):
        expected = ()
    if expected and len(expected) == 3:
        for got, want in zip(arr.shape, expected, strict=True):
            if want is not None and got != want:
                raise PipelineError(
                    f"{what} has shape {arr.shape} but model {model.name!r} expects "
                    f"{tuple(expected)} (None = any size); resize the image first."
                )
    if not np.all(np.isfinite(arr)):
        raise PipelineError(f"{what} contains NaN or infinite values; clean it before attributing.")
    return arr


def _baseline(image: np.ndarray, baseline: Any) -> np.ndarray:
    if baseline is None:
        return np.zeros_like(image)
    if np.isscalar(baseline):
        return np.full_like(image, float(baseline))  # type: ignore[arg-type]  # a real scalar
    base = np.asarray(baseline, dtype=np.float32)
    if base.shape != image.shape:
        raise PipelineError(
            f"baseline has shape {base.shape} but the image has {image.shape}; pass None "
            "(black), a number, or an array shaped like the image."
        )
    return base


def _check_target(target: int, n_classes: int, model: keras.Model) -> int:
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise PipelineError(f"target must be a class index (int), got {target!r}.")
    if not 0 <= int(target) < n_classes:
        raise PipelineError(
            f"target={target} is out of range: model {model.name!r} has {n_classes} class "
            f"outputs (0..{n_classes - 1})."
        )
    return int(target)


def _has_graph(model: keras.Model) -> bool:
    """Whether the model has symbolic inputs (Sequential with Input, functional)."""
    try:
        return bool(model.inputs)
    except (AttributeError, ValueError):
        return False


def _n_classes(model: keras.Model, image: np.ndarray) -> int:
    """Number of class scores; a subclassed model (no graph) is asked with one forward pass."""
    if _has_graph(model):
        return int(_single_output(model).shape[-1])
    out = _first(model(_tensor(image[None]), training=False))
    if len(out.shape) != 2:
        raise PipelineError(
            f"model {model.name!r} outputs shape {tuple(out.shape)}; attribution needs "
            "(batch, classes) class scores."
        )
    return int(out.shape[-1])


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, (list, tuple)) else out


def _scores(
    score_model: keras.Model, batch: np.ndarray, target: int, batch_size: int
) -> np.ndarray:
    """Forward passes only (occlusion, masking), in chunks to bound memory."""
    out = []
    for start in range(0, len(batch), batch_size):
        chunk = _tensor(batch[start : start + batch_size])
        pred = _first(score_model(chunk, training=False))
        out.append(_numpy(pred[:, target], np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def _grads(
    score_model: keras.Model, batch: np.ndarray, target: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(n,)`` and input gradients ``(n, H, W, C)`` of the target score.

    The gradient of the batch's summed score is each sample's own gradient because samples do
    not interact at inference time (``training=False`` freezes batch-norm statistics).
    """
    from pipeline.library import backends

    backend = backends.current()
    scores, grads = [], []

    def target_score(x: Any) -> Any:
        return _first(score_model(x, training=False))[:, target]

    for start in range(0, len(batch), batch_size):
        s, g = backend.input_gradients(target_score, batch[start : start + batch_size])
        if g is None:
            raise PipelineError(
                f"the score of model {score_model.name!r} does not depend on its input (no "
                "gradient); check that the model is differentiable (no argmax / casts)."
            )
        scores.append(np.asarray(s, dtype=np.float64))
        grads.append(np.asarray(g, dtype=np.float32))
    return np.concatenate(scores), np.concatenate(grads)


def _check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise PipelineError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------------------------
# Gradient methods
# --------------------------------------------------------------------------------------------


def _ig_nodes(steps: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature nodes ``alpha`` in [0, 1] and weights for the path integral."""
    m = steps
    if method == "trapezoid":
        alphas = np.arange(m + 1) / m
        weights = np.full(m + 1, 1.0 / m)
        weights[[0, -1]] *= 0.5
    elif method == "riemann_right":
        alphas, weights = np.arange(1, m + 1) / m, np.full(m, 1.0 / m)
    elif method == "riemann_left":
        alphas, weights = np.arange(m) / m, np.full(m, 1.0 / m)
    elif method == "riemann_middle":
        alphas, weights = (np.arange(m) + 0.5) / m, np.full(m, 1.0 / m)
    elif method == "gauss_legendre":
        nodes, w = np.polynomial.legendre.leggauss(m)
        alphas, weights = (nodes + 1.0) / 2.0, w / 2.0
    else:
        raise PipelineError(f"method={method!r} is not known; use one of {', '.join(IG_METHODS)}.")
    return alphas, weights


def _gap(total: float, delta: float) -> float:
    """Relative completeness gap; undefined (inf) when the baseline scores like the image."""
    if delta == 0.0:
        return 0.0 if total == 0.0 else math.inf
    return abs(total - delta) / abs(delta)


def _weighted_path_sum(
    score_model: keras.Model,
    image: np.ndarray,
    base: np.ndarray,
    target: int,
    alphas: np.ndarray,
    weights: np.ndarray,
    batch_size: int,
) -> np.ndarray:
    """``sum_k weights[k] * grad f(base + alphas[k] (image - base))`` in float64, in chunks."""
    diff = image - base
    acc = np.zeros(image.shape, dtype=np.float64)
    for start in range(0, len(alphas), batch_size):
        a = alphas[start : start + batch_size].astype(np.float32)
        batch = base[None] + a[:, None, None, None] * diff[None]
        _, g = _grads(score_model, batch, target, batch_size)
        acc += np.tensordot(weights[start : start + batch_size], g.astype(np.float64), axes=1)
    return acc


def _endpoint_scores(
    score_model: keras.Model, image: np.ndarray, base: np.ndarray, target: int
) -> tuple[float, float]:
    s = _scores(score_model, np.stack([image, base]), target, 2)
    return float(s[0]), float(s[1])


def _ig_result(
    image: np.ndarray,
    base: np.ndarray,
    path_sum: np.ndarray,
    f_x: float,
    f_b: float,
    steps: int,
    method: str,
    target: int,
    score: str,
) -> IntegratedGradients:
    attributions = (image.astype(np.float64) - base.astype(np.float64)) * path_sum
    gap = _gap(float(attributions.sum()), f_x - f_b)
    if math.isinf(gap):
        log.warning(
            "integrated_gradients: the baseline scores like the image (f_x == f_baseline = %g); "
            "completeness is undefined. Choose another baseline.",
            f_x,
        )
    return IntegratedGradients(
        attributions=attributions,
        f_x=f_x,
        f_baseline=f_b,
        completeness_gap=gap,
        steps=steps,
        method=method,
        target=target,
        score=score,
    )


def integrated_gradients(
    model: keras.Model,
    image: np.ndarray,
    target: int,
    baseline: np.ndarray | float | None = None,
    steps: int = 64,
    batch_size: int = 32,
    method: IGMethod = "trapezoid",
    score: ScoreKind = "probability",
) -> IntegratedGradients:
    """Integrated gradients (Sundararajan et al. 2017) of ``image`` for class ``target``.

    ``IG_i = (x_i - x'_i) * integral_0^1 df/dx_i(x' + a (x - x')) da``, approximated with
    ``steps`` intervals of the chosen quadrature. The trapezoid rule is the default because its
    error falls as ``1/steps**2`` against ``1/steps`` for a Riemann sum, so the same completeness
    needs far fewer gradient evaluations. ``baseline=None`` is a black image (all zeros), the
    paper's choice for images; a number means a constant image.

    With a black baseline and zero biases (an untrained ReLU net) the gradient at the baseline
    itself is exactly zero (``relu'(0) = 0``), which costs the trapezoid and left Riemann rules
    an error of ``1 / (2 steps)``; ``"riemann_middle"`` and ``"gauss_legendre"`` never evaluate
    the end points and avoid it.

    The result carries ``f_x``, ``f_baseline`` and the relative ``completeness_gap``; use
    :func:`steps_for_completeness` to pick ``steps`` from a tolerance instead of guessing.
    """
    steps = _check_positive("steps", steps)
    batch_size = _check_positive("batch_size", batch_size)
    x = _as_image(model, image)
    base = _baseline(x, baseline)
    alphas, weights = _ig_nodes(steps, method)
    score_model = _score_model(model, score)
    target = _check_target(target, _n_classes(model, x), model)
    path_sum = _weighted_path_sum(score_model, x, base, target, alphas, weights, batch_size)
    f_x, f_b = _endpoint_scores(score_model, x, base, target)
    result = _ig_result(x, base, path_sum, f_x, f_b, steps, method, target, score)
    log.debug(
        "integrated_gradients: target=%d steps=%d method=%s gap=%.3g",
        target,
        steps,
        method,
        result.completeness_gap,
    )
    return result


def steps_for_completeness(
    model: keras.Model,
    image: np.ndarray,
    target: int,
    tol: float = 0.01,
    start_steps: int = 16,
    max_steps: int = 2048,
    baseline: np.ndarray | float | None = None,
    batch_size: int = 32,
    method: IGMethod = "trapezoid",
    score: ScoreKind = "probability",
) -> IntegratedGradients:
    """Integrated gradients with ``steps`` doubled from ``start_steps`` until the gap < ``tol``.

    The paper advises checking completeness rather than trusting a fixed step count: the number
    needed depends on how curved the score is along the path. For the trapezoid rule each
    doubling reuses the previous gradients (only the new midpoints are evaluated), so the search
    costs about as much as the final answer. Returns the first result within ``tol``; raises
    :class:`PipelineError` if ``max_steps`` is reached first.
    """
    start_steps = _check_positive("start_steps", start_steps)
    max_steps = _check_positive("max_steps", max_steps)
    batch_size = _check_positive("batch_size", batch_size)
    if not tol > 0:
        raise PipelineError(f"tol must be positive, got {tol!r}.")
    x = _as_image(model, image)
    base = _baseline(x, baseline)
    score_model = _score_model(model, score)
    target = _check_target(target, _n_classes(model, x), model)
    f_x, f_b = _endpoint_scores(score_model, x, base, target)
    _ig_nodes(start_steps, method)  # validates method

    steps = start_steps
    path_sum: np.ndarray | None = None
    gaps: list[tuple[int, float]] = []
    while True:
        if method == "trapezoid" and path_sum is not None:
            # T_2m = T_m / 2 + (1 / 2m) * sum of gradients at the new midpoints.
            mids = (np.arange(steps // 2) * 2 + 1) / steps
            new = _weighted_path_sum(
                score_model, x, base, target, mids, np.full(len(mids), 1.0 / steps), batch_size
            )
            path_sum = path_sum / 2.0 + new
        else:
            alphas, weights = _ig_nodes(steps, method)
            path_sum = _weighted_path_sum(score_model, x, base, target, alphas, weights, batch_size)
        result = _ig_result(x, base, path_sum, f_x, f_b, steps, method, target, score)
        gaps.append((steps, result.completeness_gap))
        log.debug("steps_for_completeness: steps=%d gap=%.3g", steps, result.completeness_gap)
        if result.completeness_gap < tol:
            return result
        if steps * 2 > max_steps:
            tried = ", ".join(f"{s}: {g:.2%}" for s, g in gaps)
            raise PipelineError(
                f"integrated gradients for target {target} did not reach completeness gap < "
                f"{tol:.2%} within max_steps={max_steps} (steps: gap = {tried}). Raise "
                "max_steps, try method='gauss_legendre', or choose a baseline whose score "
                "differs more from the image's."
            )
        steps *= 2


def interior_gradients(
    model: keras.Model,
    image: np.ndarray,
    target: int,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    baseline: np.ndarray | float | None = None,
    batch_size: int = 32,
    score: ScoreKind = "probability",
) -> InteriorGradients:
    """Gradients of the score at the scaled inputs ``baseline + alpha * (image - baseline)``.

    Sundararajan et al. show that a trained network's score saturates: it is already near its
    final value at small ``alpha``, so the gradient at the image itself is tiny and noisy, while
    the gradients at small ``alpha`` ("interior gradients") still show the important pixels. The
    returned ``scores`` curve is that saturation plot; integrating the gradients over ``alpha``
    gives :func:`integrated_gradients`.
    """
    batch_size = _check_positive("batch_size", batch_size)
    a = np.asarray(alphas, dtype=np.float64).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise PipelineError(f"alphas must be a non-empty list of finite numbers, got {alphas!r}.")
    x = _as_image(model, image)
    base = _baseline(x, baseline)
    score_model = _score_model(model, score)
    target = _check_target(target, _n_classes(model, x), model)
    batch = base[None] + a.astype(np.float32)[:, None, None, None] * (x - base)[None]
    scores, grads = _grads(score_model, batch, target, batch_size)
    return InteriorGradients(alphas=a, gradients=grads, scores=scores)


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
    x = _as_image(model, image)
    score_model = _score_model(model, score)
    target = _check_target(target, _n_classes(model, x), model)
    _, g = _grads(score_model, x[None], target, 1)
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
    n = _check_positive("n", n)
    batch_size = _check_positive("batch_size", batch_size)
    if not noise >= 0:
        raise PipelineError(f"noise must be >= 0 (a fraction of the image's range), got {noise!r}.")
    x = _as_image(model, image)
    span = float(x.max() - x.min())
    sigma = noise * span if span > 0 else float(noise)
    rng = np.random.default_rng(seed)
    score_model = _score_model(model, score)
    target = _check_target(target, _n_classes(model, x), model)
    acc = np.zeros(x.shape[:2], dtype=np.float64)
    for start in range(0, n, batch_size):
        k = min(batch_size, n - start)
        batch = x[None] + rng.normal(0.0, sigma, size=(k, *x.shape)).astype(np.float32)
        _, g = _grads(score_model, batch, target, batch_size)
        acc += np.abs(g).max(axis=-1).sum(axis=0)
    return acc / n


# --------------------------------------------------------------------------------------------
# Grad-CAM and occlusion
# --------------------------------------------------------------------------------------------


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
    _, fmap = cam_model(_tensor(x[None]), training=False)
    try:
        head = keras.Model(chosen.output, _score_tensor(model, score))
    except ValueError as exc:
        raise PipelineError(
            f"grad_cam: on the {backends.name()} backend the score must depend on the input only "
            f"through layer {chosen.name!r} ({exc}); pick a later layer or use TensorFlow."
        ) from exc
    fmap_np = _numpy(fmap, np.float32)
    _, g = backends.current().input_gradients(
        lambda f: _first(head(f, training=False))[:, target], fmap_np
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

    x = _as_image(model, image)
    _model_inputs(model)  # Grad-CAM reads an inner layer: the model needs a graph
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
    cam_model = _score_model(model, score, extra=[chosen.output])
    target = _check_target(target, _n_classes(model, x), model)
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
    cam_full = np.maximum(_numpy(resized[0, ..., 0], np.float64), 0.0)
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
    return (_check_positive(name, value[0]), _check_positive(name, value[1]))


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
    batch_size = _check_positive("batch_size", batch_size)
    x = _as_image(model, image)
    h, w = x.shape[:2]
    ph, pw = _pair(patch if patch is not None else max(1, min(h, w) // 8), "patch")
    sh, sw = _pair(stride if stride is not None else (max(1, ph // 2), max(1, pw // 2)), "stride")
    ph, pw = min(ph, h), min(pw, w)
    value = _fill_value(x, fill)
    score_model = _score_model(model, score)
    target = _check_target(target, _n_classes(model, x), model)
    f_x = float(_scores(score_model, x[None], target, 1)[0])

    positions = [(i, j) for i in _starts(h, ph, sh) for j in _starts(w, pw, sw)]
    total = np.zeros((h, w), dtype=np.float64)
    counts = np.zeros((h, w), dtype=np.float64)
    for start in range(0, len(positions), batch_size):
        chunk = positions[start : start + batch_size]
        batch = np.repeat(x[None], len(chunk), axis=0)
        for k, (i, j) in enumerate(chunk):
            batch[k, i : i + ph, j : j + pw, :] = value
        drops = f_x - _scores(score_model, batch, target, batch_size)
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
    n_random = _check_positive("n_random", n_random)
    x = _as_image(model, image)
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
    score_model = _score_model(model, score)
    target = _check_target(target, _n_classes(model, x), model)
    s = _scores(score_model, batch, target, len(batch))
    drops = s[0] - s[1:]
    return ScoreDrop(drop_top=float(drops[0]), drop_random=float(drops[1:].mean()))


# --------------------------------------------------------------------------------------------
# Display
# --------------------------------------------------------------------------------------------


def attribution_to_heatmap(attr: np.ndarray, clip_percentile: float = 99) -> np.ndarray:
    """``(H, W)`` map in [0, 1] from ``(H, W, C)`` attributions, for display.

    Absolute values are summed over channels (a pixel's total influence, either sign) and
    divided by the ``clip_percentile`` value, then clipped: a few extreme pixels would otherwise
    take the whole colour range and leave the rest of the map dark, as Sundararajan et al. note.
    """
    a = np.asarray(attr, dtype=np.float64)
    if a.ndim == 3:
        m = np.abs(a).sum(axis=-1)
    elif a.ndim == 2:
        m = np.abs(a)
    else:
        raise PipelineError(f"attributions must be (H, W, C) or (H, W), got shape {a.shape}.")
    if not 0 < clip_percentile <= 100:
        raise PipelineError(f"clip_percentile must be in (0, 100], got {clip_percentile!r}.")
    m = np.nan_to_num(m)
    top = float(np.percentile(m, clip_percentile))
    if top <= 0:
        top = float(m.max())
    if top <= 0:
        return np.zeros_like(m)
    return np.clip(m / top, 0.0, 1.0)


def _image_to_unit_rgb(image: np.ndarray) -> np.ndarray:
    """Any displayable image as float RGB in [0, 1]: uint8 / 255, [0, 1] floats as they are,
    other floats (e.g. mean-subtracted network inputs) min-max scaled."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise PipelineError(
            f"image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got {img.shape}."
        )
    img = img[..., :3]
    if img.dtype == np.uint8:
        return img.astype(np.float64) / 255.0
    f = img.astype(np.float64)
    lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
    if lo >= 0.0 and hi <= 1.0:
        return f
    return (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)


def _resize(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if a.shape[:2] == shape:
        return a
    from skimage.transform import resize

    return resize(a, shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True)


def overlay(
    image: np.ndarray,
    heatmap: np.ndarray,
    cmap: str = "jet",
    alpha: float = 0.5,
) -> np.ndarray:
    """The image with a colour-mapped heatmap blended on top, as ``uint8`` RGB ``(H, W, 3)``.

    ``heatmap`` is expected in [0, 1] (as from :func:`grad_cam` or
    :func:`attribution_to_heatmap`); other ranges are min-max scaled. A heatmap of another size
    (e.g. a raw Grad-CAM map) is bilinearly resized to the image. Returning an array rather than
    drawing keeps it usable in figures, GIF frames and tests alike.
    """
    from matplotlib import colormaps

    if not 0 <= alpha <= 1:
        raise PipelineError(f"alpha must be in [0, 1], got {alpha!r}.")
    try:
        colormap = colormaps[cmap]
    except KeyError as exc:
        raise PipelineError(f"cmap={cmap!r} is not a matplotlib colormap (try 'jet').") from exc
    img = _image_to_unit_rgb(image)
    heat = np.nan_to_num(np.asarray(heatmap, dtype=np.float64))
    if heat.ndim != 2:
        raise PipelineError(
            f"heatmap must be (H, W), got {heat.shape}; use attribution_to_heatmap() first."
        )
    lo, hi = float(heat.min()), float(heat.max())
    if lo < 0 or hi > 1:
        heat = (heat - lo) / (hi - lo) if hi > lo else np.zeros_like(heat)
    heat = np.clip(_resize(heat, img.shape[:2]), 0.0, 1.0)
    colored = colormap(heat)[..., :3]
    out = (1.0 - alpha) * img + alpha * colored
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def plot_attributions(
    image: np.ndarray,
    maps: Mapping[str, np.ndarray],
    cmap: str = "jet",
    alpha: float = 0.5,
    title: str | None = None,
    cols: int | None = None,
    panel_size: float = 2.6,
) -> Figure:
    """One figure: the image, then each map overlaid on it, titled by its key.

    Maps may be ``(H, W)`` heatmaps or ``(H, W, C)`` attributions (converted with
    :func:`attribution_to_heatmap`). Built on :class:`matplotlib.figure.Figure` directly, so it
    touches no pyplot state or rcParams and is never left open in pyplot's registry; save it with
    ``ex.save_figure(fig, ...)`` or display it as a cell's last expression.
    """
    from matplotlib.figure import Figure

    if not maps:
        raise PipelineError("plot_attributions: maps is empty; pass {'name': heatmap, ...}.")
    panels: list[tuple[str, np.ndarray]] = [("image", _image_to_unit_rgb(image))]
    for name, m in maps.items():
        arr = np.asarray(m)
        heat = attribution_to_heatmap(arr) if arr.ndim == 3 else arr
        panels.append((str(name), overlay(image, heat, cmap=cmap, alpha=alpha)))
    n = len(panels)
    ncols = cols or n
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(panel_size * ncols, panel_size * nrows + (0.4 if title else 0.0)))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, (name, img) in zip(axes.ravel(), panels, strict=False):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(name, fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

"""Integrated and interior gradients (Sundararajan et al. 2017, arXiv 1703.01365), with the
completeness check the paper asks for and one step-doubling search used by every caller.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeVar

import numpy as np

from pipeline.library.attribution.scoring import (
    ScoreKind,
    as_image,
    baseline_image,
    check_positive,
    check_target,
    class_count,
    forward_scores,
    score_gradients,
    scoring_model,
)
from pipeline.library.errors import PipelineError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras

log = logging.getLogger(__name__)

R = TypeVar("R")

IGMethod = Literal["trapezoid", "riemann_left", "riemann_right", "riemann_middle", "gauss_legendre"]

IG_METHODS: tuple[str, ...] = (
    "trapezoid",
    "riemann_left",
    "riemann_right",
    "riemann_middle",
    "gauss_legendre",
)

DEFAULT_ALPHAS: tuple[float, ...] = (0.02, 0.04, 0.06, 0.08, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)


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
        _, g = score_gradients(score_model, batch, target, batch_size)
        acc += np.tensordot(weights[start : start + batch_size], g.astype(np.float64), axes=1)
    return acc


def _endpoint_scores(
    score_model: keras.Model, image: np.ndarray, base: np.ndarray, target: int
) -> tuple[float, float]:
    s = forward_scores(score_model, np.stack([image, base]), target, 2)
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
    steps = check_positive("steps", steps)
    batch_size = check_positive("batch_size", batch_size)
    x = as_image(model, image)
    base = baseline_image(x, baseline)
    alphas, weights = _ig_nodes(steps, method)
    score_model = scoring_model(model, score)
    target = check_target(target, class_count(model, x), model)
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


def double_steps_until_complete(
    evaluate: Callable[[int], tuple[R, float]],
    *,
    start_steps: int,
    max_steps: int,
    tol: float,
    give_up: Callable[[str], Exception],
) -> R:
    """``evaluate(steps)`` at ``start_steps``, then twice as many, ... until its gap < ``tol``.

    Why one search for every caller (:func:`steps_for_completeness`, and the CIFAR-10 page's
    one step count for several images): the paper asks to raise the step count until
    completeness holds rather than trust a fixed number, and the stopping rule and the report
    of what was tried should read the same everywhere. ``evaluate`` returns ``(result, gap)``;
    the first result whose gap is below ``tol`` is returned. When doubling would pass
    ``max_steps``, ``give_up`` gets the steps tried with their gaps (``"16: 3.10%, 32: 0.80%"``)
    and the exception it returns is raised.
    """
    steps = start_steps
    tried: list[str] = []
    while True:
        result, gap = evaluate(steps)
        if gap < tol:
            return result
        tried.append(f"{steps}: {gap:.2%}")
        if steps * 2 > max_steps:
            raise give_up(", ".join(tried))
        steps *= 2


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
    start_steps = check_positive("start_steps", start_steps)
    max_steps = check_positive("max_steps", max_steps)
    batch_size = check_positive("batch_size", batch_size)
    if not tol > 0:
        raise PipelineError(f"tol must be positive, got {tol!r}.")
    x = as_image(model, image)
    base = baseline_image(x, baseline)
    score_model = scoring_model(model, score)
    target = check_target(target, class_count(model, x), model)
    f_x, f_b = _endpoint_scores(score_model, x, base, target)
    _ig_nodes(start_steps, method)  # validates method

    path_sum: np.ndarray | None = None

    def evaluate(steps: int) -> tuple[IntegratedGradients, float]:
        nonlocal path_sum
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
        log.debug("steps_for_completeness: steps=%d gap=%.3g", steps, result.completeness_gap)
        return result, result.completeness_gap

    def give_up(tried: str) -> PipelineError:
        return PipelineError(
            f"integrated gradients for target {target} did not reach completeness gap < "
            f"{tol:.2%} within max_steps={max_steps} (steps: gap = {tried}). Raise "
            "max_steps, try method='gauss_legendre', or choose a baseline whose score "
            "differs more from the image's."
        )

    return double_steps_until_complete(
        evaluate, start_steps=start_steps, max_steps=max_steps, tol=tol, give_up=give_up
    )


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
    batch_size = check_positive("batch_size", batch_size)
    a = np.asarray(alphas, dtype=np.float64).ravel()
    if a.size == 0 or not np.all(np.isfinite(a)):
        raise PipelineError(f"alphas must be a non-empty list of finite numbers, got {alphas!r}.")
    x = as_image(model, image)
    base = baseline_image(x, baseline)
    score_model = scoring_model(model, score)
    target = check_target(target, class_count(model, x), model)
    batch = base[None] + a.astype(np.float32)[:, None, None, None] * (x - base)[None]
    scores, grads = score_gradients(score_model, batch, target, batch_size)
    return InteriorGradients(alphas=a, gradients=grads, scores=scores)

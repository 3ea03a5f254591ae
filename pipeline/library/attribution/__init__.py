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

One module per job, re-exported here so ``from pipeline.library import attribution as attr``
is all a recipe needs: :mod:`.scoring` (the class score as a model, its forward passes and
gradients), :mod:`.integrated` (integrated and interior gradients, the step-doubling search),
:mod:`.methods` (saliency, SmoothGrad, Grad-CAM, occlusion, the masking check) and
:mod:`.display` (heatmaps, overlays, figures).

TensorFlow and matplotlib are imported inside the functions: the build tool imports this package
to hash it and must not pay for (or be broken by) TensorFlow.
"""

from __future__ import annotations

from pipeline.library.attribution.display import (
    attribution_to_heatmap,
    overlay,
    plot_attributions,
)
from pipeline.library.attribution.integrated import (
    DEFAULT_ALPHAS,
    IG_METHODS,
    IGMethod,
    IntegratedGradients,
    InteriorGradients,
    double_steps_until_complete,
    integrated_gradients,
    interior_gradients,
    steps_for_completeness,
)
from pipeline.library.attribution.methods import (
    ScoreDrop,
    grad_cam,
    last_conv_layer,
    mask_region_score_drop,
    occlusion_map,
    smoothgrad,
    vanilla_saliency,
)
from pipeline.library.attribution.scoring import SCORE_KINDS, ScoreKind

__all__ = [
    "DEFAULT_ALPHAS",
    "IGMethod",
    "IG_METHODS",
    "IntegratedGradients",
    "InteriorGradients",
    "SCORE_KINDS",
    "ScoreDrop",
    "ScoreKind",
    "attribution_to_heatmap",
    "double_steps_until_complete",
    "grad_cam",
    "integrated_gradients",
    "interior_gradients",
    "last_conv_layer",
    "mask_region_score_drop",
    "occlusion_map",
    "overlay",
    "plot_attributions",
    "smoothgrad",
    "steps_for_completeness",
    "vanilla_saliency",
]

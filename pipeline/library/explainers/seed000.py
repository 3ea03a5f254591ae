"""The seed-000 (DeepReplay) figure: one layout for the "replaying training" explainer.

Why here and not in :mod:`pipeline.library.replay`: the replay package composes any panels for
any run; this arrangement (feature space, class histograms, curves, per-sample loss) belongs to
one explainer family, so it lives with the other explainer-specific helpers. A module-level
function, so :func:`pipeline.library.replay.parallel_render.render_outputs` can hand it to its
worker processes by name.
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.library.replay.composer import Composition
from pipeline.library.replay.panels import (
    CurvesPanel,
    FeatureSpacePanel,
    LossHistogramPanel,
    ProbabilityHistogramPanel,
)
from pipeline.library.replay.store import Replay

__all__ = ["seed000_layout"]


def seed000_layout(
    replay: Replay,
    *,
    layer: str = "hidden",
    grid_range: tuple[tuple[float, float], tuple[float, float]] = ((-1.0, 2.0), (-0.5, 1.0)),
    metrics: Sequence[str] = ("probe_loss", "probe_accuracy"),
    labels: Sequence[str] = ("loss", "accuracy"),
    figsize: tuple[float, float] = (12, 6),
    dpi: float = 100,
) -> Composition:
    """The seed-000 (DeepReplay) figure: feature space on the left half; probability
    histograms for the negative and positive class; loss and metric; per-sample loss.

    The curves default to the recorder's probe metrics (the loss and accuracy of the whole
    probe set with the weights at each epoch's end) so every panel of a frame describes the
    same weights; pass ``metrics=("loss", "accuracy")`` for Keras' running epoch averages.
    """
    return Composition(
        replay,
        [
            (FeatureSpacePanel(layer, grid_range), (0, 0, 2, 2)),
            (ProbabilityHistogramPanel(cls=0), (0, 2)),
            (ProbabilityHistogramPanel(cls=1), (1, 2)),
            (CurvesPanel(metrics, labels=labels), (0, 3)),
            (LossHistogramPanel(), (1, 3)),
        ],
        figsize=figsize,
        dpi=dpi,
    )

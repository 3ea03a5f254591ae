"""Panels: views of a replay that draw epoch k and then move to any other epoch in place.

The protocol (:class:`Panel`, the base class to subclass) has two methods:

``setup(ax, replay)``
    Draw everything that does not change (titles, labels, ticks) and create the artists that
    do. Axis ranges are computed over *all* epochs and fixed, so what moves in a video is the
    model, not the axes.
``update(epoch) -> list[Artist]``
    Change those artists' data in place (``set_data``, ``set_offsets``, ``set_segments``,
    ``set_array``) for epoch ``epoch`` and return every artist that must be redrawn for a frame,
    in any order. That includes static artists lying *above* an animated one (points drawn over
    a moving probability image), because a blitted frame draws returned artists over a cached
    background. ``update`` returns the same artist objects on every call.

Panels compute from the replay file only (numpy; a numpy forward pass where a picture needs the
network evaluated on points that were not recorded), so no TensorFlow is needed to render.
Heavy per-replay computation happens once per replay, not per ``setup``, so re-running ``setup``
(a full redraw) stays cheap. Any panel composes with any other (:mod:`.composer`).

One module per job; this package re-exports the public names, so importers keep writing
``from pipeline.library.replay.panels import CurvesPanel``:

- :mod:`.base` - :class:`Panel`, the base class every panel subclasses (public: write your own).
- :mod:`.data` - what panels compute from a replay (task, layer outputs, weights, ranges, bins).
- :mod:`.drawing` - class colours, style colours, markers and images shared by panels.
- :mod:`.feature_space` - ``FeatureSpacePanel``: a 2-unit layer's plane, the input grid bent.
- :mod:`.projection` - ``ProjectionPanel``: any layer in a fixed 2-D PCA plane.
- :mod:`.boundary` - ``DecisionBoundaryPanel``: prediction over the input plane, its boundary.
- :mod:`.histograms` - probability, per-sample loss, residual and weight histograms.
- :mod:`.regression` - ``PredictionPanel``: prediction against target.
- :mod:`.curves` - ``CurvesPanel``: loss and metrics over epochs.
- :mod:`.ridgeline` - ``weight_ridgeline``: a still figure of weight distributions over time.
"""

from __future__ import annotations

from pipeline.library.errors import PanelError
from pipeline.library.replay.panels.base import Panel, PanelProtocol
from pipeline.library.replay.panels.boundary import DecisionBoundaryPanel
from pipeline.library.replay.panels.curves import CurvesPanel
from pipeline.library.replay.panels.drawing import CLASS_COLORS, class_colors
from pipeline.library.replay.panels.feature_space import FeatureSpacePanel
from pipeline.library.replay.panels.histograms import (
    LossHistogramPanel,
    ProbabilityHistogramPanel,
    ResidualHistogramPanel,
    WeightDistributionPanel,
)
from pipeline.library.replay.panels.projection import ProjectionPanel
from pipeline.library.replay.panels.regression import PredictionPanel
from pipeline.library.replay.panels.ridgeline import weight_ridgeline

__all__ = [
    "CLASS_COLORS",
    "CurvesPanel",
    "DecisionBoundaryPanel",
    "FeatureSpacePanel",
    "LossHistogramPanel",
    "Panel",
    "PanelError",
    "PanelProtocol",
    "PredictionPanel",
    "ProbabilityHistogramPanel",
    "ProjectionPanel",
    "ResidualHistogramPanel",
    "WeightDistributionPanel",
    "class_colors",
    "weight_ridgeline",
]

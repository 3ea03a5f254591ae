"""Recording separate from rendering: record a run once, replay it as stills, videos, frames.

- :mod:`.recorder` - ``ReplayRecorder``, the Keras callback (imports Keras; recipes only).
- :mod:`.store` - ``Replay``, the replay file, readable with numpy alone.
- :mod:`.forward` - ``NumpyForward``, a TensorFlow-free forward pass for Dense chains.
- :mod:`.panels` - panels sharing one protocol: ``setup(ax, replay)``, ``update(epoch)``.
- :mod:`.composer` - ``Composition``: panels in one figure; stills, MP4/GIF, scrubber frames.
- :mod:`.task` - ``infer_task``: binary, multiclass or regression, from the recorded loss.
- :mod:`.projection` - ``FixedProjection``: a PCA plane for wide layers, fixed over epochs.
- :mod:`.layouts` - ``default_layout``: the panels that fit a replay, in one composition.

Importing this package imports numpy only: the other names are resolved on first access, so
``import pipeline.replay`` stays cheap for the build tool and needs neither TensorFlow nor
matplotlib, while a recipe can still write ``from pipeline.replay import ReplayRecorder``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pipeline.replay.store import Replay, ReplayFileError

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.replay.composer import Composition, seed000_layout
    from pipeline.replay.forward import NumpyForward
    from pipeline.replay.layouts import default_layout, default_panels
    from pipeline.replay.panels import (
        CurvesPanel,
        DecisionBoundaryPanel,
        FeatureSpacePanel,
        LossHistogramPanel,
        Panel,
        PanelError,
        PredictionPanel,
        ProbabilityHistogramPanel,
        ProjectionPanel,
        ResidualHistogramPanel,
        WeightDistributionPanel,
        weight_ridgeline,
    )
    from pipeline.replay.projection import FixedProjection
    from pipeline.replay.recorder import ReplayRecorder
    from pipeline.replay.task import Task, TaskKind, infer_task

_LAZY = {
    "ReplayRecorder": "pipeline.replay.recorder",
    "NumpyForward": "pipeline.replay.forward",
    "Composition": "pipeline.replay.composer",
    "seed000_layout": "pipeline.replay.composer",
    "default_layout": "pipeline.replay.layouts",
    "default_panels": "pipeline.replay.layouts",
    "Task": "pipeline.replay.task",
    "TaskKind": "pipeline.replay.task",
    "infer_task": "pipeline.replay.task",
    "FixedProjection": "pipeline.replay.projection",
    "PanelError": "pipeline.replay.panels",
    "PredictionPanel": "pipeline.replay.panels",
    "ProjectionPanel": "pipeline.replay.panels",
    "ResidualHistogramPanel": "pipeline.replay.panels",
    "Panel": "pipeline.replay.panels",
    "FeatureSpacePanel": "pipeline.replay.panels",
    "DecisionBoundaryPanel": "pipeline.replay.panels",
    "ProbabilityHistogramPanel": "pipeline.replay.panels",
    "LossHistogramPanel": "pipeline.replay.panels",
    "CurvesPanel": "pipeline.replay.panels",
    "WeightDistributionPanel": "pipeline.replay.panels",
    "weight_ridgeline": "pipeline.replay.panels",
}

__all__ = [
    "Composition",
    "CurvesPanel",
    "DecisionBoundaryPanel",
    "FeatureSpacePanel",
    "FixedProjection",
    "LossHistogramPanel",
    "NumpyForward",
    "Panel",
    "PanelError",
    "PredictionPanel",
    "ProbabilityHistogramPanel",
    "ProjectionPanel",
    "Replay",
    "ReplayFileError",
    "ReplayRecorder",
    "ResidualHistogramPanel",
    "Task",
    "TaskKind",
    "WeightDistributionPanel",
    "default_layout",
    "default_panels",
    "infer_task",
    "seed000_layout",
    "weight_ridgeline",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline.replay' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

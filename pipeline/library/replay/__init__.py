"""Recording separate from rendering: record a run once, replay it as stills, videos, frames.

- :mod:`.recorder` - ``ReplayRecorder``, the Keras callback (imports Keras; recipes only).
- :mod:`.store` - ``Replay``, the replay file, readable with numpy alone.
- :mod:`.forward` - ``NumpyForward``, a TensorFlow-free forward pass for Dense chains.
- :mod:`.panels` - panels sharing one protocol: ``setup(ax, replay)``, ``update(epoch)``.
- :mod:`.composer` - ``Composition``: panels in one figure; stills, MP4/GIF, scrubber frames.
- :mod:`.task` - ``infer_task``: binary, multiclass or regression, from the recorded loss.
- :mod:`.projection` - ``FixedProjection``: a PCA plane for wide layers, fixed over epochs.
- :mod:`.layouts` - ``default_layout``: the panels that fit a replay, in one composition.
- :mod:`.viewed` - which hidden layer the main view draws (shared by recorder and layout).
- :mod:`.publish` - ``publish_replay``: still, poster, video, scrubber frames and the replay
  file of a recorded run, in both palettes and within budgets, registered for the page.

Importing this package imports numpy only: the other names are resolved on first access, so
``import pipeline.library.replay`` stays cheap for the build tool and needs neither TensorFlow nor
matplotlib, while a recipe can still write ``from pipeline.library.replay import ReplayRecorder``.
"""

from __future__ import annotations

import importlib
import warnings
from typing import TYPE_CHECKING, Any

from pipeline.library.replay.store import Replay, ReplayFileError

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.library.replay.composer import Composition
    from pipeline.library.replay.forward import NumpyForward
    from pipeline.library.replay.layouts import (
        default_layout,
        default_layout_notes,
        default_panels,
    )
    from pipeline.library.replay.panels import (
        CurvesPanel,
        DecisionBoundaryPanel,
        FeatureSpacePanel,
        LossHistogramPanel,
        Panel,
        PanelError,
        PanelProtocol,
        PredictionPanel,
        ProbabilityHistogramPanel,
        ProjectionPanel,
        ResidualHistogramPanel,
        WeightDistributionPanel,
        weight_ridgeline,
    )
    from pipeline.library.replay.projection import FixedProjection
    from pipeline.library.replay.publish import PublishedReplay, publish_replay
    from pipeline.library.replay.recorder import ReplayRecorder
    from pipeline.library.replay.task import Task, TaskKind, infer_task

_LAZY = {
    "ReplayRecorder": "pipeline.library.replay.recorder",
    "NumpyForward": "pipeline.library.replay.forward",
    "Composition": "pipeline.library.replay.composer",
    "default_layout": "pipeline.library.replay.layouts",
    "default_panels": "pipeline.library.replay.layouts",
    "default_layout_notes": "pipeline.library.replay.layouts",
    "Task": "pipeline.library.replay.task",
    "TaskKind": "pipeline.library.replay.task",
    "infer_task": "pipeline.library.replay.task",
    "FixedProjection": "pipeline.library.replay.projection",
    "PanelError": "pipeline.library.replay.panels",
    "PredictionPanel": "pipeline.library.replay.panels",
    "ProjectionPanel": "pipeline.library.replay.panels",
    "ResidualHistogramPanel": "pipeline.library.replay.panels",
    "Panel": "pipeline.library.replay.panels",
    "PanelProtocol": "pipeline.library.replay.panels",
    "publish_replay": "pipeline.library.replay.publish",
    "PublishedReplay": "pipeline.library.replay.publish",
    "FeatureSpacePanel": "pipeline.library.replay.panels",
    "DecisionBoundaryPanel": "pipeline.library.replay.panels",
    "ProbabilityHistogramPanel": "pipeline.library.replay.panels",
    "LossHistogramPanel": "pipeline.library.replay.panels",
    "CurvesPanel": "pipeline.library.replay.panels",
    "WeightDistributionPanel": "pipeline.library.replay.panels",
    "weight_ridgeline": "pipeline.library.replay.panels",
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
    "PanelProtocol",
    "PredictionPanel",
    "ProbabilityHistogramPanel",
    "ProjectionPanel",
    "PublishedReplay",
    "Replay",
    "ReplayFileError",
    "ReplayRecorder",
    "ResidualHistogramPanel",
    "Task",
    "TaskKind",
    "WeightDistributionPanel",
    "default_layout",
    "default_layout_notes",
    "default_panels",
    "infer_task",
    "publish_replay",
    "weight_ridgeline",
]


#: Names that moved out of this package: still served for one release, with a warning.
_MOVED = {"seed000_layout": "pipeline.library.explainers.seed000"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(
            f"pipeline.library.replay.{name} moved to {_MOVED[name]}.{name}; import it from "
            "there (the old name goes in the next release).",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(_MOVED[name]), name)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline.library.replay' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

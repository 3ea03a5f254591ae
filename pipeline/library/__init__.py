"""The explainer library: what recipes import inside their kernel (runtime, data, training,
replay, attribution, inspection, figure/table/video writers).

Its TensorFlow-free parts (errors, atomic files, the data registry, runtime constants) are the
only ones the build tool and the site may import. It never imports the build tool or the site.

The author's names, importable from here (each loaded on first use, so importing this package
stays free of Keras and matplotlib for the build tool):
``from pipeline.library import Explainer, ReplayRecorder, publish_replay, Panel, neutral``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from pipeline.library.palette import neutral
    from pipeline.library.replay.panels.base import Panel
    from pipeline.library.replay.publish import publish_replay
    from pipeline.library.replay.recorder import ReplayRecorder
    from pipeline.library.runtime import Explainer

_LAZY = {
    "Explainer": "pipeline.library.runtime",
    "ReplayRecorder": "pipeline.library.replay.recorder",
    "publish_replay": "pipeline.library.replay.publish",
    "Panel": "pipeline.library.replay.panels.base",
    "neutral": "pipeline.library.palette",
}

__all__ = ["Explainer", "Panel", "ReplayRecorder", "neutral", "publish_replay"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pipeline.library' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

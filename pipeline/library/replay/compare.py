"""Runs side by side: several replays of one model drawn on the same axes limits, one legend.

The page's ``compare(...)`` shortcode shows the scrubber frames of two or more runs (different
seeds, learning rates, initialisers) next to each other under one epoch scrubber. For the
pictures to be comparable, every run must be drawn on the same scales: :func:`share_limits`
takes one :class:`~pipeline.library.replay.Composition` per run (built with the same layout) and gives
corresponding axes the union of their limits, redrawing what depends on them (the feature
space's background grid, the loss histogram's bins), and keeps the legends of the first run
only, so the page shows one legend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pipeline.library.errors import PipelineError
from pipeline.library.replay.composer import Composition
from pipeline.library.replay.panels import FeatureSpacePanel, LossHistogramPanel
from pipeline.library.replay.panels.histograms import _HistogramPanel
from pipeline.library.replay.store import Replay

__all__ = ["share_limits", "compare_layouts"]


def _union(limits: Sequence[tuple[float, float]]) -> tuple[float, float]:
    return (float(min(lo for lo, _ in limits)), float(max(hi for _, hi in limits)))


def _share_feature_space(panels: list[FeatureSpacePanel], axes: list[Any]) -> None:
    xlim = _union([p.xlim for p in panels])
    ylim = _union([p.ylim for p in panels])
    for panel, ax in zip(panels, axes, strict=True):
        panel.xlim, panel.ylim = xlim, ylim
        image = getattr(panel, "_image", None)
        if image is not None:
            r = panel.boundary_resolution
            xx, yy = np.meshgrid(np.linspace(*xlim, r), np.linspace(*ylim, r))
            panel._fs_grid = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
            dx = (xlim[1] - xlim[0]) / (r - 1) / 2
            dy = (ylim[1] - ylim[0]) / (r - 1) / 2
            image.set_extent((xlim[0] - dx, xlim[1] + dx, ylim[0] - dy, ylim[1] + dy))
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)


def _share_loss_bins(panels: list[LossHistogramPanel], axes: list[Any],
                     replays: list[Replay]) -> None:
    top = max(float(p.edges[-1]) for p in panels)
    for panel, replay in zip(panels, replays, strict=True):
        panel.max_loss = top
        panel._prepare(replay)
        panel._stairs.set_data(values=panel.counts[0], edges=panel.edges)
    for ax in axes:
        ax.set_xlim(0.0, top)


def share_limits(comps: Sequence[Composition]) -> None:
    """Give the runs' corresponding axes the same limits and keep the first run's legends.

    ``comps`` are compositions of the same layout (same panels in the same slots), one per run.
    Their frozen layouts stay; every composition is moved back to its last epoch.
    """
    if len(comps) < 2:
        raise PipelineError("share_limits: give two or more compositions, one per run")
    kinds = [[type(p).__name__ for p, _ in c.panels] for c in comps]
    if any(k != kinds[0] for k in kinds):
        raise PipelineError(f"share_limits: the runs have different layouts: {kinds}; build "
                            "every run with the same layout function")
    replays = [c.replay for c in comps]
    for k in range(len(comps[0].panels)):
        panels = [c.panels[k][0] for c in comps]
        axes = [c.panels[k][1] for c in comps]
        if isinstance(panels[0], FeatureSpacePanel):
            _share_feature_space(panels, axes)  # type: ignore[arg-type]
            continue
        if isinstance(panels[0], LossHistogramPanel):
            _share_loss_bins(panels, axes, replays)  # type: ignore[arg-type]
        if isinstance(panels[0], _HistogramPanel):
            ymax = max(float(np.nanmax(p.counts)) if p.counts.size else 1.0  # type: ignore[attr-defined]
                       for p in panels)
            for ax in axes:
                ax.set_ylim(0.0, max(ymax, 1.0) * 1.05)
            continue
        xlim = _union([ax.get_xlim() for ax in axes])
        ylim = _union([ax.get_ylim() for ax in axes])
        for ax in axes:
            ax.set_xlim(xlim)
            ax.set_ylim(ylim)
    for comp in comps[1:]:
        for ax in comp.figure.axes:
            legend = ax.get_legend()
            if legend is not None:
                legend.remove()
    for comp in comps:
        comp.update(int(comp.replay.epochs[-1]))


def compare_layouts(replays: Sequence[Replay], layout: Callable[..., Composition],
                    **kwargs: Any) -> list[Composition]:
    """``layout(replay, **kwargs)`` for each run, then :func:`share_limits` over them."""
    comps = [layout(r, **kwargs) for r in replays]
    share_limits(comps)
    return comps

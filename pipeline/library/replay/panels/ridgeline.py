"""``weight_ridgeline``: a still figure of every layer's weight distribution over training.

Why a module of its own: it is not a panel (no ``setup``/``update``, nothing animated) but a
whole figure of its own, drawn once; it shares only the weight reading and the fixed bins with
:class:`pipeline.library.replay.panels.histograms.WeightDistributionPanel`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from pipeline.library.errors import PanelError
from pipeline.library.replay.panels.data import _histograms, _layer_values, _limits
from pipeline.library.replay.panels.drawing import _colormap
from pipeline.library.replay.store import Replay


def weight_ridgeline(
    replay: Replay,
    layers: Sequence[str] | None = None,
    *,
    variable: str | None = "kernel",
    epochs: Sequence[int] | None = None,
    max_curves: int = 20,
    bins: int = 60,
    overlap: float = 0.6,
    cmap: str = "viridis",
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """TensorBoard-style histograms over time: one ridgeline plot per layer.

    Each curve is the distribution of a layer's weights at one epoch (density over bins fixed
    for that layer across epochs), stacked from the first epoch at the top to the last at the
    bottom and coloured by epoch, so drift and spread of the weights read as a shape over time.
    Returns a matplotlib ``Figure`` not attached to pyplot (no global state is touched).
    """
    if layers is None:
        layers = list(dict.fromkeys(k.split("/")[0] for k in replay.weight_keys))
    layers = list(layers)
    if not layers:
        raise PanelError("weight_ridgeline: the replay has no recorded weights")
    if epochs is None:
        pick = np.unique(np.linspace(0, len(replay.epochs) - 1, max_curves).round().astype(int))
        epochs = [int(replay.epochs[i]) for i in pick]
    epochs = list(epochs)
    fig = Figure(figsize=figsize or (3.2 * len(layers), 4.2), layout="constrained")
    axes = fig.subplots(1, len(layers), squeeze=False)[0]
    colors = _colormap(cmap)(np.linspace(0.0, 1.0, len(epochs)))
    for ax, layer in zip(axes, layers, strict=True):
        values = _layer_values(replay, layer, variable)
        edges = np.linspace(*_limits(values, 0.02), bins + 1)
        centers = (edges[:-1] + edges[1:]) / 2
        rows = [values[replay.index(e)] for e in epochs]
        dens = _histograms(np.asarray(rows), edges)
        dens = dens / max(float(dens.max()), 1e-12)
        n = len(epochs)
        for j in range(n):  # first epoch at the top, drawn first (behind)
            base = (n - 1 - j) * overlap
            ax.fill_between(centers, base, base + dens[j], color="white", zorder=2 * j)
            ax.plot(centers, base + dens[j], color=colors[j], linewidth=1.0, zorder=2 * j + 1)
        ticks = [(n - 1 - j) * overlap for j in range(n)]
        step = max(1, n // 6)
        ax.set_yticks(ticks[::step], [str(e) for e in epochs][::step])
        ax.set_ylabel("epoch")
        ax.set_xlabel("weight value")
        ax.set_title(layer + (f"/{variable}" if variable else ""))
        ax.set_xlim(edges[0], edges[-1])
    fig.suptitle("Weight distributions over training")
    return fig

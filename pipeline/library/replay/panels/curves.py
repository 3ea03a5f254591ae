"""The curves panel: loss and metrics over epochs, drawn up to the current epoch.

Why a module of its own: it is the one panel that reads the logged metrics rather than the
probe set or the weights, and it composes with every task (binary, multiclass, regression).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from pipeline.library.errors import PanelError
from pipeline.library.replay.panels.base import Panel
from pipeline.library.replay.panels.data import _limits
from pipeline.library.replay.store import Replay


class CurvesPanel(Panel):
    """Metric curves over epochs, drawn up to the current epoch, with a marker and a line there.

    ``metrics`` are names in ``replay.metrics``: Keras' logged ones (``loss``, ``accuracy``,
    ``val_loss``: NaN at epoch 0) or the recorder's ``probe_loss`` / ``probe_accuracy``
    (computed with the weights at the end of each epoch, so they match the histograms).
    ``metrics=None`` (the default) draws ``loss`` and, where it was recorded, ``accuracy``: a
    regression model (MSE) records no accuracy, so it gets the loss alone. Named metrics that
    the replay lacks are an error.
    """

    def __init__(
        self,
        metrics: Sequence[str] | None = None,
        *,
        labels: Sequence[str] | None = None,
        title: str | None = "Loss and metric",
        show_future: bool = False,
        ylim: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(title)
        self._auto = metrics is None
        self.metrics = ["loss", "accuracy"] if metrics is None else list(metrics)
        self.labels = list(labels) if labels is not None else list(self.metrics)
        if len(self.labels) != len(self.metrics):
            raise PanelError("CurvesPanel: give one label per metric")
        self.show_future = show_future
        self.ylim = ylim

    def _prepare(self, replay: Replay) -> None:
        if self._auto and "accuracy" not in replay.metrics and "loss" in replay.metrics:
            keep = [i for i, m in enumerate(self.metrics) if m != "accuracy"]
            self.metrics = [self.metrics[i] for i in keep]
            self.labels = [self.labels[i] for i in keep]
        missing = [m for m in self.metrics if m not in replay.metrics]
        if missing:
            raise PanelError(
                f"CurvesPanel: metrics {missing} are not in the replay; available: "
                f"{sorted(replay.metrics)}"
            )
        self._x = replay.epochs.astype(float)
        self._y = [np.asarray(replay.metrics[m], dtype=float) for m in self.metrics]
        self._ylim = self.ylim or _limits(np.concatenate(self._y), 0.05)

    def _draw(self, ax: Axes) -> None:
        colors = [f"C{i}" for i in range(len(self.metrics))]
        if self.show_future:
            for y, c in zip(self._y, colors, strict=True):
                ax.plot(self._x, y, color=c, alpha=0.2, linewidth=1.0, zorder=1)
        self._lines = [ax.plot([], [], color=c, linewidth=1.6, label=lab, zorder=2)[0]
                       for c, lab in zip(colors, self.labels, strict=True)]
        self._markers = [ax.plot([], [], "o", color=c, markersize=5, zorder=3)[0]
                         for c in colors]
        self._vline = ax.axvline(self._x[0], color="0.5", linewidth=0.8, linestyle="--",
                                 zorder=1.5)
        ax.set_xlim(self._x[0], max(self._x[-1], self._x[0] + 1))
        ax.set_ylim(*self._ylim)
        ax.set_xlabel("epoch")
        # Below the curves (zorder 1.2): static, so it stays in the blitted background.
        # Centre right: where the curves are least often late in training (loss near 0,
        # accuracy near 1).
        legend = ax.legend(loc="center right", fontsize="small", framealpha=0.8)
        legend.set_zorder(1.2)
        if self.title:
            ax.set_title(self.title)

    def update(self, epoch: int) -> list[Artist]:
        """Draw the curves up to ``epoch`` and move the markers and line there."""
        replay = self._require_setup()
        i = replay.index(epoch)
        for line, marker, y in zip(self._lines, self._markers, self._y, strict=True):
            line.set_data(self._x[: i + 1], y[: i + 1])
            marker.set_data([self._x[i]], [y[i]])
        self._vline.set_xdata([self._x[i], self._x[i]])
        return [*self._lines, *self._markers, self._vline]

"""The prediction panel for regression models, and the arrays every regression view reads.

Why a module of its own: a regression model has no classes to colour or boundary to draw; its
views compare each prediction with its target. :func:`_regression_arrays` (predictions and
targets, with a clear error for a classifier) also feeds the residual histogram
(:mod:`pipeline.library.replay.panels.histograms`).
"""

from __future__ import annotations

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from pipeline.library.palette import neutral
from pipeline.library.replay.panels.base import Panel, _cannot
from pipeline.library.replay.panels.data import _limits, _task
from pipeline.library.replay.store import Replay


def _regression_arrays(replay: Replay, panel: str, output: int | None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Predictions ``(E, M)`` and targets ``(M,)`` of a regression replay, flattened over the
    chosen output (``None``: all outputs)."""
    task = _task(replay, panel)
    if task.is_classifier:
        raise _cannot(panel, "a regression model (a loss such as 'mse' or 'mae')",
                      task.describe() + "; use ProbabilityHistogramPanel")
    pred = replay.all_probabilities.reshape(len(replay.epochs), replay.n_probe, -1)
    target = np.asarray(replay.probe_y, dtype=np.float64).reshape(replay.n_probe, -1)
    if target.shape[1] != pred.shape[2]:
        raise _cannot(panel, "one target per model output",
                      f"targets of width {target.shape[1]} for {pred.shape[2]} outputs")
    if output is not None:
        if not 0 <= output < pred.shape[2]:
            raise _cannot(panel, f"output < {pred.shape[2]}", f"output={output}")
        pred, target = pred[..., output : output + 1], target[:, output : output + 1]
    return pred.reshape(len(replay.epochs), -1).astype(np.float64), target.reshape(-1)


class PredictionPanel(Panel):
    """Regression: each probe point's prediction against its target, with the line y = x.

    A perfect model puts every point on the diagonal; the vertical distance of a point from
    it is that point's residual. The axes are fixed over all epochs (targets and every
    epoch's predictions), so the cloud is seen collapsing onto the diagonal as training goes.
    """

    def __init__(self, *, output: int | None = None, point_size: float = 2.5,
                 title: str | None = "Prediction vs target") -> None:
        super().__init__(title)
        self.output = output
        self.point_size = point_size

    def _prepare(self, replay: Replay) -> None:
        name = "PredictionPanel"
        self._pred, self._target = _regression_arrays(replay, name, self.output)
        both = np.concatenate([self._target, self._pred.ravel()])
        self.lim = _limits(both, 0.05)

    def predictions(self, epoch: int) -> np.ndarray:
        """The predictions drawn at ``epoch`` (the same order as :attr:`targets`)."""
        replay = self._require_setup()
        return self._pred[replay.index(epoch)]

    @property
    def targets(self) -> np.ndarray:
        """The targets (x coordinates of the points)."""
        return self._target

    def _draw(self, ax: Axes) -> None:
        ax.plot(self.lim, self.lim, color=neutral("ink"), linewidth=0.8, linestyle="--",
                alpha=0.6, zorder=1)
        (self._points,) = ax.plot(self._target, self._pred[0], linestyle="none", marker="o",
                                  markersize=self.point_size, color="C0", alpha=0.7,
                                  markeredgewidth=0.0, zorder=2)
        ax.set_xlim(self.lim)
        ax.set_ylim(self.lim)
        ax.set_xlabel("target")
        ax.set_ylabel("prediction")
        if self.title:
            ax.set_title(self.title)

    def update(self, epoch: int) -> list[Artist]:
        """Move the points to the predictions of ``epoch``."""
        self._points.set_ydata(self.predictions(epoch))
        return [self._points]

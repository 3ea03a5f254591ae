"""Histogram panels: one histogram per epoch over bins fixed across all epochs.

Why a module of its own: probabilities, per-sample losses, residuals and weights are all drawn
the same way, as one ``StepPatch`` whose heights change per epoch (:class:`_HistogramPanel`);
the panels here differ only in which values they count. :mod:`pipeline.library.replay.compare`
shares the count axis of every :class:`_HistogramPanel` across runs.
"""

from __future__ import annotations

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes

from pipeline.library.errors import PanelError
from pipeline.library.replay.panels.base import Panel, _cannot
from pipeline.library.replay.panels.data import _histograms, _layer_values, _limits, _task
from pipeline.library.replay.panels.drawing import CLASS_COLORS, class_colors
from pipeline.library.replay.panels.regression import _regression_arrays
from pipeline.library.replay.store import Replay


class _HistogramPanel(Panel):
    """A histogram per epoch over fixed bins, drawn as one ``StepPatch`` (cheap to update)."""

    color: str = "0.4"
    xlabel: str = ""

    def _set_counts(self, counts: np.ndarray, edges: np.ndarray) -> None:
        self.edges = edges
        self.counts = counts
        top = float(np.nanmax(counts)) if counts.size else 1.0
        self.ymax = max(top, 1.0) * 1.05

    def _draw(self, ax: Axes) -> None:
        self._stairs = ax.stairs(
            self.counts[0], self.edges, fill=True, color=self.color, alpha=0.85, zorder=1
        )
        ax.set_xlim(self.edges[0], self.edges[-1])
        ax.set_ylim(0, self.ymax)
        ax.set_xlabel(self.xlabel)
        ax.set_ylabel("count")
        if self.title:
            ax.set_title(self.title)

    def histogram(self, epoch: int) -> np.ndarray:
        """Counts per bin at ``epoch`` (bins are :attr:`edges`, fixed over all epochs)."""
        replay = self._require_setup()
        return self.counts[replay.index(epoch)]

    def update(self, epoch: int) -> list[Artist]:
        """Set the bar heights for ``epoch``."""
        self._stairs.set_data(values=self.histogram(epoch))
        return [self._stairs]


class ProbabilityHistogramPanel(_HistogramPanel):
    """Histogram of predicted probabilities on the probe set, for any classifier.

    ``cls=0`` or ``cls=1`` on a binary classifier (the seed-000 pair): P(class 1) for the
    probe points whose true class is ``cls``; a trained model piles the negatives near 0 and
    the positives near 1, and mass on the wrong side is misclassified points.
    ``cls=k`` on a k-class model: P(class k) for the points of class k (near 1 when they are
    recognised). ``cls=None`` (any classifier): the probability each point's *true* class
    gets, stacked by class in the class colours, so one panel shows every class: mass near 1
    is points classified right and confidently, mass below 1/k is points some other class wins.
    """

    def __init__(self, cls: int | None = 1, bins: int = 20, *, title: str | None = None) -> None:
        if cls is not None and (not isinstance(cls, (int, np.integer)) or cls < 0):
            raise PanelError(
                f"ProbabilityHistogramPanel(cls={cls!r}): cls must be a class number (0, 1, "
                "...) or None for the probability of each point's true class"
            )
        super().__init__(title)
        self.cls = None if cls is None else int(cls)
        self.bins = bins
        if self.cls in (0, 1):
            self.color = CLASS_COLORS[self.cls]

    def _prepare(self, replay: Replay) -> None:
        name = f"ProbabilityHistogramPanel(cls={self.cls!r})"
        task = _task(replay, name)
        self.task = task
        if not task.is_classifier:
            raise _cannot(name, "a classifier (binary or multiclass)",
                          task.describe() + "; use PredictionPanel or ResidualHistogramPanel")
        k = int(task.n_classes)
        labels = replay.labels
        edges = np.linspace(0.0, 1.0, self.bins + 1)
        if self.cls is not None and self.cls >= k:
            raise _cannot(name, f"a class number below {k}", task.describe())
        self.stacked = self.cls is None
        if self.stacked:
            probs = replay.all_probabilities.reshape(len(replay.epochs), replay.n_probe, -1)
            if task.kind.value == "binary":
                p1 = replay.positive_probability()
                true_p = np.where(labels[None, :] == 1, p1, 1.0 - p1)
            else:
                true_p = np.take_along_axis(
                    probs, labels[None, :, None].clip(0, k - 1), axis=2)[..., 0]
            present = [c for c in range(k) if (labels == c).any()]
            self.class_counts = np.stack(
                [_histograms(true_p[:, labels == c], edges) for c in present], axis=1)
            self.classes = present
            self._set_counts(self.class_counts.sum(axis=1), edges)
            self.xlabel = "predicted P(true class)"
            self.title = self.title or "Probability of the true class"
            return
        assert self.cls is not None  # None is the stacked case, returned above
        mask = labels == self.cls
        if not mask.any():
            raise PanelError(f"ProbabilityHistogramPanel: no probe points of class {self.cls}")
        if task.kind.value == "binary":
            p = replay.positive_probability()[:, mask]
            self.xlabel = "predicted P(class 1)"
            default = "Negative cases (class 0)" if self.cls == 0 else "Positive cases (class 1)"
        else:
            p = replay.all_probabilities.reshape(len(replay.epochs), replay.n_probe, -1)
            p = p[:, mask, self.cls]
            self.xlabel = f"predicted P(class {self.cls})"
            default = f"Class {self.cls} cases"
            self.color = class_colors(k)[self.cls]
        self.title = self.title or default
        self._set_counts(_histograms(p, edges), edges)

    def _draw(self, ax: Axes) -> None:
        if not self.stacked:
            super()._draw(ax)
            return
        colors = class_colors(int(self.task.n_classes))
        self._stack = []
        base = np.zeros(len(self.edges) - 1)
        for j, c in enumerate(self.classes):
            top = base + self.class_counts[0, j]
            self._stack.append(ax.stairs(top, self.edges, baseline=base.copy(), fill=True,
                                         color=colors[c], alpha=0.85, zorder=1,
                                         label=f"class {c}"))
            base = top
        ax.set_xlim(self.edges[0], self.edges[-1])
        ax.set_ylim(0, self.ymax)
        ax.set_xlabel(self.xlabel)
        ax.set_ylabel("count")
        if len(self.classes) <= 6:  # above the bars (redrawn with them when blitting)
            ax.legend(loc="upper left", fontsize="x-small", framealpha=0.8)
        if self.title:
            ax.set_title(self.title)

    def class_histograms(self, epoch: int) -> np.ndarray:
        """Stacked mode: counts per (present) class and bin at ``epoch``: ``(classes, bins)``."""
        replay = self._require_setup()
        if not self.stacked:
            return self.histogram(epoch)[None, :]
        return self.class_counts[replay.index(epoch)]

    def update(self, epoch: int) -> list[Artist]:
        """Set the bar heights for ``epoch``."""
        if not self.stacked:
            return super().update(epoch)
        counts = self.class_histograms(epoch)
        base = np.zeros(counts.shape[1])
        for patch, row in zip(self._stack, counts, strict=True):
            # matplotlib takes an array baseline (stacked steps); its stubs say float only
            patch.set_data(values=base + row, baseline=base.copy())  # type: ignore[arg-type]
            base = base + row
        return list(self._stack)


class LossHistogramPanel(_HistogramPanel):
    """Histogram of the per-sample loss on the probe set, over bins fixed across epochs.

    The mean of these values is the ``probe_loss`` curve; the histogram shows whether a falling
    mean comes from every point improving or from most points being right and a few very wrong.
    """

    def __init__(self, bins: int = 30, *, max_loss: float | None = None,
                 title: str | None = "Per-sample loss") -> None:
        super().__init__(title)
        self.bins = bins
        self.max_loss = max_loss
        self.xlabel = "loss"

    def _prepare(self, replay: Replay) -> None:
        losses = replay.all_sample_losses.reshape(len(replay.epochs), -1)
        finite = losses[np.isfinite(losses)]
        hi = self.max_loss or (float(finite.max()) if finite.size else 1.0)
        edges = np.linspace(0.0, max(hi, 1e-6), self.bins + 1)
        # Values beyond a user-given max_loss go into the last bin rather than vanish.
        self._set_counts(_histograms(np.minimum(losses, edges[-1]), edges), edges)


class ResidualHistogramPanel(_HistogramPanel):
    """Regression: histogram of the residuals (prediction minus target) over fixed bins.

    Centred on 0 and narrow when the model fits; a shifted histogram is a biased model, a wide
    one an imprecise model. Bins are fixed over all epochs and symmetric around 0 (values
    beyond ``max_abs`` go into the outer bins rather than vanish).
    """

    def __init__(self, bins: int = 30, *, output: int | None = None,
                 max_abs: float | None = None, title: str | None = "Residuals") -> None:
        super().__init__(title)
        self.bins = bins
        self.output = output
        self.max_abs = max_abs
        self.xlabel = "prediction - target"
        self.color = "C0"

    def _prepare(self, replay: Replay) -> None:
        pred, target = _regression_arrays(replay, "ResidualHistogramPanel", self.output)
        self.residuals = pred - target[None, :]
        finite = np.abs(self.residuals[np.isfinite(self.residuals)])
        hi = self.max_abs or (float(np.percentile(finite, 99.5)) if finite.size else 1.0)
        edges = np.linspace(-max(hi, 1e-6), max(hi, 1e-6), self.bins + 1)
        clipped = np.clip(self.residuals, edges[0], edges[-1])
        self._set_counts(_histograms(clipped, edges), edges)


class WeightDistributionPanel(_HistogramPanel):
    """Histogram of one layer's weights (all its variables, or one) at an epoch; fixed bins."""

    def __init__(self, layer: str, *, variable: str | None = None, bins: int = 40,
                 title: str | None = None) -> None:
        super().__init__(title)
        self.layer = layer
        self.variable = variable
        self.bins = bins
        self.xlabel = "weight value"

    def _prepare(self, replay: Replay) -> None:
        try:
            values = _layer_values(replay, self.layer, self.variable)
        except PanelError as exc:
            raise PanelError(f"WeightDistributionPanel(layer={self.layer!r}): {exc}") from exc
        edges = np.linspace(*_limits(values, 0.02), self.bins + 1)
        self._set_counts(_histograms(values, edges), edges)
        if self.title is None:
            self.title = f"Weights: {self.layer}" + (f"/{self.variable}" if self.variable else "")

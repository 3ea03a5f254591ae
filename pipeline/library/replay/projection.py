"""A 2-D projection of a wide layer's outputs, fitted once and then held fixed over epochs.

Why fixed: a video of a layer whose width is above two needs one plane to look at for every
frame. Fitting PCA per epoch would spin and flip the axes from frame to frame, so the picture
would move even where the network did not. The projection is fitted on one epoch (by default
the last: the trained network's most informative directions) and every epoch's outputs are
passed through that same affine map, so what moves in the video is the layer, not the axes.
PCA comes from scikit-learn (already a dependency for the datasets) rather than a hand-written
SVD; :class:`FixedProjection` keeps the fitted mean and components so a test, or a reader, can
apply exactly the stated map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.library.errors import PipelineError

__all__ = ["FixedProjection", "fit_pca"]


@dataclass(frozen=True)
class FixedProjection:
    """``transform(h) = (h - mean) @ components.T``: the first two principal axes of a layer.

    ``explained`` is the fraction of the fitting epoch's variance each axis keeps, shown in the
    panel's axis labels so a reader can tell how much of the layer the plane shows.
    """

    mean: np.ndarray
    components: np.ndarray
    explained: np.ndarray
    layer: str
    fitted_epoch: int
    method: str = "PCA"

    def transform(self, h: np.ndarray) -> np.ndarray:
        """Project ``(..., units)`` layer outputs to ``(..., 2)``."""
        h = np.asarray(h, dtype=np.float64)
        return (h - self.mean) @ self.components.T

    def axis_label(self, axis: int) -> str:
        """``"PC1 of layer 'hidden' (fitted at epoch 100, 71% of variance)"``."""
        share = float(self.explained[axis]) if axis < len(self.explained) else float("nan")
        pct = f", {share:.0%} of variance" if np.isfinite(share) else ""
        return (f"PC{axis + 1} of layer {self.layer!r} "
                f"(fitted at epoch {self.fitted_epoch}{pct})")


def fit_pca(outputs: np.ndarray, *, layer: str, epoch: int) -> FixedProjection:
    """Fit a 2-component PCA on one epoch's ``(N, units)`` outputs of ``layer``.

    A layer with non-finite outputs at the fitting epoch (a diverged run) cannot be fitted:
    that raises :class:`PipelineError` naming the layer and epoch instead of scikit-learn's
    error. A layer whose outputs vary along fewer than two directions still gets two axes
    (the second explains no variance), so the panel draws a line rather than failing.
    """
    from sklearn.decomposition import PCA

    h = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    if not np.isfinite(h).all():
        raise PipelineError(
            f"cannot fit a projection of layer {layer!r} at epoch {epoch}: its outputs are "
            "not finite there (did the run diverge?); pass fit_epoch= an earlier epoch"
        )
    if h.shape[1] < 2 or h.shape[0] < 2:
        raise PipelineError(
            f"cannot fit a 2-D projection of layer {layer!r}: it needs at least 2 units and 2 "
            f"probe points, got outputs of shape {h.shape}"
        )
    pca = PCA(n_components=2, svd_solver="full").fit(h)
    return FixedProjection(
        mean=pca.mean_.copy(), components=pca.components_.copy(),
        explained=np.nan_to_num(pca.explained_variance_ratio_.copy()), layer=layer,
        fitted_epoch=int(epoch),
    )

"""Which hidden layer a replay's main view draws, decided from the layers' kinds and widths alone.

Why a module of its own: two places must arrive at the same layer. The recorder decides, while
training (it has the Keras model), which layer outputs to keep for every epoch; the default
layout decides, from the replay file (no Keras), what to draw. If they disagreed a recording
would lack what its picture needs, or keep hundreds of megabytes nobody draws (a small CNN's
convolution outputs for every image at every epoch). Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["PASS_THROUGH_KINDS", "hidden_widths", "viewed_layer"]

PASS_THROUGH_KINDS = frozenset({
    "Dropout", "AlphaDropout", "GaussianDropout", "GaussianNoise", "SpatialDropout1D",
    "SpatialDropout2D", "SpatialDropout3D", "ActivityRegularization", "Flatten",
})
"""Layers whose outputs show the same values as the layer before them (at inference, or
reshaped): never a view of their own."""


def hidden_widths(layers: Iterable[tuple[str, str, int | None]]) -> dict[str, int]:
    """``{name: units}`` of the hidden layers, in model order.

    ``layers`` are ``(name, class name, width)`` for every layer of the model but its input, in
    order; the width is the number of values per example (``None`` when unknown, such as a
    variable-length sequence). Hidden means every layer but the last (the output); layers that
    only pass values through (:data:`PASS_THROUGH_KINDS`) and layers of unknown width are left
    out.
    """
    listed = list(layers)
    return {name: int(width) for name, kind, width in listed[:-1]
            if kind not in PASS_THROUGH_KINDS and kind != "InputLayer" and width is not None}


def viewed_layer(widths: Mapping[str, int], layer: str | None = None) -> str | None:
    """The hidden layer the default layout's main view draws, or None.

    ``layer`` when given (it must be in ``widths``); else the last 2-unit hidden layer (its
    feature space), else the last wider one (a fixed PCA projection). A 1-unit layer is never
    a view.
    """
    candidates = [layer] if layer is not None else list(widths)
    two_unit = [n for n in candidates if widths.get(n) == 2]
    wide = [n for n in candidates if widths.get(n, 0) > 2]
    if two_unit:
        return two_unit[-1]
    return wide[-1] if wide else None

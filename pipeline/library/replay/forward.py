"""A numpy forward pass for chains of Dense layers, driven by a stored Keras model config.

Why: the renderers must run without TensorFlow (re-rendering a video with a new style takes
seconds, and importing TensorFlow alone takes four), yet some pictures need the network
evaluated on points that were never recorded: the input grid bent into the hidden layer's
feature space, or the predicted probability on a dense grid for a decision boundary. For the
small fully connected models those pictures are drawn for, a forward pass is a few matrix
products, so it is done here from the replayed weights and the model config saved in the
replay file. The page's script (``pipeline/site/assets/nnx-replay-core.js``) implements the same
layers with the same maths, so the browser draws the same background and bent grid.

A layer this module cannot compute (a convolution, an unknown activation) does not make the
whole model unusable: only evaluating *through* it raises :class:`UnsupportedModel` (which says
to record that layer's outputs with the recorder instead). So a model with a convolution or a
normalisation before its 2-unit layer still gets the background, which needs only the layers
after that one; :meth:`NumpyForward.unsupported` says in advance whether a slice can be run.
Branched models (more than one input to a layer) still raise at construction: there is no
chain to slice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.library.errors import UnsupportedModel

log = logging.getLogger(__name__)

__all__ = ["ACTIVATIONS", "NumpyForward", "UnsupportedModel"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-logaddexp(0, -x)) == 1 / (1 + exp(-x)) without overflow warnings for large |x|.
    return np.exp(-np.logaddexp(0.0, -x)).astype(x.dtype, copy=False)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=-1, keepdims=True)


def _elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False)


def _selu(x: np.ndarray) -> np.ndarray:
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return (scale * _elu(x, alpha)).astype(x.dtype, copy=False)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x).astype(x.dtype, copy=False)


def _identity(x: np.ndarray) -> np.ndarray:
    return x


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": _identity,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda x: np.maximum(x, 0),
    "relu6": lambda x: np.clip(x, 0, 6),
    "elu": _elu,
    "selu": _selu,
    "softmax": _softmax,
    "softplus": _softplus,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "exponential": np.exp,
}
"""Activations by the name Keras stores in a layer config."""

# Layers that are the identity at inference time (what evaluate/predict compute).
_IDENTITY_LAYERS = {
    "Dropout",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SpatialDropout3D",
    "ActivityRegularization",
}


def _activation_name(value: Any, layer: str) -> str:
    """Keras stores built-in activations as a name; custom ones as a serialized object."""
    if value is None:
        return "linear"
    if isinstance(value, str):
        name = value
    elif isinstance(value, dict):
        name = str(value.get("config", {}).get("name") or value.get("class_name") or value)
    else:
        name = str(value)
    if name not in ACTIVATIONS:
        raise UnsupportedModel(
            f"layer {layer!r}: activation {name!r} is not supported by the numpy forward pass "
            f"(supported: {', '.join(sorted(ACTIVATIONS))}). Record this layer's outputs with "
            "ReplayRecorder(layers=[...]) and draw them from the replay instead."
        )
    return name


@dataclass
class _Step:
    """One layer of the chain, reduced to what the forward pass needs.

    ``unsupported`` is None for a layer this module computes, else the reason it cannot (raised
    as :class:`UnsupportedModel` only when something is evaluated through this layer).
    """

    name: str
    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    activation: str = "linear"
    unsupported: str | None = None

    def __call__(self, h: np.ndarray, weights: Mapping[str, np.ndarray]) -> np.ndarray:
        if self.unsupported is not None:
            raise UnsupportedModel(self.unsupported)
        if self.kind == "Dense":
            try:
                kernel = weights[f"{self.name}/kernel"]
            except KeyError:
                raise UnsupportedModel(
                    f"layer {self.name!r}: no weights named {self.name + '/kernel'!r} in the "
                    "replay; was it recorded with weights=True?"
                ) from None
            h = h @ kernel
            if self.config.get("use_bias", True):
                h = h + weights[f"{self.name}/bias"]
            return ACTIVATIONS[self.activation](h)
        if self.kind == "Activation":
            return ACTIVATIONS[self.activation](h)
        if self.kind == "ReLU":
            slope = float(self.config.get("negative_slope", 0.0) or 0.0)
            threshold = float(self.config.get("threshold", 0.0) or 0.0)
            out = np.where(h >= threshold, h, slope * (h - threshold))
            if self.config.get("max_value") is not None:
                out = np.minimum(out, float(self.config["max_value"]))
            return out.astype(h.dtype, copy=False)
        if self.kind == "LeakyReLU":
            slope = float(self.config.get("negative_slope", self.config.get("alpha", 0.3)))
            return np.where(h >= 0, h, slope * h).astype(h.dtype, copy=False)
        if self.kind == "ELU":
            return _elu(h, float(self.config.get("alpha", 1.0)))
        if self.kind == "Softmax":
            return _softmax(h)
        if self.kind == "Flatten":
            return h.reshape(h.shape[0], -1)
        if self.kind == "BatchNormalization":
            return _batch_norm(self, h, weights)
        return h  # identity layers


def _batch_norm(step: _Step, h: np.ndarray, weights: Mapping[str, np.ndarray]) -> np.ndarray:
    """BatchNormalization at inference (what ``predict`` and the recorder compute): the moving
    statistics, then ``gamma`` and ``beta`` where the layer has them."""
    def var(name: str) -> np.ndarray:
        try:
            return np.asarray(weights[f"{step.name}/{name}"], dtype=h.dtype)
        except KeyError:
            raise UnsupportedModel(
                f"layer {step.name!r}: no weights named {step.name + '/' + name!r} in the "
                "replay; was it recorded with weights=True?") from None

    eps = float(step.config.get("epsilon", 1e-3))
    out = (h - var("moving_mean")) / np.sqrt(var("moving_variance") + np.asarray(eps, h.dtype))
    if step.config.get("scale", True):
        out = out * var("gamma")
    if step.config.get("center", True):
        out = out + var("beta")
    return out.astype(h.dtype, copy=False)


_SUPPORTED = {"Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Flatten",
              "BatchNormalization"}


def _unsupported_reason(cls: str, name: str, cfg: Mapping[str, Any]) -> str | None:
    """Why layer ``name`` (a ``cls``) cannot be computed here, or None when it can."""
    if cls in _IDENTITY_LAYERS:
        return None
    if cls not in _SUPPORTED:
        return (f"layer {name!r} is a {cls}, which the numpy forward pass does not support "
                f"(supported: {', '.join(sorted(_SUPPORTED | _IDENTITY_LAYERS))}). Record its "
                "outputs with ReplayRecorder(layers=[...]) and draw them from the replay.")
    if cls == "BatchNormalization":
        axis = cfg.get("axis", -1)
        axes = axis if isinstance(axis, list) else [axis]
        if axes not in ([-1], [1]):
            return (f"layer {name!r} normalises over axis {axis!r}; the numpy forward pass "
                    "handles the last axis of a flat layer only")
    if cls in {"Dense", "Activation"}:
        try:
            _activation_name(cfg.get("activation"), name)
        except UnsupportedModel as exc:
            return str(exc)
    return None


class NumpyForward:
    """Evaluate a stored chain-of-layers Keras model with numpy, for any replayed epoch.

    ``model_config`` is what ``json.loads(model.to_json())`` returns (a Sequential or a
    Functional model whose layers form a single chain). Weights are passed per call as the
    ``{"layer/variable": array}`` mapping that :meth:`pipeline.library.replay.store.Replay.weights`
    returns, so one instance serves every epoch.
    """

    def __init__(self, model_config: Mapping[str, Any] | str) -> None:
        config = json.loads(model_config) if isinstance(model_config, str) else model_config
        self.steps: list[_Step] = self._parse(config)
        self.layer_names: list[str] = [s.name for s in self.steps]

    @staticmethod
    def _parse(config: Mapping[str, Any]) -> list[_Step]:
        kind = config.get("class_name")
        inner = config.get("config", {})
        if kind not in {"Sequential", "Functional", "Model"}:
            raise UnsupportedModel(
                f"model class {kind!r} is not supported by the numpy forward pass: use a "
                "Sequential or functional keras.Model."
            )
        layers = inner.get("layers", [])
        steps: list[_Step] = []
        previous: str | None = None
        for spec in layers:
            cls = spec.get("class_name")
            cfg = spec.get("config", {})
            name = cfg.get("name") or spec.get("name")
            if kind != "Sequential":
                inbound = [
                    arg.get("config", {}).get("keras_history", [None])[0]
                    for node in spec.get("inbound_nodes", [])
                    for arg in node.get("args", [])
                    if isinstance(arg, dict)
                ]
                if cls != "InputLayer" and inbound != [previous]:
                    raise UnsupportedModel(
                        f"layer {name!r} takes inputs {inbound} instead of the previous layer "
                        f"{previous!r}: the numpy forward pass handles single chains only."
                    )
            previous = name
            if cls == "InputLayer":
                continue
            reason = _unsupported_reason(str(cls), str(name), cfg)
            activation = "linear"
            if reason is None and cls in {"Dense", "Activation"}:
                activation = _activation_name(cfg.get("activation"), name)
            steps.append(_Step(name, str(cls), cfg, activation, reason))
        if not steps:
            raise UnsupportedModel("the stored model config has no layers")
        return steps

    def _index(self, name: str | None, default: int) -> int:
        if name is None:
            return default
        try:
            return self.layer_names.index(name)
        except ValueError:
            raise UnsupportedModel(
                f"no layer named {name!r}; layers are {self.layer_names}"
            ) from None

    def unsupported(self, *, start_after: str | None = None,
                    stop_at: str | None = None) -> str | None:
        """Why the slice ``start_after`` (exclusive) .. ``stop_at`` cannot be evaluated here
        (the first layer in it that this module cannot compute), or None when it can.

        Why ask first: a view that needs only the layers after a hidden layer (the feature
        space's background) works although a layer before it cannot be computed.
        """
        first = self._index(start_after, -1) + 1
        last = self._index(stop_at, len(self.steps) - 1)
        for step in self.steps[first : last + 1]:
            if step.unsupported is not None:
                return step.unsupported
        return None

    def outputs(
        self,
        weights: Mapping[str, np.ndarray],
        x: np.ndarray,
        *,
        start_after: str | None = None,
        stop_at: str | None = None,
    ) -> dict[str, np.ndarray]:
        """Every layer's output from ``start_after`` (exclusive; input when None) to ``stop_at``.

        ``x`` is the model input, or the output of layer ``start_after`` when given: that is
        how the feature-space panel evaluates the tail of a network on a grid in a hidden
        layer's coordinates.
        """
        first = self._index(start_after, -1) + 1
        last = self._index(stop_at, len(self.steps) - 1)
        h = np.asarray(x, dtype=np.float32)
        out: dict[str, np.ndarray] = {}
        for step in self.steps[first : last + 1]:
            h = step(h, weights)
            out[step.name] = h
        return out

    def __call__(
        self,
        weights: Mapping[str, np.ndarray],
        x: np.ndarray,
        *,
        start_after: str | None = None,
        stop_at: str | None = None,
    ) -> np.ndarray:
        """The output of layer ``stop_at`` (the model output when None) for inputs ``x``."""
        outs = self.outputs(weights, x, start_after=start_after, stop_at=stop_at)
        if not outs:
            return np.asarray(x, dtype=np.float32)
        return next(reversed(outs.values()))

    def units(self, layer: str) -> int | None:
        """The width of a Dense layer (None for layers whose width is not in the config)."""
        step = self.steps[self._index(layer, 0)]
        units = step.config.get("units")
        return int(units) if units is not None else None

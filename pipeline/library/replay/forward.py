"""A numpy forward pass for chains of Dense layers, driven by a stored Keras model config.

Why: the renderers must run without TensorFlow (re-rendering a video with a new style takes
seconds, and importing TensorFlow alone takes four), yet some pictures need the network
evaluated on points that were never recorded: the input grid bent into the hidden layer's
feature space, or the predicted probability on a dense grid for a decision boundary. For the
small fully connected models those pictures are drawn for, a forward pass is a few matrix
products, so it is done here from the replayed weights and the model config saved in the
replay file. Anything else (convolutions, branches) raises :class:`UnsupportedModel`, which says
to record that layer's outputs with the recorder instead.

A *partial* forward pass (``NumpyForward(config, partial=True)``) accepts a chain with layers it
cannot evaluate and refuses only passes that go through one of them: the feature-space
background needs only the layers after the viewed one, so a convolution before a 2-unit layer
must not cost the picture its background (:meth:`NumpyForward.unsupported` says why a pass
cannot run, before running it).
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
    """One layer of the chain, reduced to what the forward pass needs."""

    name: str
    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    activation: str = "linear"
    unsupported: str | None = None
    """Why this step cannot be evaluated (partial passes only); None when it can."""

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
            return self._batch_norm(h, weights)
        return h  # identity layers

    def _batch_norm(self, h: np.ndarray, weights: Mapping[str, np.ndarray]) -> np.ndarray:
        """Inference-time batch normalisation (the moving statistics), as Keras computes it."""
        def var(v: str) -> np.ndarray:
            try:
                return np.asarray(weights[f"{self.name}/{v}"], dtype=np.float32)
            except KeyError:
                raise UnsupportedModel(
                    f"layer {self.name!r}: no weights named {self.name + '/' + v!r} in the "
                    "replay; was it recorded with weights=True?"
                ) from None

        eps = np.float32(self.config.get("epsilon", 1e-3))
        inv = 1.0 / np.sqrt(var("moving_variance") + eps)
        if self.config.get("scale", True):
            inv = inv * var("gamma")
        out = h * inv + (-var("moving_mean") * inv)
        if self.config.get("center", True):
            out = out + var("beta")
        return out.astype(h.dtype, copy=False)


_SUPPORTED = {"Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Flatten",
              "BatchNormalization"}


def _unsupported_kind(name: str, cls: str, cfg: Mapping[str, Any]) -> str | None:
    """Why layer ``name`` (a ``cls``) cannot be evaluated here; None when it can."""
    if cls not in _SUPPORTED:
        return (f"layer {name!r} is a {cls}, which the numpy forward pass does not support "
                f"(supported: {', '.join(sorted(_SUPPORTED | _IDENTITY_LAYERS))}). Record its "
                "outputs with ReplayRecorder(layers=[...]) and draw them from the replay.")
    if cls == "BatchNormalization" and cfg.get("axis", -1) not in (-1, [-1]):
        return (f"layer {name!r} is a BatchNormalization over axis {cfg.get('axis')}; the numpy "
                "forward pass normalises the last axis only. Record its outputs with "
                "ReplayRecorder(layers=[...]).")
    return None


class NumpyForward:
    """Evaluate a stored chain-of-layers Keras model with numpy, for any replayed epoch.

    ``model_config`` is what ``json.loads(model.to_json())`` returns (a Sequential or a
    Functional model whose layers form a single chain). Weights are passed per call as the
    ``{"layer/variable": array}`` mapping that :meth:`pipeline.library.replay.store.Replay.weights`
    returns, so one instance serves every epoch. With ``partial`` a layer it cannot evaluate
    (a convolution, an unknown activation) is kept in the chain and only a pass through it
    raises :class:`UnsupportedModel`; without, the constructor raises.
    """

    def __init__(self, model_config: Mapping[str, Any] | str, *, partial: bool = False) -> None:
        config = json.loads(model_config) if isinstance(model_config, str) else model_config
        self.partial = partial
        self.steps: list[_Step] = self._parse(config, partial)
        self.layer_names: list[str] = [s.name for s in self.steps]

    @staticmethod
    def _parse(config: Mapping[str, Any], partial: bool = False) -> list[_Step]:
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
            if cls in _IDENTITY_LAYERS:
                steps.append(_Step(name, cls, cfg))
                continue
            why = _unsupported_kind(name, cls, cfg)
            activation = "linear"
            if why is None and cls in {"Dense", "Activation"}:
                try:
                    activation = _activation_name(cfg.get("activation"), name)
                except UnsupportedModel as exc:
                    why = str(exc)
            if why is not None and not partial:
                raise UnsupportedModel(why)
            steps.append(_Step(name, cls, cfg, activation, why))
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
        """Why a pass from ``start_after`` (exclusive) to ``stop_at`` cannot run; None if it can.

        Only a partial forward pass holds steps it cannot evaluate; a name that is not a layer
        raises :class:`UnsupportedModel` as :meth:`outputs` does.
        """
        first = self._index(start_after, -1) + 1
        last = self._index(stop_at, len(self.steps) - 1)
        return next((s.unsupported for s in self.steps[first : last + 1] if s.unsupported), None)

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
        why = self.unsupported(start_after=start_after, stop_at=stop_at)
        if why is not None:  # before any work: say which layer stops it, not a shape error
            raise UnsupportedModel(why)
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

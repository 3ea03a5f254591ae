"""What every attribution method shares: the score ``f`` of one class, as a model to call, and
its forward passes and input gradients in chunks, with checks that name the bad argument.

``score="probability"`` uses the model's output as it is; ``score="logit"`` rebuilds the last
layer with a linear activation (the model itself is never modified). Keras and the backend are
imported inside the functions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pipeline.library.errors import PipelineError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import keras

log = logging.getLogger(__name__)
ScoreKind = Literal["probability", "logit"]
SCORE_KINDS: tuple[str, ...] = ("probability", "logit")


def as_tensor(batch: np.ndarray) -> Any:
    """A float32 tensor of the Keras backend in use."""
    import keras

    return keras.ops.convert_to_tensor(np.asarray(batch, dtype=np.float32), dtype="float32")


def as_numpy(tensor: Any, dtype: Any) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(tensor), dtype=dtype)


def check_score(score: str) -> None:
    if score not in SCORE_KINDS:
        raise PipelineError(
            f"score={score!r} is not known; use 'probability' (the model's output) or 'logit' "
            "(the last layer's pre-activation value)."
        )


def model_inputs(model: keras.Model) -> list[Any]:
    """The model's symbolic inputs; subclassed or unbuilt models have none."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError) as exc:  # unbuilt Sequential, subclassed model
        inputs = None
        detail = f" ({exc})"
    else:
        detail = ""
    if not inputs:
        raise PipelineError(
            f"model {model.name!r} has no symbolic inputs{detail}: build it with keras.Input "
            "(Sequential([keras.Input(shape), ...]) or the functional API) so its layers can be "
            "read."
        )
    if len(inputs) != 1:
        raise PipelineError(
            f"model {model.name!r} has {len(inputs)} inputs; attribution here supports "
            "single-input image classifiers."
        )
    return list(inputs)


def single_output(model: keras.Model) -> Any:
    model_inputs(model)
    outputs = model.outputs
    if len(outputs) != 1:
        raise PipelineError(
            f"model {model.name!r} has {len(outputs)} outputs; attribution needs one class-score "
            "output. Build a keras.Model(model.inputs, model.outputs[i]) for the head you want."
        )
    if len(outputs[0].shape) != 2:
        raise PipelineError(
            f"model {model.name!r} outputs shape {tuple(outputs[0].shape)}; attribution needs "
            "(batch, classes) class scores."
        )
    return outputs[0]


def _producing_layer(model: keras.Model, tensor: Any) -> Any:
    hist = getattr(tensor, "_keras_history", None)
    layer = getattr(hist, "operation", None)
    return layer if layer is not None else model.layers[-1]


def score_tensor(model: keras.Model, score: str) -> Any:
    """The symbolic tensor whose ``[:, target]`` is the score, in the model's own graph.

    For ``"logit"`` the last layer is rebuilt from its config with ``activation="linear"`` and
    the original weights, applied to the original layer's input: this gives the pre-activation
    value without touching the user's model (swapping ``layer.activation`` in place would leak
    into training and is not thread-safe).
    """
    check_score(score)
    if score == "logit" and not has_graph(model):
        raise PipelineError(
            f"score='logit' needs the graph of model {model.name!r} to find the last layer's "
            "pre-activation, but it has no symbolic inputs (subclassed or unbuilt). Use "
            "score='probability', or build the model with keras.Input."
        )
    out = single_output(model)
    if score == "probability":
        return out
    last = _producing_layer(model, out)
    activation = getattr(last, "activation", None)
    act_name = getattr(activation, "__name__", None)
    try:
        last_input = last.input
    except (AttributeError, ValueError) as exc:
        raise PipelineError(
            f"cannot find the input of the last layer {last.name!r} of model {model.name!r} "
            f"({exc}); use score='probability' or give the model a single-use last layer."
        ) from exc
    if last.__class__.__name__ == "Softmax":
        return last_input
    if activation is None:
        raise PipelineError(
            f"score='logit': the last layer {last.name!r} ({last.__class__.__name__}) has no "
            "activation to remove. Use score='probability', or end the model with a Dense / "
            "Activation / Softmax layer."
        )
    if act_name == "linear":
        return out  # the output already is the pre-activation value
    config = dict(last.get_config())
    config["activation"] = "linear"
    config["name"] = f"{last.name}_logits"
    clone = last.__class__.from_config(config)
    logits = clone(last_input)
    clone.set_weights(last.get_weights())
    log.debug("score='logit': rebuilt %r with a linear activation", last.name)
    return logits


def scoring_model(model: keras.Model, score: str, extra: Sequence[Any] = ()) -> keras.Model:
    """A model returning the score tensor (and any extra tensors, e.g. a conv layer's output)."""
    import keras

    check_score(score)
    if score == "probability" and not extra:
        if has_graph(model):
            single_output(model)
        return model  # no rebuilding: works for subclassed models too
    tensor = score_tensor(model, score)
    outputs = [tensor, *extra] if extra else tensor
    return keras.Model(model_inputs(model), outputs, name=f"{model.name}_{score}")


def as_image(model: keras.Model, image: Any, what: str = "image") -> np.ndarray:
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3:
        raise PipelineError(
            f"{what} must be one (H, W, C) image, got shape {arr.shape}; pass image[i] rather "
            "than a batch."
        )
    try:
        expected = tuple(model.inputs[0].shape[1:])
    except (AttributeError, ValueError, IndexError):
        expected = ()
    if expected and len(expected) == 3:
        for got, want in zip(arr.shape, expected, strict=True):
            if want is not None and got != want:
                raise PipelineError(
                    f"{what} has shape {arr.shape} but model {model.name!r} expects "
                    f"{tuple(expected)} (None = any size); resize the image first."
                )
    if not np.all(np.isfinite(arr)):
        raise PipelineError(f"{what} contains NaN or infinite values; clean it before attributing.")
    return arr


def baseline_image(image: np.ndarray, baseline: Any) -> np.ndarray:
    if baseline is None:
        return np.zeros_like(image)
    if np.isscalar(baseline):
        return np.full_like(image, float(baseline))  # type: ignore[arg-type]  # a real scalar
    base = np.asarray(baseline, dtype=np.float32)
    if base.shape != image.shape:
        raise PipelineError(
            f"baseline has shape {base.shape} but the image has {image.shape}; pass None "
            "(black), a number, or an array shaped like the image."
        )
    return base


def check_target(target: int, n_classes: int, model: keras.Model) -> int:
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
        raise PipelineError(f"target must be a class index (int), got {target!r}.")
    if not 0 <= int(target) < n_classes:
        raise PipelineError(
            f"target={target} is out of range: model {model.name!r} has {n_classes} class "
            f"outputs (0..{n_classes - 1})."
        )
    return int(target)


def has_graph(model: keras.Model) -> bool:
    """Whether the model has symbolic inputs (Sequential with Input, functional)."""
    try:
        return bool(model.inputs)
    except (AttributeError, ValueError):
        return False


def class_count(model: keras.Model, image: np.ndarray) -> int:
    """Number of class scores; a subclassed model (no graph) is asked with one forward pass."""
    if has_graph(model):
        return int(single_output(model).shape[-1])
    out = first_output(model(as_tensor(image[None]), training=False))
    if len(out.shape) != 2:
        raise PipelineError(
            f"model {model.name!r} outputs shape {tuple(out.shape)}; attribution needs "
            "(batch, classes) class scores."
        )
    return int(out.shape[-1])


def first_output(out: Any) -> Any:
    return out[0] if isinstance(out, (list, tuple)) else out


def forward_scores(
    score_model: keras.Model, batch: np.ndarray, target: int, batch_size: int
) -> np.ndarray:
    """Forward passes only (occlusion, masking), in chunks to bound memory."""
    out = []
    for start in range(0, len(batch), batch_size):
        chunk = as_tensor(batch[start : start + batch_size])
        pred = first_output(score_model(chunk, training=False))
        out.append(as_numpy(pred[:, target], np.float64))
    return np.concatenate(out) if out else np.zeros(0)


def score_gradients(
    score_model: keras.Model, batch: np.ndarray, target: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``(n,)`` and input gradients ``(n, H, W, C)`` of the target score.

    The gradient of the batch's summed score is each sample's own gradient because samples do
    not interact at inference time (``training=False`` freezes batch-norm statistics).
    """
    from pipeline.library import backends

    backend = backends.current()
    scores, grads = [], []

    def target_score(x: Any) -> Any:
        return first_output(score_model(x, training=False))[:, target]

    for start in range(0, len(batch), batch_size):
        s, g = backend.input_gradients(target_score, batch[start : start + batch_size])
        if g is None:
            raise PipelineError(
                f"the score of model {score_model.name!r} does not depend on its input (no "
                "gradient); check that the model is differentiable (no argmax / casts)."
            )
        scores.append(np.asarray(s, dtype=np.float64))
        grads.append(np.asarray(g, dtype=np.float32))
    return np.concatenate(scores), np.concatenate(grads)


def check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise PipelineError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)

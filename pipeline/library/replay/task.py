"""What kind of model a replay records: binary classifier, multiclass classifier or regression.

Why a module of its own: every panel and :func:`pipeline.library.replay.layouts.default_layout` must
decide, from the replay file alone (no Keras), whether "probability of class 1", "true class"
or "residual" is the meaningful per-sample quantity. The recorder stores the loss the model was
compiled with (``meta["loss"]``: a Keras name such as ``"binary_crossentropy"`` or ``"mse"``,
or a Loss object's ``name``) and the model's outputs on the probe set (``probabilities``, whose
last axis is the output width). The loss says which kind of task it is; the output width says
how many classes. A loss this module does not know falls back on the output layer's activation
in the stored model config (sigmoid / softmax / linear), and only when that is missing too does
:func:`infer_task` give up, with a message saying how to record the loss.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.library.errors import TaskError
from pipeline.library.replay.store import Replay

__all__ = ["Task", "TaskError", "TaskKind", "infer_task"]


class TaskKind(enum.Enum):
    """The three kinds of task the replay panels draw differently."""

    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"


@dataclass(frozen=True)
class Task:
    """A replay's task, as the panels need it.

    ``n_outputs`` is the model's output width; ``n_classes`` is 2 for a binary classifier
    (whether one sigmoid unit or a two-way softmax), the output width for a multiclass one,
    and None for regression. ``n_inputs`` is the width of one flattened probe input.
    """

    kind: TaskKind
    n_outputs: int
    n_classes: int | None
    n_inputs: int
    loss: str

    @property
    def is_classifier(self) -> bool:
        """Binary or multiclass: the outputs are class probabilities."""
        return self.kind is not TaskKind.REGRESSION

    def describe(self) -> str:
        """A short phrase for error messages: ``"multiclass (3 classes, loss 'sparse_...')"``."""
        what = {
            TaskKind.BINARY: "a binary classifier",
            TaskKind.MULTICLASS: f"a {self.n_classes}-class classifier",
            TaskKind.REGRESSION: f"a regression model ({self.n_outputs} output"
            + ("s" if self.n_outputs != 1 else "") + ")",
        }[self.kind]
        return f"{what}, {self.n_inputs} input features, loss {self.loss!r}"


# Loss names as Keras spells them (string identifiers, Loss.name, function __name__), in lower
# case without underscores so "BinaryCrossentropy", "binary_crossentropy" and
# "binary_cross_entropy" all match.
_BINARY_LOSSES = ("binarycrossentropy", "binaryfocalcrossentropy", "hinge", "squaredhinge",
                  "bce")
_CATEGORICAL_LOSSES = ("categoricalcrossentropy", "sparsecategoricalcrossentropy",
                       "categoricalfocalcrossentropy", "categoricalhinge", "kldivergence",
                       "kld", "kullbackleiblerdivergence", "poisson", "cce", "scce")
_REGRESSION_LOSSES = ("meansquarederror", "mse", "meanabsoluteerror", "mae",
                      "meanabsolutepercentageerror", "mape", "meansquaredlogarithmicerror",
                      "msle", "huber", "huberloss", "logcosh", "cosinesimilarity")


def _loss_kind(loss: str) -> str | None:
    key = loss.lower().replace("_", "").replace(" ", "")
    if key in _CATEGORICAL_LOSSES:
        return "categorical"
    if key in _BINARY_LOSSES:
        return "binary"
    if key in _REGRESSION_LOSSES:
        return "regression"
    return None


def _output_activation(config: dict[str, Any]) -> str | None:
    """The activation of the model's last layer that has one (None if unknown)."""
    layers = config.get("config", {}).get("layers", []) if config else []
    for spec in reversed(layers):
        act = spec.get("config", {}).get("activation")
        if act is not None:
            if isinstance(act, dict):
                act = act.get("config", {}).get("name") or act.get("class_name")
            return str(act)
        if spec.get("class_name") == "Softmax":
            return "softmax"
    return None


def infer_task(replay: Replay) -> Task:
    """The task of the model recorded in ``replay``, from its loss and output width.

    A categorical loss with a two-way output is a binary task (the panels use the second
    column as P(class 1), like :meth:`Replay.positive_probability`).
    """
    width = int(replay.all_probabilities.shape[-1]) if replay.all_probabilities.ndim > 2 else 1
    x = np.asarray(replay.probe_x)
    n_inputs = int(np.prod(x.shape[1:])) if x.ndim > 1 else 1
    loss = replay.loss_name
    kind = _loss_kind(loss)
    if kind is None:
        try:
            activation = _output_activation(replay.model_config)
        except (ValueError, TypeError):
            activation = None
        kind = {"sigmoid": "binary", "softmax": "categorical", "linear": "regression"}.get(
            activation or "")
        if kind is None:
            raise TaskError(
                f"cannot tell the task of this replay: loss {loss!r} is not a Keras loss the "
                f"replay panels know, and the output layer's activation is {activation!r}. "
                "Compile the model with a built-in loss name (e.g. 'binary_crossentropy', "
                "'sparse_categorical_crossentropy', 'mse'), or end it with a sigmoid, softmax "
                "or linear Dense layer."
            )
    if kind == "regression":
        return Task(TaskKind.REGRESSION, width, None, n_inputs, loss)
    if kind == "binary" or width <= 2:
        if kind == "binary" and width != 1:
            raise TaskError(
                f"loss {loss!r} is a binary loss but the model has {width} outputs: the replay "
                "panels draw binary classifiers with one sigmoid unit (or a two-way softmax "
                "with a categorical loss)"
            )
        return Task(TaskKind.BINARY, width, 2, n_inputs, loss)
    return Task(TaskKind.MULTICLASS, width, width, n_inputs, loss)

"""Small synthetic replays for fast panel tests: no training, no recipe execution.

A Keras model is built only for its config (``to_json``) and initial weights; each "epoch" then
moves every weight a seeded random step, and everything the recorder would have stored (layer
outputs, predictions, per-sample losses, probe metrics) is computed from those weights with the
numpy forward pass. The replay is therefore internally consistent: a panel's picture can be
checked against the model rebuilt from the replay (``keras_model_at``), exactly as for a
recorded run.
"""

from __future__ import annotations

import json

import numpy as np

from pipeline.library.replay.forward import NumpyForward
from pipeline.library.replay.store import FORMAT, VERSION, Replay


def build_model(kind: str, n_inputs: int, hidden: tuple[int, ...], n_classes: int = 3):
    """A Sequential Dense chain for ``kind`` in {"binary", "multiclass", "regression"}."""
    import keras

    keras.utils.set_random_seed(0)
    layers = [keras.Input((n_inputs,))]
    for i, units in enumerate(hidden):
        layers.append(keras.layers.Dense(units, activation="tanh", name=f"h{i}"))
    out_units, act, loss = {
        "binary": (1, "sigmoid", "binary_crossentropy"),
        "multiclass": (n_classes, "softmax", "sparse_categorical_crossentropy"),
        "regression": (1, "linear", "mse"),
    }[kind]
    layers.append(keras.layers.Dense(out_units, activation=act, name="output"))
    model = keras.Sequential(layers)
    model.compile(optimizer="sgd", loss=loss)
    return model, loss


def normalized_classifier(n_inputs: int = 2, units: int = 5, *, seed: int = 2,
                          names: tuple[str, ...] = ("h0", "bn", "drop", "h1", "output")):
    """A binary classifier with BatchNormalization and Dropout *before* its 2-unit layer:
    Dense(units, relu) -> BatchNormalization -> Dropout(0.3) -> Dense(2, tanh) -> Dense(1,
    sigmoid), compiled (sgd, binary cross-entropy). The layers NumpyForward must run before
    the viewed one to keep the feature space's grid and background."""
    import keras

    keras.utils.set_random_seed(seed)
    dense, norm, drop, viewed, output = names
    model = keras.Sequential([
        keras.Input((n_inputs,)), keras.layers.Dense(units, activation="relu", name=dense),
        keras.layers.BatchNormalization(name=norm), keras.layers.Dropout(0.3, name=drop),
        keras.layers.Dense(2, activation="tanh", name=viewed),
        keras.layers.Dense(1, activation="sigmoid", name=output)])
    model.compile(optimizer="sgd", loss="binary_crossentropy")
    return model


def _loss(kind: str, out: np.ndarray, y: np.ndarray) -> np.ndarray:
    eps = 1e-7
    if kind == "binary":
        p = np.clip(out[:, 0], eps, 1 - eps)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))
    if kind == "multiclass":
        p = np.clip(out[np.arange(len(y)), y.astype(int)], eps, 1.0)
        return -np.log(p)
    return (out[:, 0] - y) ** 2


def synthetic_replay(kind: str, n_inputs: int = 2, hidden: tuple[int, ...] = (2,),
                     *, n_classes: int = 3, n_probe: int = 60, epochs: int = 4,
                     record: tuple[str, ...] | None = None, seed: int = 0,
                     model=None) -> Replay:
    """A replay of ``epochs + 1`` snapshots of a random walk of the model's weights.

    ``model``: a compiled Keras model of another shape (a chain the numpy forward pass
    computes) instead of :func:`build_model`'s; its loss must be ``kind``'s.
    """
    rng = np.random.default_rng(seed)
    if model is None:
        model, loss = build_model(kind, n_inputs, hidden, n_classes)
    else:
        loss = model.loss
    x = rng.normal(size=(n_probe, n_inputs)).astype(np.float32)
    if kind == "binary":
        y = (x[:, 0] + 0.5 * x[:, -1] > 0).astype(np.float32)
    elif kind == "multiclass":
        y = np.digitize(x[:, 0], np.quantile(x[:, 0], np.linspace(0, 1, n_classes + 1)[1:-1]))
        y = y.astype(np.int64)
    else:
        y = (x.sum(axis=1) + 0.1 * rng.normal(size=n_probe)).astype(np.float32)
    keys = [f"{ly.name}/{v.name}" for ly in model.layers for v in ly.weights]
    start = [np.asarray(v.numpy()) for ly in model.layers for v in ly.weights]
    config = json.loads(model.to_json())
    fwd = NumpyForward(config)
    record = tuple(f"h{i}" for i in range(len(hidden))) if record is None else record
    weights = {k: [] for k in keys}
    outputs = {name: [] for name in record}
    probs, losses, probe_loss, probe_acc = [], [], [], []
    current = list(start)
    for e in range(epochs + 1):
        if e:
            current = [w + 0.15 * rng.normal(size=w.shape).astype(w.dtype) for w in current]
            current = [np.abs(w) + np.float32(0.05) if k.endswith("moving_variance") else w
                       for k, w in zip(keys, current, strict=True)]  # variances stay positive
        wd = dict(zip(keys, current, strict=True))
        for k in keys:
            weights[k].append(wd[k])
        outs = fwd.outputs(wd, x)
        for name in record:
            outputs[name].append(outs[name])
        out = outs["output"]
        probs.append(out)
        per = _loss(kind, out, y)
        losses.append(per.astype(np.float32))
        probe_loss.append(float(per.mean()))
        if kind == "binary":
            probe_acc.append(float(np.mean((out[:, 0] > 0.5) == (y > 0.5))))
        elif kind == "multiclass":
            probe_acc.append(float(np.mean(np.argmax(out, axis=1) == y)))
    arrays = {
        "epochs": np.arange(epochs + 1),
        "probe_x": x,
        "probe_y": y,
        "probabilities": np.stack(probs),
        "sample_loss": np.stack(losses),
        "metric/probe_loss": np.asarray(probe_loss),
        "metric/loss": np.asarray([np.nan, *probe_loss[1:]]),
    }
    if probe_acc:
        arrays["metric/probe_accuracy"] = np.asarray(probe_acc)
        arrays["metric/accuracy"] = np.asarray([np.nan, *probe_acc[1:]])
    for k, series in weights.items():
        arrays[f"weight/{k}"] = np.stack(series)
    for name, series in outputs.items():
        arrays[f"output/{name}"] = np.stack(series)
    meta = {
        "format": FORMAT, "version": VERSION, "model_config": model.to_json(),
        "model_name": model.name, "layer_names": [ly.name for ly in model.layers],
        "recorded_layers": list(record), "weight_keys": keys, "gradient_keys": [],
        "loss": loss, "from_logits": False, "recorder": {},
    }
    return Replay(arrays, meta)


def keras_model_at(replay: Replay, epoch: int):
    """The replay's model rebuilt from its config with the weights of ``epoch``."""
    import keras

    model = keras.models.model_from_json(json.dumps(replay.model_config))
    w = replay.weights(epoch)
    model.set_weights([w[f"{ly.name}/{v.name}"] for ly in model.layers for v in ly.weights])
    return model

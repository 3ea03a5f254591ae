"""Run the library's backend-specific paths on the Keras backend named by KERAS_BACKEND.

Used by tests/unit/library/test_backends.py in a subprocess per backend (a process has one Keras backend).
Reads initial weights from an .npz (so every backend starts from the same numbers), trains with
``fit_fast`` (no shuffling: the backends' shuffles differ by design), records a replay with
probe gradients, per-batch curves, and computes input gradients, integrated gradients and
Grad-CAM; writes everything to an .npz for the test to compare.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(weights_path: str, out_path: str, work: str) -> None:
    import keras

    from pipeline.library.attribution import grad_cam, integrated_gradients
    from pipeline.library.explainers.cifar_views import batch_recorder
    from pipeline.library.replay import ReplayRecorder
    from pipeline.library.training import fit_fast

    init = np.load(weights_path)
    x, y = init["x"], init["y"]
    model = keras.Sequential([
        keras.Input((6, 6, 1)),
        keras.layers.Conv2D(3, 3, activation="tanh", name="conv"),
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(4, activation="tanh", name="hidden"),
        keras.layers.Dense(3, activation="softmax", name="out"),
    ])
    weights = [init[f"w{i}"] for i in range(len(model.get_weights()))]
    model.set_weights(weights)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    # every layer's outputs (the default keeps only what the default layout draws): the
    # backends' recorded outputs are compared layer by layer
    rec = ReplayRecorder(probe_x=x[:10], probe_y=y[:10], path=Path(work) / "replay.npz",
                         gradients=True, layers="all")
    batches = batch_recorder(model, max_steps=100, metrics=("loss",))
    hist = fit_fast(model, x, y, epochs=4, batch_size=7, shuffle=False,
                    validation_data=(x[:9], y[:9]), callbacks=[rec, batches])
    replay = rec.replay()
    ig = integrated_gradients(model, x[0], target=1, steps=16)
    cam = grad_cam(model, x[1], target=0, layer="conv")
    curves = batches.curves()
    np.savez(
        out_path,
        loss=np.asarray(hist.history["loss"]), val_loss=np.asarray(hist.history["val_loss"]),
        accuracy=np.asarray(hist.history["accuracy"]),
        batch_loss=curves["loss"], batch_size=curves["batch_size"],
        probe_loss=replay.metrics["probe_loss"],
        grad_hidden=np.stack([replay.gradients(e)["hidden/kernel"] for e in replay.epochs]),
        out_prob=replay.layer_outputs("out"),
        hidden_w=replay.weight_history("hidden/kernel"),
        ig=ig.attributions, ig_gap=np.asarray(ig.completeness_gap), cam=cam,
        final=np.concatenate([w.ravel() for w in model.get_weights()]),
    )
    print(json.dumps({"backend": keras.backend.backend()}))


if __name__ == "__main__":
    main(*sys.argv[1:4])

# ---
# explainer:
#   title: "${title}"
#   description: "${description}"
#   section: ${section}
#   datasets: []
#   seed: 0
#   timeout: 600
#   thumbnail: poster.png
#   profiles:
#     quick: {epochs: 60, batch: 32, fps: 15}
#     full: {epochs: 200, batch: 32, fps: 20}
# jupyter:
#   kernelspec: {name: python3, display_name: Python 3, language: python}
# ---

# %% [markdown]
# # ${title}
#
# ${description}
#
# This recipe came from the replay scaffold (`python -m pipeline new ${slug} --section
# ${section} --template replay`). It records a training run epoch by epoch with
# `pipeline.library.replay.ReplayRecorder` and draws it with `pipeline.library.replay.default_layout`, which
# picks the panels from what was recorded: binary, multiclass or regression, any input width.
# To make it yours, change the two cells tagged `data` and `model` (and this text); the cells
# after them work for any small Keras model built from Dense layers.

# %% tags=["parameters"]
# Sizes for running this file by hand; the build injects the header's profile after this cell.
sizes = {"epochs": 60, "batch": 32, "fps": 15}

# %%
import keras
import numpy as np
from IPython.display import Image, display

from pipeline.library import Explainer
from pipeline.library.errors import TrainingDiverged
from pipeline.library.replay import (
    ReplayRecorder,
    default_layout,
    default_layout_notes,
    infer_task,
)
from pipeline.library.replay.browser_data import write_replay_data
from pipeline.library.replay.parallel_render import render_outputs
from pipeline.library.training import DivergenceGuard, fit_fast

ex = Explainer.from_parameters(globals())  # the build's parameters; seeds Python, NumPy, Keras
EPOCHS = int(ex.sizes["epochs"])

# %% [markdown] tags=["data"]
# ## The data
# Two interleaved half-moons from scikit-learn (`make_moons`), generated offline. Every point
# is used for training and is also the *probe set* the replay is drawn from. Replace this cell
# to use other data: it must define `X` (inputs, one row per example), `y` (targets) and
# record where the data came from with `ex.use_data(...)`.

# %% tags=["data"]
from pipeline.library.datasets import load_moons

X, y, source = load_moons(n_samples=500, noise=0.15, random_state=0)
X = X.astype("float32")
y = y.astype("float32")
ex.use_data(source)
print(source.description, X.shape, y.shape)

# %% [markdown] tags=["model"]
# ## The model
# Dense(8, tanh) -> Dense(2, tanh, named `hidden`) -> Dense(1, sigmoid), binary cross-entropy.
# The layers are named, so a resumed recording sees the same names as the original one. A
# 2-unit hidden layer gets a feature-space view; wider layers get a fixed PCA projection.

# %% tags=["model"]
def build_model() -> keras.Model:
    model = keras.Sequential([
        keras.Input(shape=(X.shape[1],)),
        keras.layers.Dense(8, activation="tanh", name="dense"),
        keras.layers.Dense(2, activation="tanh", name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


model = build_model()
model.summary()

# %% [markdown]
# ## Training, recorded
# `fit_fast` trains with the model's own `train_step`, one compiled call per epoch. The
# recorder snapshots the state before training (epoch 0) and after every epoch: weights,
# predictions, every point's loss, and the outputs of the hidden layer the replay draws when
# they cannot be computed from the weights (a convolution before it). It checkpoints, so a
# killed build resumes.

# %%
ckpt = ex.checkpoint_path("replay.npz")
recorder = ReplayRecorder.resume_or_start(ckpt, model, X, y,
                                          checkpoint_every=max(1, EPOCHS // 4))
try:
    if recorder.initial_epoch < EPOCHS:  # a finished checkpoint needs no training
        with ex.timer("train"):
            fit_fast(model, X, y, epochs=EPOCHS, batch_size=int(ex.sizes["batch"]), seed=ex.seed,
                     initial_epoch=recorder.initial_epoch,
                     callbacks=[recorder, DivergenceGuard()])
except TrainingDiverged as exc:
    ex.diverged(exc)
replay = recorder.replay()
task = infer_task(replay)
print(replay, "-", task.describe())

# %%
last = int(replay.epochs[-1])
ex.metric("epochs", last)
ex.metric("task", task.kind.value)
ex.metric("final_loss", round(float(replay.metrics["probe_loss"][-1]), 4))
if "probe_accuracy" in replay.metrics:
    ex.metric("final_accuracy", round(float(replay.metrics["probe_accuracy"][-1]), 4))
print({k: v for k, v in ex.metrics.items()})

# %% [markdown]
# ## The replay
# `default_layout(replay)` chooses the panels. The page draws them itself at every epoch from
# `replay.json` and `replay.bin` (`write_replay_data`: what the views need, checked against the
# recording; the build stops with what to thin if it is too large for a page); the same
# composition writes a still, the poster and a video to download. What it cannot draw for this
# model (say, a background behind a layer the numpy forward pass cannot run) is said on the
# page, with the reason.

# %%
for note in default_layout_notes(replay):
    ex.note(note)
if not ex.is_diverged:
    with ex.timer("render"):
        comp = default_layout(replay)
        data = write_replay_data(ex.asset_path("replay.json"), replay, comp, fps=ex.sizes["fps"])
        comp.still(last, ex.asset_path("still.png"))
        comp.poster(ex.asset_path("poster.png"))
        anim = render_outputs(None, replay, composition=comp, mp4_path=ex.asset_path("replay.mp4"),
                              fps=ex.sizes["fps"])
    panels = ", ".join(type(panel).__name__ for panel, _ in comp.panels)
    ex.add_output("still.png", kind="image",
                  alt=f"The replay after the last epoch ({last}) of training a {task.describe()}"
                      f": {panels}")
    ex.add_output("poster.png", kind="image", alt=f"The replay at epoch {last}")
    ex.add_output("replay.mp4", kind="video", poster="poster.png",
                  alt=f"Video of {len(anim['epochs'])} recorded epochs of training: {panels}")
    ex.add_output("replay.json", kind="live-replay", poster="poster.png", video="replay.mp4",
                  alt=f"The replay of {len(replay.epochs)} recorded epochs, drawn by the page: "
                      f"{panels}")
    print(f"page data: {data.total_bytes / 1e3:.0f} kB", *data.notes, sep="\n")
    display(Image(filename=str(ex.asset_path("still.png"))))

# %% [markdown]
# ## The replay file
# The recording is published beside the video, in the format
# `pipeline.library.replay.Replay.load` reads with numpy alone, so anyone can check the pictures
# against the model without training it again. It has a size budget (10 MB): when every epoch
# does not fit, every k-th epoch is published, and the text below says which.

# %%
published = replay.publish(ex.asset_path("replay.npz"))
epochs = published.epochs
which = f"all {len(epochs)} recorded epochs"
if len(epochs) < len(replay.epochs):
    which = (f"{len(epochs)} of the {len(replay.epochs)} recorded epochs (one every "
             f"{int(epochs[1] - epochs[0])}, and the last), to fit its size budget")
    ex.note(f"The published replay file holds {which}.")
ex.add_output("replay.npz", kind="replay",
              alt=f"The recorded training, {which} (numpy .npz replay file)")
print(published, "-", which)

# %% [markdown]
# The replay's last epoch is the trained model: its recorded predictions equal what Keras
# computes now.

# %%
if not replay.meta.get("from_logits"):
    np.testing.assert_allclose(
        replay.probabilities(last).reshape(len(X), -1),
        model.predict(X, batch_size=len(X), verbose=0).reshape(len(X), -1), atol=1e-4)
    print("the replay's last epoch matches the trained model")

# %%
ex.finish()

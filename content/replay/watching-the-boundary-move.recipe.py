# ---
# explainer:
#   title: Watching the boundary move
#   description: Gradient descent drags a decision boundary through two noisy moons, a straight cut in the first epoch, then a slow bend around the tips.
#   seed_article: "002 part 3 (decision boundary)"
#   datasets: [moons]
#   order: 11
#   seed: 1
#   timeout: 600
#   thumbnail: poster.png
#   profiles:
#     quick: {n_samples: 500, epochs: 100, batch: 32, learning_rate: 0.5, fps: 10, compare_seeds: 8}
#     full: {n_samples: 500, epochs: 100, batch: 32, learning_rate: 0.5, fps: 10, compare_seeds: 8}
# ---

# %% [markdown]
# # Watching the boundary move
#
# Seed article 002 (part 3) trains a one-hidden-layer network on noisy two-moons data and draws
# the predicted probability over the plane as a filled contour with the points on top,
# presenting it as watching gradient descent find the boundary. A single picture after
# training cannot show anything moving, so this recipe records every epoch and renders the
# boundary as a video, with the loss and accuracy beside it.

# %% tags=["parameters"]
# Sizes for running this file by hand; the build injects the header's profile after this cell.
seed = 1
sizes = {"n_samples": 500, "epochs": 100, "batch": 32, "learning_rate": 0.5, "fps": 10,
         "compare_seeds": 8}

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display
from matplotlib.figure import Figure

from pipeline.library.datasets import load_moons
from pipeline.library.errors import TrainingDiverged
from pipeline.library.palette import variant_name
from pipeline.library.replay import Composition, CurvesPanel, DecisionBoundaryPanel, ReplayRecorder
from pipeline.library.replay.browser_data import write_replay_data
from pipeline.library.replay.parallel_render import render_in_background
from pipeline.library.runtime import Explainer
from pipeline.library.training import DivergenceGuard, fit_fast

ex = Explainer.from_parameters(globals())  # the build's parameters; seeds Python, NumPy, Keras

EPOCHS = int(ex.sizes["epochs"])

# %% [markdown]
# ## Data and model, as in the article
# `make_moons(500, noise=0.1, random_state=0)`; Dense(20, relu) → Dense(1, sigmoid); SGD with
# learning rate 0.5; binary cross-entropy; 100 epochs in batches of 32. The article does not
# seed its initialisation; this recipe seeds it with the build seed (see the last section for
# what other seeds do).

# %%
X, y, moons_source = load_moons(n_samples=ex.sizes["n_samples"], noise=0.1, random_state=0)
X = X.astype("float32")
y = y.astype("float32")
ex.use_data(moons_source)
print(moons_source.description)


def build_model(init_seed: int) -> keras.Model:
    keras.utils.set_random_seed(init_seed)
    model = keras.Sequential([
        keras.Input(shape=(2,)),
        keras.layers.Dense(20, activation="relu", name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=ex.sizes["learning_rate"]),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


model = build_model(ex.seed)
model.summary()

# %% [markdown]
# ## Training, recorded
# The recorder keeps the weights (81 numbers), the predictions and the per-sample loss of all
# 500 points before training and after every epoch. No layer outputs are needed
# (`layers=[]`): the boundary is drawn by evaluating the replayed weights on a grid.

# %%
ckpt = ex.checkpoint_path("replay.npz")
# resumed from the checkpoint when a killed build of this key left one
recorder = ReplayRecorder.resume_or_start(ckpt, model, X, y, layers=[], checkpoint_every=25)
try:
    if recorder.initial_epoch < EPOCHS:  # a finished checkpoint needs no training
        with ex.timer("train"):
            fit_fast(model, X, y, epochs=EPOCHS, batch_size=ex.sizes["batch"], seed=ex.seed,
                     initial_epoch=recorder.initial_epoch,
                     callbacks=[recorder, DivergenceGuard()])
except TrainingDiverged as exc:
    ex.diverged(exc)
replay = recorder.replay()
print(replay)

# %%
accuracy = replay.metrics["probe_accuracy"]
loss = replay.metrics["probe_loss"]
last = int(replay.epochs[-1])
near_full = np.flatnonzero(accuracy >= 0.99)
ex.metric("init_seed", int(ex.seed))
ex.metric("epochs", last)
ex.metric("initial_accuracy", round(float(accuracy[0]), 4))
ex.metric("epoch1_accuracy", round(float(accuracy[replay.index(1)]), 4))
ex.metric("epoch10_accuracy", round(float(accuracy[replay.index(min(10, last))]), 4))
ex.metric("first_epoch_99", int(replay.epochs[near_full[0]]) if len(near_full) else None)
ex.metric("final_accuracy", round(float(accuracy[-1]), 4))
ex.metric("final_loss", round(float(loss[-1]), 4))
print({k: ex.metrics[k] for k in ("initial_accuracy", "epoch1_accuracy", "epoch10_accuracy",
                                  "first_epoch_99", "final_accuracy", "final_loss")})

# %% [markdown]
# ## The replay
# Left: the predicted probability of class 1 over the plane (red: class 0, blue: class 1, white:
# undecided), the 0.5 contour as a black line, and the 500 points. Right: loss and accuracy
# on the 500 points with the weights at the end of each epoch; the faint line is the whole
# run, the strong line and the dot stop at the epoch shown. The page draws this figure itself
# at any epoch from `replay.json` and `replay.bin` (the 500 points and the 81 weights of every
# epoch: its script evaluates the network on the same 200x200 grid); the video and the GIF
# are for downloading and for readers without JavaScript.

# %%
def boundary_panels():
    return [(DecisionBoundaryPanel(), (0, 0)),
            (CurvesPanel(("probe_loss", "probe_accuracy"), labels=("loss", "accuracy"),
                         title="Loss and accuracy", show_future=True), (0, 1))]


def boundary_composition(rep):
    return Composition(rep, boundary_panels(), figsize=(11, 4.6))


if not ex.is_diverged:
    with ex.timer("render"):
        comp = boundary_composition(replay)
        data = write_replay_data(ex.asset_path("replay.json"), replay, comp, fps=ex.sizes["fps"])
        webp = {"pil_kwargs": {"quality": 85}}  # a quarter of a PNG's bytes: the page stays light
        comp.still(last, ex.asset_path(f"boundary-epoch-{last}.webp"), **webp)
        comp.poster(ex.asset_path("poster.png"))
        # the MP4 and the GIF in one pass over the epochs, in a forked process while this one
        # goes on (light palette only: they are files to download); `video.result()` at the
        # end waits for them
        video = render_in_background(
            None, replay, composition=comp, mp4_path=ex.asset_path("boundary.mp4"),
            gif_path=ex.asset_path("boundary.gif"), fps=ex.sizes["fps"],
            preset="veryfast")  # as seed 000's: half of medium's encoding CPU
        comp.set_palette("dark")  # the still and the poster in both palettes
        comp.still(last, ex.asset_path(variant_name(f"boundary-epoch-{last}.webp", "dark")), **webp)
        comp.poster(ex.asset_path(variant_name("poster.png", "dark")))
    ex.add_output(f"boundary-epoch-{last}.webp", kind="image",
                  dark=variant_name(f"boundary-epoch-{last}.webp", "dark"),
                  alt=f"After {last} epochs: the decision boundary curves around the tips of "
                      f"both moons; accuracy {accuracy[-1]:.1%}, loss {loss[-1]:.3f}")
    ex.add_output("poster.png", kind="image", dark=variant_name("poster.png", "dark"),
                  alt=f"The decision boundary and the loss and accuracy curves after epoch {last}")
    ex.add_output("boundary.mp4", kind="video", poster="poster.png",
                  alt=f"Video of {len(replay.epochs)} epochs: the boundary jumps to a straight "
                      f"cut in the first epoch, then slowly bends around the tips of the moons "
                      f"while the loss falls and the accuracy rises")
    ex.add_output("boundary.gif", kind="gif", poster="poster.png",
                  alt="The same video as an animated GIF, at half size")
    ex.add_output("replay.json", kind="live-replay", poster="poster.png", video="boundary.mp4",
                  gif="boundary.gif",
                  alt=f"The decision boundary and the loss and accuracy curves at each of the "
                      f"{len(replay.epochs)} recorded epochs, drawn by the page")
    display(Image(filename=str(ex.asset_path("poster.png"))))
    print(f"{len(replay.epochs)} epochs; page data {data.total_bytes / 1e3:.0f} kB")

# %% [markdown]
# ## Six moments in one picture
# The same panel at six epochs side by side, for reading without playing the video.

# %%
moments = [e for e in (0, 1, 5, 20, 40, last) if e in replay.epochs]
if not ex.is_diverged:
    fig, axes = plt.subplots(1, len(moments), figsize=(2.6 * len(moments), 2.9),
                             sharex=True, sharey=True)
    for ax, epoch in zip(axes, moments, strict=True):
        panel = DecisionBoundaryPanel(resolution=150, point_size=1.5,
                                      title=f"epoch {epoch}: {accuracy[replay.index(epoch)]:.0%}")
        panel.setup(ax, replay)
        panel.update(epoch)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    ex.save_figure(fig, "moments.webp", dpi=75, pil_kwargs={"quality": 80},
                   alt="The decision boundary at epochs " + ", ".join(map(str, moments))
                       + ", with the accuracy at each: random at epoch 0, a nearly straight "
                         "cut after one epoch, then a line that bends further around the tips "
                         "of the moons")

# %% [markdown]
# ## Other initialisations
# The same training from other initial weights (seeds 0 to 7), final boundary and accuracy
# of each.

# %%
compare = []
with ex.timer("compare_seeds"):
    for s in range(int(ex.sizes["compare_seeds"])):
        if s == ex.seed:
            compare.append((s, replay))
            continue
        m = build_model(s)
        rec = ReplayRecorder(X, y, layers=[])
        fit_fast(m, X, y, epochs=EPOCHS, batch_size=ex.sizes["batch"], seed=s, callbacks=[rec])
        compare.append((s, rec.replay()))
final_accs = {s: float(r.metrics["probe_accuracy"][-1]) for s, r in compare}
cols = 4
rows = -(-len(compare) // cols)
fig, axes = plt.subplots(rows, cols, figsize=(2.7 * cols, 2.6 * rows), sharex=True, sharey=True,
                         squeeze=False)
for ax in axes.flat[len(compare):]:
    ax.set_visible(False)
for ax, (s, r) in zip(axes.flat, compare, strict=False):  # spare axes are hidden
    mark = " (this page)" if s == ex.seed else ""
    panel = DecisionBoundaryPanel(resolution=120, point_size=1.2,
                                  title=f"seed {s}{mark}: {final_accs[s]:.1%}")
    panel.setup(ax, r)
    panel.update(int(r.epochs[-1]))
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.tick_params(labelsize=7)
    ax.title.set_fontsize(9)
fig.tight_layout()
n_full = sum(a >= 0.99 for a in final_accs.values())
ex.metric("compare_seeds", len(final_accs))
ex.metric("compare_seeds_full", int(n_full))
ex.metric("compare_seeds_worst", round(min(final_accs.values()), 4))
ex.save_figure(fig, "other-seeds.webp", dpi=75, pil_kwargs={"quality": 80},
               alt=f"Final decision boundaries for initialisation seeds 0 to {len(compare) - 1}: "
                   f"{n_full} of {len(compare)} bend around the tips of the moons (accuracy 99% "
                   f"or more); the others stay almost straight at about "
                   f"{min(final_accs.values()):.0%}")
print({s: round(a, 3) for s, a in final_accs.items()})

# %% [markdown]
# ## A good start and a stuck one, side by side
# This page's seed against the seed that ends lowest: the stuck run's data goes beside this
# run's, and the page draws both on shared axes under one epoch slider. Its last epoch is
# drawn as a still for readers without JavaScript.

# %%
stuck = min(final_accs, key=final_accs.get)
ex.metric("stuck_seed", int(stuck))
ex.metric("stuck_seed_accuracy", round(final_accs[stuck], 4))
stuck_replay = dict(compare)[stuck]
with ex.timer("render_compare"):
    stuck_comp = boundary_composition(stuck_replay)
    write_replay_data(ex.asset_path("stuck.json"), stuck_replay, stuck_comp, fps=ex.sizes["fps"])
    stuck_comp.still(int(stuck_replay.epochs[-1]), ex.asset_path("stuck.webp"),
                     pil_kwargs={"quality": 85})
ex.add_output("stuck.webp", kind="image",
              alt=f"The decision boundary of seed {stuck} after the last epoch: a nearly "
                  f"straight cut, accuracy {final_accs[stuck]:.1%}")
ex.add_output("stuck.json", kind="live-replay", poster="stuck.webp",
              alt=f"The decision boundary of seed {stuck}, the run that ends lowest, drawn by "
                  "the page")
print(f"seed {ex.seed} vs stuck seed {stuck} ({final_accs[stuck]:.1%})")

# %% [markdown]
# ## The replay file, and a check
# The whole recording (101 epochs, about 0.4 MB) is published with the page. The check: the
# probability the panel draws on its grid after the last epoch equals what the trained Keras
# model predicts there.

# %%
replay.save(ex.asset_path("replay.npz"), compress=True)
ex.add_output("replay.npz", kind="replay",
              alt="The recorded training, every epoch (numpy .npz replay file)")
check = DecisionBoundaryPanel()
check.setup(Figure().add_subplot(), replay)  # a figure outside pyplot: nothing shown inline
np.testing.assert_allclose(check.probability_grid(last),
                           model.predict(check.grid_points, batch_size=8192, verbose=0)[:, 0]
                           .reshape(len(check.ys), len(check.xs)), atol=1e-5)
print("the drawn probabilities match model.predict on the grid")

# %%
if not ex.is_diverged:
    with ex.timer("video_wait"):  # rendered in the background since the replay cell
        rendered = video.result()
    print(f"video: {len(rendered['epochs'])} frames in {rendered['seconds']:.1f} s")

# %%
ex.finish()

# ---
# explainer:
#   title: What an autoencoder keeps
#   description: An MNIST autoencoder squeezes every digit into 32 numbers; watch those codes and the reconstructions take shape epoch by epoch.
#   seed_article: "002 part 2 (intermediate layer output)"
#   datasets: [mnist]
#   order: 20
#   timeout: 1800
#   thumbnail: codes-and-reconstructions.png
#   profiles:
#     quick: {train_limit: 12000, test_limit: 2000, epochs: 12, batch: 256, strip_rows: 7, fps: 3}
#     full: {train_limit: null, test_limit: null, epochs: 50, batch: 256, strip_rows: 11, fps: 6}
# ---

# %% [markdown]
# # What an autoencoder keeps
#
# Seed 002 (part 2) builds a 784-128-64-32-64-128-784 autoencoder for MNIST and draws ten
# digits next to their 32-number codes, reshaped to 8x4 pictures. Its code never trains the
# network, so the codes it draws are those of random weights. Here the autoencoder is trained,
# and the codes and reconstructions of ten fixed test digits are recorded after every epoch.

# %% tags=["parameters"]
# Sizes for running this file by hand; the build injects the header's profile after this cell.
sizes = {"train_limit": 12000, "test_limit": 2000, "epochs": 12, "batch": 256, "strip_rows": 7,
         "fps": 3}

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image

from pipeline.library.explainers.cnn_views import (ProbeRow, codes_to_images, epoch_strip_figure, pick_epochs,
                                probe_recorder, probe_rows_figure, update_probe_rows,
                                save_model_without_optimizer, write_mp4)
from pipeline.library.datasets import load_mnist
from pipeline.library.inspection import figure_to_array
from pipeline.library.palette import PALETTES, restyle_figure, variant_name
from pipeline.library.runtime import Explainer
from pipeline.library.training import fit_fast

ex = Explainer.from_parameters(globals())  # the build's parameters; seeds Python, NumPy, Keras

# %% [markdown]
# ## The data
# Real MNIST: pixels scaled to [0, 1] and flattened to 784 numbers, as in the seed. The ten
# probe digits are the first test image of each class 0-9; they are never trained on.

# %%
(x_train, y_train), (x_test, y_test), mnist_source = load_mnist(
    ex.data_dir, limit_train=ex.sizes["train_limit"], limit_test=ex.sizes["test_limit"])
ex.use_data(mnist_source)
print(mnist_source.description)
x_train = x_train.reshape(len(x_train), 784).astype("float32") / 255.0
x_test = x_test.reshape(len(x_test), 784).astype("float32") / 255.0
probe_index = np.array([int(np.flatnonzero(y_test == d)[0]) for d in range(10)])
probe_x = x_test[probe_index]
probe_labels = y_test[probe_index].astype(int)
ex.metric("n_train", len(x_train))
ex.metric("n_test", len(x_test))
print("train", x_train.shape, "test", x_test.shape, "probe test indices", probe_index.tolist())

# %% [markdown]
# ## The model (the seed's layers) and its training
# The seed's layer sizes and activations, compiled with Adam and per-pixel binary
# cross-entropy (the usual choice for [0, 1] pixels with a sigmoid output). `encoder` shares
# the first three layers, so it always reads the autoencoder's current weights.

# %%
inp = keras.Input(shape=(784,), name="pixels")
h = keras.layers.Dense(128, activation="relu", name="enc_128")(inp)
h = keras.layers.Dense(64, activation="relu", name="enc_64")(h)
code = keras.layers.Dense(32, activation="relu", name="code")(h)
h = keras.layers.Dense(64, activation="relu", name="dec_64")(code)
h = keras.layers.Dense(128, activation="relu", name="dec_128")(h)
out = keras.layers.Dense(784, activation="sigmoid", name="reconstruction")(h)
autoencoder = keras.Model(inp, out, name="autoencoder")
encoder = keras.Model(inp, code, name="encoder")
autoencoder.compile(optimizer="adam", loss="binary_crossentropy", metrics=["mse"])
autoencoder.summary()

recorder = probe_recorder({"codes": encoder, "reconstructions": autoencoder}, probe_x)
with ex.timer("train"):
    history = fit_fast(autoencoder, x_train, x_train, epochs=ex.sizes["epochs"],
                       batch_size=ex.sizes["batch"], validation_data=(x_test, x_test),
                       callbacks=[recorder], seed=ex.seed)
hist = history.history
rec = recorder.arrays()
epochs = np.array(recorder.epochs)
codes_by_epoch = rec["codes"]                 # (epochs + 1, 10, 32), epoch 0 = untrained
recons_by_epoch = rec["reconstructions"]      # (epochs + 1, 10, 784)
ex.metric("epochs", int(epochs[-1]))
ex.metric("val_loss", round(float(hist["val_loss"][-1]), 4))
ex.metric("val_mse", round(float(hist["val_mse"][-1]), 4))
print(f"after {epochs[-1]} epochs: val loss {hist['val_loss'][-1]:.4f}, "
      f"val MSE {hist['val_mse'][-1]:.4f}")

# %%
fig, (ax_l, ax_m) = plt.subplots(1, 2, figsize=(10, 3.4))
ep = np.arange(1, len(hist["loss"]) + 1)
ax_l.plot(ep, hist["loss"], "o-", ms=3, label="train")
ax_l.plot(ep, hist["val_loss"], "s--", ms=3, label="test")
ax_l.set(xlabel="epoch", ylabel="binary cross-entropy per pixel", title="Loss")
ax_m.plot(ep, hist["mse"], "o-", ms=3, label="train")
ax_m.plot(ep, hist["val_mse"], "s--", ms=3, label="test")
ax_m.set(xlabel="epoch", ylabel="mean squared error per pixel", title="Reconstruction error")
for ax in (ax_l, ax_m):
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
fig.tight_layout()
ex.save_figure(fig, "loss.png",
               alt=f"Training and test loss and reconstruction error over {len(ep)} epochs; the "
                   f"test MSE ends at {hist['val_mse'][-1]:.4f}")

# %% [markdown]
# ## Ten digits, their codes and their reconstructions
# The middle row is the `code` layer's output for each digit, the seed's `reshape(8, 4)`:
# unit *i* sits at row *i* // 4, column *i* % 4. One colour scale for all ten codes, so a
# bright square means the same value in every column.

# %%
final_codes = encoder.predict(probe_x, verbose=0)
final_recons = autoencoder.predict(probe_x, verbose=0)
assert np.allclose(final_codes, codes_by_epoch[-1], atol=1e-5), "recorder missed the last epoch"
code_vmax = float(codes_by_epoch.max())
col_titles = [f"digit {d}" for d in probe_labels]
fig, shown = probe_rows_figure(
    [ProbeRow("input", probe_x.reshape(10, 28, 28), vmin=0, vmax=1),
     ProbeRow("code (8x4)", codes_to_images(final_codes), cmap="magma", vmin=0,
              vmax=float(final_codes.max()), colorbar=True),
     ProbeRow("reconstruction", final_recons.reshape(10, 28, 28), vmin=0, vmax=1)],
    col_titles=col_titles, panel_size=1.1,
    title=f"After {epochs[-1]} epochs")
ex.save_figure(fig, "codes-and-reconstructions.png",
               alt="Ten MNIST test digits 0-9 (top row), the 32 numbers the trained encoder "
                   "keeps for each, drawn as 8x4 pictures (middle row), and the decoder's "
                   "reconstruction from those 32 numbers alone (bottom row)")
final_shown = shown

# %%
test_codes = encoder.predict(x_test, verbose=0)
dead = [int(u) for u in np.flatnonzero(test_codes.max(axis=0) == 0)]
ex.metric("dead_code_units", len(dead))
print(f"code units that are zero for every test digit: {dead or 'none'}")
class_means = np.stack([test_codes[y_test == d].mean(axis=0) for d in range(10)])
fig, ax = plt.subplots(figsize=(9, 3.2))
im = ax.imshow(class_means, cmap="magma", aspect="auto", interpolation="nearest")
ax.set(xlabel="code unit", ylabel="digit class",
       title=f"Mean code per class over {len(x_test):,} test digits")
ax.set_yticks(range(10))
ax.set_xticks(range(0, 32, 2))
fig.colorbar(im, ax=ax, fraction=0.025)
fig.tight_layout()
ex.save_figure(fig, "code-units.png",
               alt="Heat map of the mean value of each of the 32 code units for each digit class; "
                   f"{len(dead)} units are zero for every test digit")

# %% [markdown]
# ## How the codes and reconstructions change while it trains
# Epoch 0 is the untrained network (what the seed's code draws). Every row below is the
# recorder's `encoder.predict` / `autoencoder.predict` after that many epochs.

# %%
strip_epochs = pick_epochs(epochs, ex.sizes["strip_rows"])
rows = [int(np.flatnonzero(epochs == e)[0]) for e in strip_epochs]
fig, strip_codes = epoch_strip_figure(
    codes_to_images(codes_by_epoch[rows]), strip_epochs, col_titles=col_titles, cmap="magma",
    vmin=0, vmax=code_vmax, colorbar_label="code value",
    title="Codes (8x4) of the ten probe digits, epoch by epoch")
ex.save_figure(fig, "codes-over-epochs.png",
               alt=f"Grid of the 8x4 codes of the ten probe digits at epochs "
                   f"{', '.join(map(str, strip_epochs))}: random-looking at epoch 0, then "
                   "distinct patterns per digit")
fig, strip_recons = epoch_strip_figure(
    recons_by_epoch[rows].reshape(len(rows), 10, 28, 28), strip_epochs, col_titles=col_titles,
    vmin=0, vmax=1, title="Reconstructions of the ten probe digits, epoch by epoch")
ex.save_figure(fig, "reconstructions-over-epochs.png",
               alt=f"Grid of the reconstructions of the ten probe digits at epochs "
                   f"{', '.join(map(str, strip_epochs))}: grey noise at epoch 0, then blurry "
                   "and finally sharp digits")

# %%
val_by_epoch = [float("nan")] + [float(v) for v in hist["val_loss"]]


def probe_rows(i: int) -> list[ProbeRow]:
    return [ProbeRow("input", probe_x.reshape(10, 28, 28), vmin=0, vmax=1),
            ProbeRow("code (8x4)", codes_to_images(codes_by_epoch[i]), cmap="magma", vmin=0,
                     vmax=code_vmax),
            ProbeRow("reconstruction", recons_by_epoch[i].reshape(10, 28, 28), vmin=0, vmax=1)]


def frame_title(i: int) -> str:
    return (f"epoch {epochs[i]}" + ("  (untrained)" if epochs[i] == 0 else
                                    f"   test loss {val_by_epoch[i]:.4f}"))


def frames_for(palette: str) -> list[np.ndarray]:
    """Every epoch's frame: one figure per palette, only its pictures and title change."""
    fig = Figure(figsize=(11.5, 3.9), dpi=80)
    probe_rows_figure(probe_rows(0), col_titles=col_titles, figure=fig, title=frame_title(0))
    restyle_figure(fig, palette)  # the dark palette's version: theme colours only
    frames = []
    for i in range(len(epochs)):
        update_probe_rows(fig, probe_rows(i), title=frame_title(i))
        frames.append(figure_to_array(fig))
    return frames


with ex.timer("render"):
    for palette in PALETTES:  # a light and a dark video, from the same arrays
        frames = frames_for(palette)
        frames += [frames[-1]] * int(ex.sizes["fps"] * 2)  # hold the trained state for two seconds
        write_mp4(ex.asset_path(variant_name("training.mp4", palette)), frames, fps=ex.sizes["fps"])
        Image.fromarray(frames[-1]).save(ex.asset_path(variant_name("training-poster.png", palette)))
ex.add_output("training-poster.png", kind="image", dark=variant_name("training-poster.png", "dark"),
              alt="The last frame of the training video: digits, codes and reconstructions "
                  f"after epoch {epochs[-1]}")
ex.add_output("training.mp4", kind="video", poster="training-poster.png",
              dark=variant_name("training.mp4", "dark"),
              alt=f"Animation over {len(epochs)} frames (epoch 0 to {epochs[-1]}): the ten "
                  "probe digits, their 8x4 codes and their reconstructions as the autoencoder "
                  "trains")

# %% [markdown]
# ## What the page's pictures were drawn from
# The arrays drawn above and the trained model are saved, so a test can recompute every
# picture with `encoder.predict` / `autoencoder.predict` and compare. (The reconstructions of
# every epoch are not kept: 784 numbers per digit per epoch would make the file several MB.)

# %%
save_model_without_optimizer(autoencoder, ex.asset_path("autoencoder.keras"))
ex.add_output("autoencoder.keras", kind="data",
              alt="The trained autoencoder (Keras format); its 'code' layer is the encoder")
np.savez_compressed(
    ex.asset_path("probe-arrays.npz"),
    probe_x=probe_x, probe_labels=probe_labels, probe_test_index=probe_index, epochs=epochs,
    codes_by_epoch=codes_by_epoch,   # every epoch's codes; reconstructions only as drawn below
    shown_codes=final_shown["code (8x4)"], shown_recons=final_shown["reconstruction"],
    strip_epochs=np.array(strip_epochs), strip_codes=strip_codes, strip_recons=strip_recons)
ex.add_output("probe-arrays.npz", kind="data",
              alt="The probe digits and every code and reconstruction drawn on the page")

# %%
ex.finish()

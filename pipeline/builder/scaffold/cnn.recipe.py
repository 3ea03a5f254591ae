# ---
# explainer:
#   title: "${title}"
#   description: "${description}"
#   section: ${section}
#   datasets: []
#   data:
#     - sklearn: load_digits
#   seed: 0
#   timeout: 900
#   thumbnail: replay-poster.png
#   profiles:
#     quick: {epochs: 12, batch: 64, probe: 300}
#     full: {epochs: 40, batch: 32, probe: 450}
# jupyter:
#   kernelspec: {name: python3, display_name: Python 3, language: python}
# ---

# %% [markdown]
# # ${title}
#
# ${description}
#
# This recipe came from the CNN scaffold (`python -m pipeline new ${slug} --section ${section}
# --template cnn`). A small convolutional network learns scikit-learn's 8x8 handwritten digits
# (bundled with scikit-learn: it builds offline). The page shows what its convolution layers
# compute for one digit, where it looks when it decides (Grad-CAM), and a replay of its last
# hidden layer over training. To make it yours, change the cells tagged `data` and `model`.

# %% tags=["parameters"]
# Sizes for running this file by hand; the build injects the header's profile after this cell.
sizes = {"epochs": 12, "batch": 64, "probe": 300}

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

from pipeline.library import Explainer, ReplayRecorder, publish_replay
from pipeline.library.attribution import grad_cam, overlay
from pipeline.library.inspection import feature_map_grid, feature_maps
from pipeline.library.training import fit_fast

ex = Explainer.from_parameters(globals())  # the build's parameters; seeds Python, NumPy, Keras

# %% [markdown] tags=["data"]
# ## The data
# 1,797 grey images of handwritten digits, 8x8 pixels with values 0-16, scaled to 0-1. A fixed,
# stratified quarter is held out: the test set, and the first `probe` of its images are the
# *probe set* the replay records at every epoch. Replace this cell to use other images: it must
# define `x_train`, `y_train`, `x_test`, `y_test` (images `(n, H, W, C)`, integer labels) and
# `class_names`.

# %% tags=["data"]
from sklearn.model_selection import train_test_split

digits = ex.open_data({"sklearn": "load_digits"})  # declared in the header: shown on the page
images = (digits.images / 16.0).astype("float32")[..., None]
x_train, x_test, y_train, y_test = train_test_split(
    images, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
class_names = [str(d) for d in range(10)]
print(x_train.shape, x_test.shape)

# %% [markdown] tags=["model"]
# ## The model
# Two 3x3 convolutions (8 and 16 channels, named `conv1` and `conv2`), 2x2 max pooling, a
# 32-unit dense layer named `hidden` and a 10-way softmax. The names are what the pictures
# below refer to.

# %% tags=["model"]
model = keras.Sequential([
    keras.Input(shape=x_train.shape[1:]),
    keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
    keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
    keras.layers.MaxPooling2D(2, name="pool"),
    keras.layers.Flatten(name="flatten"),
    keras.layers.Dense(32, activation="relu", name="hidden"),
    keras.layers.Dense(len(class_names), activation="softmax", name="output"),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()

# %% [markdown]
# ## Training, recorded
# The recorder keeps, at epoch 0 and after every epoch, only what the replay draws: the
# `hidden` layer's output, the predictions and every probe image's loss (no weights, no other
# layers), so the replay file stays small.

# %%
n_probe = min(int(ex.sizes["probe"]), len(x_test))
probe_x, probe_y = x_test[:n_probe], y_test[:n_probe]
recorder = ReplayRecorder(probe_x, probe_y, layers=["hidden"], weights=False)
with ex.timer("train"):
    fit_fast(model, x_train, y_train, epochs=int(ex.sizes["epochs"]),
             batch_size=int(ex.sizes["batch"]), seed=ex.seed, callbacks=[recorder])
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
ex.metric("test_accuracy", round(float(accuracy), 4))
ex.metric("epochs", int(ex.sizes["epochs"]))
print(f"test accuracy {accuracy:.3f}")

# %% [markdown]
# ## Feature maps
# What the two convolution layers compute for the first test digit: one small image per
# channel, each on its own colour scale (yellow: strong activation).

# %%
sample = x_test[0]
maps = feature_maps(model, sample, ["conv1", "conv2"])
for name, shape_note in (("conv1", "8 channels"), ("conv2", "16 channels")):
    fig, shown = feature_map_grid(maps[name], title=f"{name}: {shape_note} for a {y_test[0]}")
    ex.save_figure(fig, f"{name}-maps.png",
                   alt=f"The {shown.shape[-1]} channels of layer {name} for a test image of the "
                       f"digit {y_test[0]}, each on its own colour scale")

# %% [markdown]
# ## Where it looks: Grad-CAM
# For six test digits, Grad-CAM weighs each channel of `conv2` by how much the predicted class's
# score grows with it, and keeps the positive evidence: red areas are the pixels that made the
# network choose its answer.

# %%
picked = list(range(6))
predicted = model.predict(x_test[picked], verbose=0).argmax(axis=1)
fig, axes = plt.subplots(2, len(picked), figsize=(1.6 * len(picked), 3.6))
for col, i in enumerate(picked):
    cam = grad_cam(model, x_test[i], target=int(predicted[col]), layer="conv2")
    axes[0, col].imshow(x_test[i][..., 0], cmap="gray_r")
    axes[0, col].set_title(f"a {y_test[i]}", fontsize=9)
    axes[1, col].imshow(overlay(x_test[i], cam, alpha=0.5))
    axes[1, col].set_title(f"says {class_names[predicted[col]]}", fontsize=9)
    for ax in axes[:, col]:
        ax.set_axis_off()
fig.tight_layout()
ex.save_figure(fig, "grad-cam.png",
               alt="Six test digits (top) and their Grad-CAM maps at layer conv2 for the "
                   "predicted class (bottom): red marks the strokes that drove each answer")

# %% [markdown]
# ## The replay
# `publish_replay` draws the recorded run: the `hidden` layer's 32 dimensions in a fixed PCA
# plane, the probability of the true class, the loss curves and every probe image's loss; a
# still, a poster, a video and the frames of the page's epoch scrubber, in both palettes.

# %%
published = publish_replay(ex, recorder, description="a digit classifier's hidden layer")
display(Image(filename=str(ex.asset_path(published.still))))

# %% [markdown]
# The replay's last epoch is the trained model: its recorded predictions equal what Keras
# computes now.

# %%
replay = recorder.replay()
np.testing.assert_allclose(replay.probabilities(int(replay.epochs[-1])),
                           model.predict(probe_x, verbose=0), atol=1e-4)
print("the replay's last epoch matches the trained model")

# %%
ex.finish()

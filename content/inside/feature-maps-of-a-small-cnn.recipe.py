# ---
# explainer:
#   title: Feature maps of a small CNN
#   description: Every channel of the three convolution layers of an MNIST CNN, for a digit and for a cat photo, before and after training.
#   seed_article: "002 part 4 (CNN feature maps)"
#   datasets: [mnist, cat_photo]
#   order: 21
#   timeout: 1800
#   thumbnail: cat-conv1.png
#   profiles:
#     quick: {train_limit: 12000, test_limit: 2000, epochs: 3, batch: 128, mixed_precision: true}
#     full: {train_limit: null, test_limit: null, epochs: 6, batch: 128, mixed_precision: true}
# ---

# %% [markdown]
# # Feature maps of a small CNN
#
# Seed 002 (part 4) stacks Conv2D(32) - MaxPool - Conv2D(64) - MaxPool - Conv2D(64) on a 28x28
# grey input, feeds it a cat photo and draws channel 0 of the first layers' outputs. Its
# network is never trained, so those maps come from random filters. Here the same layers get a
# small classification head (Flatten - Dense(64) - Dense(10)) and are trained on MNIST, and
# **every** channel of all three convolution layers is drawn, for the cat and for a digit, next
# to the maps of the same network before training.

# %% tags=["parameters"]
# Sizes for running this file by hand; the build injects the header's profile after this cell.
sizes = {"train_limit": 12000, "test_limit": 2000, "epochs": 3, "batch": 128, "mixed_precision": True}

# %%
import keras
import matplotlib.pyplot as plt
import numpy as np

from pipeline.library.explainers.cnn_views import (feature_map_pair_figure, save_model_without_optimizer,
                                to_unit_gray)
from pipeline.library.datasets import load_cat_photo, load_mnist
from pipeline.library.inspection import feature_maps
from pipeline.library.precision import compute_dtype
from pipeline.library.runtime import Explainer
from pipeline.library.training import fit_fast, float32_copy

ex = Explainer.from_parameters(globals())  # the build's parameters; seeds Python, NumPy, Keras

# %%
(x_train, y_train), (x_test, y_test), mnist_source = load_mnist(
    ex.data_dir, limit_train=ex.sizes["train_limit"], limit_test=ex.sizes["test_limit"])
ex.use_data(mnist_source)
print(mnist_source.description)
x_train = (x_train.astype("float32") / 255.0)[..., None]
x_test = (x_test.astype("float32") / 255.0)[..., None]

cat_rgb, cat_source = load_cat_photo(ex.data_dir)
ex.use_data(cat_source)
print(cat_source.description)
cat = to_unit_gray(cat_rgb, 28)          # (28, 28, 1) in [0, 1], like the seed's img_tensor
digit = x_test[0]                        # the first MNIST test digit
digit_label = int(y_test[0])
inputs = {"cat": cat, "digit": digit}

# %% [markdown]
# ## The network
# The seed's three convolutions, with names, plus a head so it can learn to classify digits.
# `untrained` is a copy taken before training: same architecture, the same initial weights.
# Training uses mixed precision where it is faster than float32 (float16 on a GPU, bfloat16 on
# a CPU with bfloat16 matrix units); the weights stay float32, and every map below is computed
# in float32 from them.

# %%
policy = ex.enable_mixed_precision() if ex.sizes.get("mixed_precision") else None
ex.metric("mixed_precision", policy is not None)
ex.metric("training_compute_dtype", compute_dtype(policy))
model = keras.Sequential([
    keras.Input(shape=(28, 28, 1), name="image"),
    keras.layers.Conv2D(32, (3, 3), activation="relu", name="conv1"),
    keras.layers.MaxPooling2D((2, 2), name="pool1"),
    keras.layers.Conv2D(64, (3, 3), activation="relu", name="conv2"),
    keras.layers.MaxPooling2D((2, 2), name="pool2"),
    keras.layers.Conv2D(64, (3, 3), activation="relu", name="conv3"),
    keras.layers.Flatten(name="flatten"),
    keras.layers.Dense(64, activation="relu", name="dense"),
    keras.layers.Dense(10, activation="softmax", name="digit", dtype="float32"),  # exact softmax
], name="small_cnn")
untrained = keras.models.clone_model(model)
untrained.set_weights(model.get_weights())
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()

with ex.timer("train"):
    history = fit_fast(model, x_train, y_train, epochs=ex.sizes["epochs"],
                       batch_size=ex.sizes["batch"],
                       validation_data=(x_test, y_test), seed=ex.seed)
acc = float(history.history["val_accuracy"][-1])
ex.metric("test_accuracy", round(acc, 4))
ex.metric("epochs", ex.sizes["epochs"])
ex.metric("n_train", len(x_train))
ex.metric("n_test", len(x_test))
print(f"test accuracy after {ex.sizes['epochs']} epochs: {acc:.4f}")
if policy:  # everything drawn from here on computes in float32 (the same weights)
    model, untrained = float32_copy(model), float32_copy(untrained)
    keras.mixed_precision.set_global_policy("float32")

# %% [markdown]
# ## The two inputs
# The cat photo (451x300 pixels) is converted to grey and squashed to 28x28, as the seed's
# `load_img(..., target_size=(28, 28), color_mode="grayscale")` does, but with an
# antialiasing filter. MNIST digits are white strokes on black; the cat is nothing like them.

# %%
probs = {name: model.predict(x[None], verbose=0)[0] for name, x in inputs.items()}
fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
axes[0].imshow(cat_rgb)
axes[0].set_title("the photo (451x300)")
axes[1].imshow(cat[..., 0], cmap="gray", vmin=0, vmax=1)
axes[1].set_title(f"cat, 28x28 grey\nread as '{int(probs['cat'].argmax())}' "
                  f"(p={probs['cat'].max():.2f})", fontsize=10)
axes[2].imshow(digit[..., 0], cmap="gray", vmin=0, vmax=1)
axes[2].set_title(f"test digit 0 (a {digit_label})\nread as '{int(probs['digit'].argmax())}' "
                  f"(p={probs['digit'].max():.2f})", fontsize=10)
for ax in axes:
    ax.set_axis_off()
fig.tight_layout()
ex.save_figure(fig, "inputs.png",
               alt="The cat photo, the same photo as the 28x28 grey input the network sees, and "
                   "the MNIST test digit, each with the trained network's prediction")
ex.metric("cat_read_as", int(probs["cat"].argmax()))
ex.metric("cat_read_as_p", round(float(probs["cat"].max()), 3))
ex.metric("digit_label", digit_label)
ex.metric("digit_read_as", int(probs["digit"].argmax()))

# %% [markdown]
# ## Every channel of every convolution layer, untrained and trained
# Each small square is one channel of the layer's output for the input, with its own colour
# scale (channel magnitudes differ a lot). A red "(0)" marks a channel that is zero everywhere:
# its ReLU never fires for this input.

# %%
conv_layers = ["conv1", "conv2", "conv3"]
shown: dict[str, np.ndarray] = {}
dead_counts: dict[str, int] = {}
for input_name, x in inputs.items():
    maps_u = feature_maps(untrained, x, conv_layers)
    maps_t = feature_maps(model, x, conv_layers)
    for layer in conv_layers:
        h, w, c = maps_t[layer].shape
        fig, (left, right) = feature_map_pair_figure(
            maps_u[layer], maps_t[layer], titles=("untrained (random filters)", "trained on MNIST"),
            suptitle=f"{layer}: all {c} channels ({h}x{w}) for the {input_name}")
        name = f"{input_name}-{layer}.png"
        ex.save_figure(fig, name,
                       alt=f"All {c} channels of layer {layer} ({h}x{w} each) for the "
                           f"{input_name} input: the untrained network on the left, the trained "
                           "one on the right, each channel labelled with its index")
        shown[f"{input_name}__untrained__{layer}"] = left
        shown[f"{input_name}__trained__{layer}"] = right
        for state, arr in (("untrained", left), ("trained", right)):
            dead_counts[f"{input_name}_{state}_{layer}"] = int((arr.max(axis=(0, 1)) == 0).sum())
# Channels that fire on the blank background of the digit (where the 3x3 input patch is all
# zeros, a channel's output is ReLU(bias)): untrained biases are zero, so none do.
blank = np.ones((26, 26), bool)
for dy in range(3):
    for dx in range(3):
        blank &= digit[dy:dy + 26, dx:dx + 26, 0] == 0
for state, key in (("untrained", "digit__untrained__conv1"), ("trained", "digit__trained__conv1")):
    fires = int((shown[key][blank].mean(axis=0) > 0).sum())
    ex.metric(f"background_channels_{state}_conv1", fires)
for key, value in dead_counts.items():
    ex.metric(f"silent_channels_{key}", value)
print("channels that are zero everywhere:", dead_counts)

# %% [markdown]
# ## The filters that made the first maps
# conv1's 32 kernels are 3x3 weights on the single grey channel. Before training they are
# Glorot-uniform noise; after training many are small edge and stroke detectors.

# %%
kernel_u = untrained.get_layer("conv1").get_weights()[0]   # (3, 3, 1, 32)
kernel_t = model.get_layer("conv1").get_weights()[0]
lim = float(max(np.abs(kernel_u).max(), np.abs(kernel_t).max()))
fig, axes = plt.subplots(4, 16, figsize=(12, 3.9))
for block, (kernel, title) in enumerate(((kernel_u, "untrained"), (kernel_t, "trained"))):
    filters = np.moveaxis(kernel[:, :, 0, :], -1, 0)      # (32, 3, 3)
    for i in range(32):
        ax = axes[2 * block + i // 16, i % 16]
        ax.imshow(filters[i], cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(str(i), fontsize=7, pad=2)
    axes[2 * block, 0].set_ylabel(title, fontsize=9, rotation=0, ha="right", va="center")
fig.suptitle(f"conv1's 32 kernels (3x3), one colour scale: red positive, blue negative, "
             f"|w| up to {lim:.2f}", fontsize=10)
fig.tight_layout()
ex.save_figure(fig, "conv1-filters.png",
               alt="The 32 3x3 kernels of conv1 before training (random) and after training, "
                   "red for positive and blue for negative weights")
shown["conv1_kernel_untrained"] = kernel_u
shown["conv1_kernel_trained"] = kernel_t

# %% [markdown]
# ## What the pictures were drawn from
# The two models and every array drawn above, so a test can recompute each grid as the
# layer's output for that input.

# %%
save_model_without_optimizer(model, ex.asset_path("cnn-trained.keras"))
save_model_without_optimizer(untrained, ex.asset_path("cnn-untrained.keras"))
ex.add_output("cnn-trained.keras", kind="data", alt="The trained CNN (Keras format)")
ex.add_output("cnn-untrained.keras", kind="data",
              alt="The same CNN with its initial, untrained weights (Keras format)")
np.savez_compressed(ex.asset_path("feature-maps.npz"), cat=cat, digit=digit, **shown)
ex.add_output("feature-maps.npz", kind="data",
              alt="The two inputs and every feature map drawn on the page")

# %%
ex.finish()

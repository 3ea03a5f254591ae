# ---
# explainer:
#   title: Inside a CIFAR-10 all-convolutional net
#   description: Nine ELU convolutions learn CIFAR-10; watch accuracy, cost and every layer's weights change, see what layers 3, 6 and 9 make of a test image, and which pixels drove its prediction (interior and integrated gradients).
#   seed_article: "003 (inside a CIFAR-10 all-convolutional net)"
#   datasets: [cifar10]
#   order: 30
#   timeout: 10800
#   thumbnail: integrated-gradients.png
#   profiles:
#     quick: {width: 32, full_data: false, train_per_class: 250, test_per_class: 100, epochs: 6, batch: 64, learning_rate: 0.001, n_explain: 4, ig_start_steps: 32, ig_tol: 0.01, ig_epochs: 4, mixed_precision: true}
#     full: {width: 128, full_data: true, train_per_class: 900, test_per_class: 100, epochs: 7, batch: 128, learning_rate: 0.001, n_explain: 4, ig_start_steps: 32, ig_tol: 0.01, ig_epochs: 4, mixed_precision: true}
# ---

# %% [markdown]
# # Inside a CIFAR-10 all-convolutional net
#
# Seed 003 trains the all-convolutional net of Springenberg et al. (2015) on CIFAR-10 and
# looks inside it three ways: the weight histograms of every layer before and after training,
# the activations after layers 3, 6 and 9 for one test image, and interior and integrated
# gradients (Sundararajan et al. 2017) for which pixels drove a prediction. This notebook does
# all three on a network it trains itself, records the weights after every epoch, and saves
# the arrays behind every picture so the project's tests can recompute them.

# %% tags=["parameters"]
# Sizes for running this file by hand; the build injects the header's profile after this cell.
sizes = {"width": 32, "full_data": False, "train_per_class": 250, "test_per_class": 100,
         "epochs": 6, "batch": 64, "learning_rate": 0.001, "n_explain": 4,
         "ig_start_steps": 32, "ig_tol": 0.01, "mixed_precision": True}

# %%
import json
import math

import keras
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from pipeline.library import atomic, backends
from pipeline.library import attribution as attr
from pipeline.library.explainers.cifar_views import (ACTIVATION_LAYERS, CONV_LAYERS, all_conv_net, batch_recorder,
                                  integrated_gradients_same_steps, load_cifar10_for_build,
                                  pick_examples)
from pipeline.library.explainers.cnn_views import save_model_without_optimizer
from pipeline.library.datasets import CIFAR10_CLASSES
from pipeline.library.errors import TrainingDiverged
from pipeline.library.inspection import activation_strip_gif, feature_map_grid, feature_maps, weight_histograms
from pipeline.library.palette import PALETTES, restyle_figure, variant_name
from pipeline.library.precision import compute_dtype
from pipeline.library.replay import ReplayRecorder, weight_ridgeline
from pipeline.library.replay.composer import select_epochs
from pipeline.library.runtime import Explainer
from pipeline.library.training import DivergenceGuard, fit_fast, float32_copy

ex = Explainer.from_parameters(globals())  # the build's parameters; seeds Python, NumPy, Keras

# %% [markdown]
# ## The data
# The full profile asks for the real thing: all 50,000 CIFAR-10 training images and the
# 10,000 test images through the Keras loader. Without internet (and without Keras's cache)
# it reads the same 60,000 images from the offline JPEG copy of the official split (lossy,
# about 6/255 per pixel; test images 0-19 exact). Only if that copy is missing too does it fall
# back to a split of the JPEG copy of the official *test* set. The quick profile always uses
# that small pool. Which one this run used is printed below and stated on the page.
# Pixels are scaled to [0, 1]; the network standardises them itself (its first layer), so a
# black image is exactly 0, the baseline of the integrated gradients below.

# %%
data = load_cifar10_for_build(ex.data_dir, prefer_full=bool(ex.sizes["full_data"]),
                              train_per_class=ex.sizes["train_per_class"],
                              test_per_class=ex.sizes["test_per_class"])
ex.use_data(data.source)
(x_train_u8, y_train), (x_test_u8, y_test) = data.train, data.test
x_train = x_train_u8.astype("float32") / 255.0
x_test = x_test_u8.astype("float32") / 255.0
y_train = y_train.reshape(-1, 1).astype("int64")
y_test = y_test.reshape(-1, 1).astype("int64")
if ex.sizes["full_data"] and not data.full_dataset:
    ex.note("The full profile asked for all of CIFAR-10 through the Keras loader, which was not "
            "available (offline); it trained on the largest offline data instead: " + data.summary + ".")
elif ex.sizes["full_data"] and data.source.origin == "verified-copy":
    ex.note("Trained on " + data.summary + ".")
ex.metric("n_train", len(x_train))
ex.metric("n_test", len(x_test))
ex.metric("full_dataset", bool(data.full_dataset))
ex.metric("data_summary", data.summary)
print(data.source.description)
print(data.summary)
print("train", x_train.shape, "test", x_test.shape,
      "train images per class", np.bincount(y_train[:, 0], minlength=10).tolist())

# %% [markdown]
# ## The network
# Nine 3x3 convolutions with ELU, all of the same width (128 in the article and the full
# profile; the quick profile uses a narrower copy so it trains in a minute or two on a CPU),
# mean pooling after the third and the sixth, global average pooling and a softmax over the
# ten classes. The softmax read-out is a `Dense(10)` after the average: that is the same
# function as the All-CNN's last 1x1 convolution to 10 channels before it (both are linear),
# and it keeps layer 9 at full width so its channels can be drawn. Weights start He-normal
# (standard deviation sqrt(2 / fan-in)), the usual choice for ELU.

# %%
mean = x_train.mean(axis=(0, 1, 2))
variance = x_train.var(axis=(0, 1, 2))
# Mixed precision (header: mixed_precision) only where it is faster than float32: float16
# compute on a GPU, bfloat16 on a CPU with bfloat16 matrix units (and TensorFlow's oneDNN on);
# the weights stay float32 and every picture below is computed in float32 from them.
policy = ex.enable_mixed_precision() if ex.sizes.get("mixed_precision") else None
mixed = policy is not None
ex.metric("mixed_precision", mixed)
ex.metric("training_compute_dtype", compute_dtype(policy))
model = all_conv_net(ex.sizes["width"], mean=mean, variance=variance)
model.compile(optimizer=keras.optimizers.Adam(ex.sizes["learning_rate"]),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.summary()
ex.metric("width", int(ex.sizes["width"]))
ex.metric("n_params", int(model.count_params()))

# %% [markdown]
# ## Training, recorded
# A `ReplayRecorder` keeps every weight of every layer before training (epoch 0) and after
# each epoch, with a checkpoint, so a killed build resumes where it stopped. A batch recorder
# keeps the loss and accuracy of every training batch. The test set is evaluated after every
# epoch (and once before training).

# %%
steps_per_epoch = math.ceil(len(x_train) / ex.sizes["batch"])
probe_x, probe_y = x_test[:20], y_test[:20]        # official test images 0-19 (exact)
ckpt = ex.checkpoint_path("replay.npz")
start_file = ex.checkpoint_path("epoch0.json")
# Resumed from the checkpoint when a killed build of this key left one. layers=["readout"]: the
# probe set's class probabilities (tiny); the weights are what we want.
recorder = ReplayRecorder.resume_or_start(ckpt, model, probe_x, probe_y, layers=["readout"],
                                          checkpoint_every=1)
if start_file.exists():
    start = json.loads(start_file.read_text())
else:
    with ex.timer("evaluate"):
        tr = model.evaluate(x_train, y_train, batch_size=512, verbose=0)
        te = model.evaluate(x_test, y_test, batch_size=512, verbose=0)
    start = {"loss": tr[0], "accuracy": tr[1], "val_loss": te[0], "val_accuracy": te[1]}
    atomic.write_json(start_file, start)
batches = batch_recorder(model, max_steps=ex.sizes["epochs"] * steps_per_epoch)
try:
    if recorder.initial_epoch < ex.sizes["epochs"]:  # a finished checkpoint needs no training
        with ex.timer("train"):
            fit_fast(model, x_train, y_train, epochs=ex.sizes["epochs"],
                     batch_size=ex.sizes["batch"],
                     validation_data=(x_test, y_test), initial_epoch=recorder.initial_epoch,
                     seed=ex.seed, callbacks=[recorder, batches, DivergenceGuard()])
except TrainingDiverged as exc:
    ex.diverged(exc)
finally:
    batches.detach()
replay = recorder.replay()  # also after a resume from a finished checkpoint (nothing trained)
if mixed:  # everything drawn from here on computes in float32 (same trained weights)
    model = float32_copy(model)
    keras.mixed_precision.set_global_policy("float32")
print(f"recorded epochs {replay.epochs.tolist()}; {batches.steps} batches of {ex.sizes['batch']}")

# %% [markdown]
# ## Accuracy and cost over time
# Test accuracy and cost (cross-entropy) are measured with the weights at the end of each epoch.
# The per-epoch training values are what Keras reports: the mean over the epoch's batches
# while the weights were still changing, so they lag behind. The thin line is every single
# batch.

# %%
epochs_axis = replay.epochs.astype(int)
per_epoch = {k: np.asarray(replay.metrics.get(k, np.full(len(epochs_axis), np.nan)), float)
             for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
if epochs_axis[0] == 0:
    for k in per_epoch:
        per_epoch[k][0] = start[k]
curves = batches.curves()
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, key, label in ((axes[0], "accuracy", "accuracy"), (axes[1], "loss", "cost (cross-entropy)")):
    if len(curves["epoch"]):
        ax.plot(curves["epoch"], curves[key], color="C0", alpha=0.25, linewidth=0.7,
                label="train, each batch")
    ax.plot(epochs_axis, per_epoch[key], "o-", color="C0", label="train (epoch mean)")
    ax.plot(epochs_axis, per_epoch["val_" + key], "s-", color="C3", label="test")
    ax.set(xlabel="epoch", ylabel=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
axes[0].axhline(0.1, color="0.5", linestyle=":", linewidth=1, label="chance (10%)")
axes[0].set_ylim(0, 1)
axes[0].legend(fontsize=8, loc="upper left")
axes[0].set_title("Accuracy")
axes[1].set_title("Cost")
fig.tight_layout()
final_test_acc = float(per_epoch["val_accuracy"][-1])
final_train_acc = float(per_epoch["accuracy"][-1])
ex.save_figure(fig, "curves.png",
               alt=f"Training and test accuracy and cost per epoch over {int(epochs_axis[-1])} "
                   f"epochs, with the training values of every batch as a thin line; test "
                   f"accuracy ends at {final_test_acc:.1%}")
ex.metric("epochs", int(epochs_axis[-1]))
ex.metric("test_accuracy", round(final_test_acc, 4))
ex.metric("train_accuracy", round(final_train_acc, 4))
ex.metric("test_loss", round(float(per_epoch["val_loss"][-1]), 4))
ex.metric("test_accuracy_before", round(float(per_epoch["val_accuracy"][0]), 4))
# The article measured its accuracy on 50 test images (it says so): the first 50 here, with the
# weights after the last epoch, beside the whole test set's number above.
first_50 = model.predict(x_test[:50], batch_size=50, verbose=0).argmax(axis=-1)
ex.metric("test_accuracy_first_50", round(float((first_50 == y_test[:50, 0]).mean()), 4))
ex.metric("batches_recorded", int(len(curves["epoch"])))
print(f"test accuracy {final_test_acc:.4f}, train (epoch mean) {final_train_acc:.4f}")

# %% [markdown]
# ## Weight histograms before and after training
# Three layers to a plot, as in the seed: the kernels of layers 1-3, 4-6 and 7-9 (biases start
# at zero and are left out). The first layer has only 3x3x3 inputs per filter, so its
# He-normal spread is much wider than the others'.

# %%
first, last = int(replay.epochs[0]), int(replay.epochs[-1])
w_first, w_last = replay.weights(first), replay.weights(last)
before = {name: w_first[f"{name}/kernel"] for name in CONV_LAYERS}
after = {name: w_last[f"{name}/kernel"] for name in CONV_LAYERS}
std_before = np.array([before[n].std() for n in CONV_LAYERS])
std_after = np.array([after[n].std() for n in CONV_LAYERS])
if not ex.is_diverged:
    fig = weight_histograms(after, layers=list(CONV_LAYERS), group=3, before=before, bins=60,
                            row_titles=(f"before training (epoch {first})", f"after epoch {last}"))
    ex.save_figure(fig, "weight-histograms.png",
                   alt="Histograms of the convolution kernels of layers 1-3, 4-6 and 7-9, before "
                       "training (top row) and after training (bottom row), each legend giving "
                       "the layer's standard deviation")
    mean_after = np.array([after[n].mean() for n in CONV_LAYERS])
    for i, name in enumerate(CONV_LAYERS):
        print(f"{name}: std {std_before[i]:.4f} -> {std_after[i]:.4f}, mean {mean_after[i]:+.4f}, "
              f"max |w| {np.abs(after[name]).max():.3f}")
    ex.metric("init_std_conv1", round(float(std_before[0]), 4))
    ex.metric("init_std_min_conv2_9", round(float(std_before[1:].min()), 4))
    ex.metric("init_std_max_conv2_9", round(float(std_before[1:].max()), 4))
    ex.metric("final_std_conv1", round(float(std_after[0]), 4))
    ex.metric("max_abs_weight_conv1", round(float(np.abs(after["conv1"]).max()), 3))
    ex.metric("std_growth_max", round(float((std_after / std_before).max()), 3))
    ex.metric("std_growth_min", round(float((std_after / std_before).min()), 3))

# %% [markdown]
# ## The weights, epoch by epoch
# TensorBoard's histogram view as a ridgeline: one curve per recorded epoch, epoch 0 at the top,
# the last at the bottom, for each of the nine kernels.

# %%
groups = [list(CONV_LAYERS[i:i + 3]) for i in range(0, 9, 3)]
for g, layers in enumerate(groups if not ex.is_diverged else [], start=1):
    fig = weight_ridgeline(replay, layers, variable="kernel", figsize=(10.5, 4.2))
    fig.suptitle(f"Kernel distributions of layers {3 * g - 2}-{3 * g}, epoch by epoch")
    ex.save_figure(fig, f"weights-over-epochs-{g}.png",
                   alt=f"Ridgeline plots of the kernel weight distributions of layers "
                       f"{3 * g - 2} to {3 * g} at every recorded epoch, from epoch {first} at "
                       f"the top to epoch {last} at the bottom")

# %% [markdown]
# ## Which test images to look at
# Official CIFAR-10 test images 0-19 (lossless in every build). The pictures below explain the
# network's own prediction, so we prefer images it gets right, of different classes, and whose
# predicted probability is clearly (by 0.1 or more) above what a black image gets for that class:
# otherwise "how much did the pixels add" has almost nothing, or something negative, to share out.

# %%
if not ex.is_diverged:
    # Exact float32 arithmetic for the pictures: on recent NVIDIA GPUs the backends otherwise
    # use TF32 for convolutions, whose rounding would show in the completeness check.
    backends.current().exact_float32()
    probs = model.predict(probe_x, verbose=0)
    black_probs = model.predict(np.zeros_like(probe_x[:1]), verbose=0)[0]
    pred = probs.argmax(axis=1)
    labels = probe_y[:, 0]
    # How much more the image says "class c" than a black image does (c = the prediction).
    margin = probs[np.arange(20), pred] - black_probs[pred]
    candidates = [i for i in range(20) if margin[i] >= 0.1] or list(range(20))
    chosen = pick_examples(pred, labels, ex.sizes["n_explain"], candidates=candidates)
    explain_x = probe_x[chosen]
    targets = [int(pred[i]) for i in chosen]
    names = [f"test image {i}: a {CIFAR10_CLASSES[labels[i]]}, predicted {CIFAR10_CLASSES[pred[i]]} "
             f"(p = {probs[i, pred[i]]:.2f})" for i in chosen]
    print("\n".join(names))
    print(f"{int((pred == labels).sum())} of 20 correct")
    ex.metric("probe_correct_of_20", int((pred == labels).sum()))
    ex.metric("explained_correct", int(sum(pred[i] == labels[i] for i in chosen)))
    ex.metric("activation_image_index", int(chosen[0]))
    ex.metric("activation_image_class", CIFAR10_CLASSES[labels[chosen[0]]])

# %% [markdown]
# ## Activations after layers 3, 6 and 9
# Each small square is one channel of the layer's output for the first image above, with its
# own colour scale; as in the seed, only the first 27 channels. After layer 3 the maps are
# still 32x32 and look like filtered copies of the image; after the first pooling, layer 6
# works at 16x16, and layer 9, just before global average pooling, at 8x8.

# %%
if not ex.is_diverged:
    act_image = explain_x[0]
    maps = feature_maps(model, act_image, list(ACTIVATION_LAYERS))
    shown_maps = {}
    for layer in ACTIVATION_LAYERS:
        h, w, c = maps[layer].shape
        fig, shown = feature_map_grid(maps[layer], max_channels=27, cols=9, panel_size=1.2,
                                      title=f"{layer}: the first 27 of {c} channels ({h}x{w}), "
                                            f"{names[0].split(':')[0]}")
        shown_maps[layer] = shown
        ex.save_figure(fig, f"activations-{layer}.png",
                       alt=f"The first 27 of the {c} channels of layer {layer} ({h}x{w} each) for "
                           f"{names[0]}, one small image per channel")
    for palette in PALETTES:  # the light and the dark GIF, each with its still for reduced motion
        activation_strip_gif(ex.asset_path(variant_name("activations.gif", palette)),
                             [act_image, *(maps[layer] for layer in ACTIVATION_LAYERS)],
                             ["input image", *(f"after layer {layer[4:]} ({layer})"
                                               for layer in ACTIVATION_LAYERS)],
                             duration=1.2, max_channels=27, palette=palette,
                             poster=ex.asset_path(variant_name("activations-poster.png", palette)))
    ex.add_output("activations-poster.png", kind="image",
                  dark=variant_name("activations-poster.png", "dark"),
                  alt=f"The first frame of the activations animation: the input image ({names[0]})")
    ex.add_output("activations.gif", kind="gif", poster="activations-poster.png",
                  dark=variant_name("activations.gif", "dark"),
                  alt=f"Animation: the input image ({names[0]}), then the first 27 channels "
                      "after layer 3, after layer 6 and after layer 9")

# %% [markdown]
# ## Interior gradients
# Scale the image towards black, `alpha * x`, and follow the predicted class's probability.
# Sundararajan et al. observed that in a well-trained network it reaches its final value long
# before `alpha = 1` (saturation), so the gradient at the image itself is small and says little,
# while the gradients at smaller alpha (interior gradients) still point at the pixels that
# matter. Each map shows the size of the gradient, summed over colour channels, on its own
# scale (the number above it is its largest value).

# %%
SHOW_ALPHAS = (0.02, 0.1, 0.3, 1.0)
if not ex.is_diverged:
    curve_alphas = np.round(np.linspace(0.0, 1.0, 26), 4)
    all_alphas = np.unique(np.concatenate([curve_alphas, SHOW_ALPHAS]))
    show_pos = [int(np.flatnonzero(np.isclose(all_alphas, a))[0]) for a in SHOW_ALPHAS]
    interior = [attr.interior_gradients(model, x, t, alphas=all_alphas)
                for x, t in zip(explain_x, targets, strict=True)]
    n = len(chosen)
    fig, axes = plt.subplots(n, 2 + len(SHOW_ALPHAS), figsize=(2.3 * (2 + len(SHOW_ALPHAS)), 2.4 * n),
                             squeeze=False)
    for r, (x, ig_int, i) in enumerate(zip(explain_x, interior, chosen, strict=True)):
        axes[r, 0].imshow(x)
        axes[r, 0].set_title(f"#{i}: {CIFAR10_CLASSES[labels[i]]}\npred {CIFAR10_CLASSES[pred[i]]}",
                             fontsize=9)
        ax = axes[r, 1]
        ax.plot(ig_int.alphas, ig_int.scores, "-", color="C3")
        ax.plot(ig_int.alphas[show_pos], ig_int.scores[show_pos], "o", color="k", markersize=3)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="alpha")
        ax.set_title(f"p({CIFAR10_CLASSES[pred[i]]}) at alpha*x", fontsize=9)
        ax.tick_params(labelsize=7)
        for c, (a, p) in enumerate(zip(SHOW_ALPHAS, show_pos, strict=True), start=2):
            g = ig_int.gradients[p]
            axes[r, c].imshow(attr.overlay(x, attr.attribution_to_heatmap(g), alpha=0.6))
            axes[r, c].set_title(f"alpha = {a:g}\nmax |grad| {np.abs(g).sum(-1).max():.2g}",
                                 fontsize=9)
        for c in [0, *range(2, 2 + len(SHOW_ALPHAS))]:
            axes[r, c].set_axis_off()
    fig.tight_layout()
    ex.save_figure(fig, "interior-gradients.png",
                   alt=f"For {n} test images: the image, the predicted class's probability as the "
                       "image is scaled from black (alpha 0) to itself (alpha 1), and the gradient "
                       f"magnitude at alpha {', '.join(f'{a:g}' for a in SHOW_ALPHAS)} overlaid "
                       "on the image")
    # Where the score first covers 90% of its rise from black (alpha 0) to the image (alpha 1).
    sat = []
    for ig_int in interior:
        s0, s1 = ig_int.scores[0], ig_int.scores[-1]
        reached = np.flatnonzero((ig_int.scores - s0) >= 0.9 * (s1 - s0))
        sat.append(float(ig_int.alphas[reached[0]]) if s1 > s0 and len(reached) else float("nan"))
    print("alpha at which the score first covers 90% of its rise:", np.round(sat, 3))
    ex.metric("saturation_alpha_median", round(float(np.nanmedian(sat)), 3))

# %% [markdown]
# ## Integrated gradients
# Integrate those gradients along the straight path from the black image to the image and
# multiply by the pixel difference: each pixel (and colour) gets a share of
# `f(image) - f(black)`, and the shares add up to exactly that difference (completeness). The
# integral is a trapezoid sum; the step count is doubled from a starting value until every
# image's shares add up to within the tolerance, and the page reports the count and the
# measured gap.

# %%
if not ex.is_diverged:
    with ex.timer("integrated_gradients"):
        igs = integrated_gradients_same_steps(model, explain_x, targets, tol=ex.sizes["ig_tol"],
                                              start_steps=ex.sizes["ig_start_steps"],
                                              max_steps=2048)
    steps = igs[0].steps
    gaps = np.array([r.completeness_gap for r in igs])
    ex.metric("ig_steps", int(steps))
    ex.metric("ig_method", igs[0].method)
    ex.metric("ig_completeness_gap_max", float(gaps.max()))
    ex.metric("ig_tolerance", float(ex.sizes["ig_tol"]))
    for r, name in zip(igs, names, strict=True):
        print(f"{name}: f(x) = {r.f_x:.4f}, f(black) = {r.f_baseline:.4f}, sum of IG = "
              f"{r.total:.4f}, gap {r.completeness_gap:.2e}")
    n = len(igs)
    fig, axes = plt.subplots(n, 4, figsize=(10, 2.6 * n), squeeze=False)
    for r, (x, res, ig_int, i) in enumerate(zip(explain_x, igs, interior, chosen, strict=True)):
        signed = res.attributions.sum(axis=-1)
        lim = float(np.percentile(np.abs(signed), 99)) or 1.0
        grad_at_x = ig_int.gradients[show_pos[-1]]
        panels = [
            (x, f"#{i}: {CIFAR10_CLASSES[labels[i]]}\npred {CIFAR10_CLASSES[pred[i]]} "
                f"(p = {res.f_x:.2f})", {}),
            (attr.overlay(x, attr.attribution_to_heatmap(grad_at_x), alpha=0.6),
             "gradient at the image", {}),
            (attr.overlay(x, attr.attribution_to_heatmap(res.attributions), alpha=0.6),
             f"integrated gradients: sum {res.total:.3f}\nf(x) - f(black) = {res.delta:.3f}", {}),
            (signed, "IG per pixel: red for,\nblue against the class",
             {"cmap": "RdBu_r", "vmin": -lim, "vmax": lim}),
        ]
        for c, (img, title, kw) in enumerate(panels):
            axes[r, c].imshow(img, interpolation="nearest", **kw)
            axes[r, c].set_title(title, fontsize=9)
            axes[r, c].set_axis_off()
    fig.suptitle(f"Integrated gradients, black baseline, {steps}-step trapezoid rule; largest "
                 f"completeness gap {gaps.max():.2%}", fontsize=10)
    fig.tight_layout()
    ex.save_figure(fig, "integrated-gradients.png",
                   alt=f"For {n} test images: the image, the plain gradient at the image, the "
                       f"integrated gradients overlaid on the image, and the signed per-pixel "
                       f"attribution; {steps} steps, largest completeness gap {gaps.max():.2%}")

# %% [markdown]
# ## Integrated gradients over training
# The same test images and the same classes, explained by the network as it was after several
# epochs: each epoch's weights are taken from the replay (never retrained) and put into a copy of
# the network, and the integrated gradients are computed again, each epoch with its own step
# count until every image's completeness gap is below the tolerance. One frame per epoch, in the
# light and the dark palette, for the page's epoch scrubber; the signed maps of an image share
# one colour scale over all epochs, so a growing attribution looks stronger.

# %%
if not ex.is_diverged:
    ig_epochs = select_epochs([int(e) for e in replay.epochs if int(e) > 0], None,
                              int(ex.sizes.get("ig_epochs", 4)))

    def model_at(epoch):
        """A copy of the network with the replay's weights of ``epoch``."""
        copy = keras.models.clone_model(model)
        values = replay.weights(epoch)
        variables = [v for layer in copy.layers for v in layer.weights]
        for key, var in zip(replay.weight_keys, variables, strict=True):
            var.assign(values[key])
        return copy

    ig_over = {}
    with ex.timer("integrated_gradients_over_training"):
        for epoch in ig_epochs:
            ig_over[epoch] = integrated_gradients_same_steps(
                model_at(epoch), explain_x, targets, tol=ex.sizes["ig_tol"],
                start_steps=ex.sizes["ig_start_steps"], max_steps=4096)
    over_gaps = {e: max(r.completeness_gap for r in rs) for e, rs in ig_over.items()}
    ex.metric("ig_over_training_epochs", ", ".join(map(str, ig_epochs)))
    ex.metric("ig_over_training_gap_max", float(max(over_gaps.values())))
    test_acc = {int(e): float(a) for e, a in zip(replay.epochs, per_epoch["val_accuracy"])
                if np.isfinite(a)}
    scale = [float(np.percentile(np.abs(np.stack([ig_over[e][i].attributions.sum(-1)
                                                  for e in ig_epochs])), 99)) or 1.0
             for i in range(len(targets))]

    def ig_frame(epoch):
        rs = ig_over[epoch]
        fig, axes = plt.subplots(2, len(rs), figsize=(2.3 * len(rs), 5.2), squeeze=False,
                                 layout="constrained")
        for i, (x, r) in enumerate(zip(explain_x, rs, strict=True)):
            axes[0, i].imshow(attr.overlay(x, attr.attribution_to_heatmap(r.attributions), alpha=0.6),
                              interpolation="nearest")
            axes[0, i].set_title(f"{CIFAR10_CLASSES[targets[i]]}: p = {r.f_x:.2f}", fontsize=9)
            axes[1, i].imshow(r.attributions.sum(-1), cmap="RdBu_r", vmin=-scale[i],
                              vmax=scale[i], interpolation="nearest")
            axes[1, i].set_title(f"sum {r.total:.3f} of {r.delta:.3f}", fontsize=8)
            for ax in axes[:, i]:
                ax.set_axis_off()
        fig.suptitle(f"Epoch {epoch}: test accuracy {test_acc.get(epoch, float('nan')):.1%}; "
                     f"{rs[0].steps} steps, largest completeness gap {over_gaps[epoch]:.2%}",
                     fontsize=10)
        return fig

    files = [f"epoch_{e:04d}.png" for e in ig_epochs]
    for palette in PALETTES:
        folder = ex.asset_path(variant_name("ig-over-training/index.json", palette)).parent
        for epoch, name in zip(ig_epochs, files, strict=True):
            fig = ig_frame(epoch)
            restyle_figure(fig, palette)
            with atomic.atomic_path(folder / name) as tmp:
                fig.savefig(tmp, format="png", dpi=80)
            if palette == "light" and epoch == ig_epochs[-1]:
                plt.show()
            plt.close(fig)
        from PIL import Image as _PIL

        with _PIL.open(folder / files[-1]) as im:
            width, height = im.size
        index = {"epochs": ig_epochs, "files": files, "width": width, "height": height,
                 "format": "png", "palette": palette,
                 "metrics": {"test_accuracy": [test_acc.get(e) for e in ig_epochs],
                             "completeness_gap_max": [over_gaps[e] for e in ig_epochs]}}
        atomic.write_json(folder / "index.json", index)
    ex.add_output("ig-over-training/index.json", kind="frames",
                  dark=variant_name("ig-over-training/index.json", "dark"),
                  alt=f"Integrated gradients of the same {len(targets)} test images for their "
                      f"predicted classes, with the weights of one epoch of training")
    # The weights the frames were drawn from, so a test can recompute every map; the last
    # epoch's are the trained model's (model.keras, below), so they are not stored twice.
    stored = [e for e in ig_epochs if e != int(replay.epochs[-1])]
    replay.subset(stored or ig_epochs).save(ex.asset_path("replay-ig-epochs.npz"), compress=True)
    ex.add_output("replay-ig-epochs.npz", kind="replay",
                  alt="The recorded weights at the epochs of the integrated gradients over "
                      "training, but the last (the trained model)")
    print({e: f"{ig_over[e][0].steps} steps, gap {g:.2e}" for e, g in over_gaps.items()})

# %% [markdown]
# ## What the pictures were drawn from
# The trained model (weights only, no optimizer state) and the arrays drawn above, so a test
# can recompute the activation grids and the integrated gradients and check completeness.

# %%
if not ex.is_diverged:
    save_model_without_optimizer(model, ex.asset_path("model.keras"))
    ex.add_output("model.keras", kind="data", alt="The trained all-convolutional net (Keras format)")
    np.savez_compressed(
        ex.asset_path("arrays.npz"),
        act_image=act_image, act_layers=np.array(ACTIVATION_LAYERS),
        **{f"act_{layer}": shown_maps[layer] for layer in ACTIVATION_LAYERS},
        explain_index=np.array(chosen), explain_x=explain_x, explain_labels=labels[chosen],
        targets=np.array(targets), ig_steps=np.array(steps), ig_method=np.array(igs[0].method),
        ig_attributions=np.stack([r.attributions for r in igs]).astype(np.float32),
        ig_f_x=np.array([r.f_x for r in igs]), ig_f_baseline=np.array([r.f_baseline for r in igs]),
        ig_gaps=gaps, interior_alphas=np.array(SHOW_ALPHAS),
        interior_gradients=np.stack([g.gradients[show_pos] for g in interior]).astype(np.float32),
        interior_curve_alphas=all_alphas, interior_scores=np.stack([g.scores for g in interior]),
        ig_over_epochs=np.array(ig_epochs),
        ig_over_attributions=np.stack([[r.attributions for r in ig_over[e]] for e in ig_epochs]).astype(np.float32),
        ig_over_f_x=np.array([[r.f_x for r in ig_over[e]] for e in ig_epochs]),
        ig_over_f_baseline=np.array([[r.f_baseline for r in ig_over[e]] for e in ig_epochs]),
        ig_over_steps=np.array([ig_over[e][0].steps for e in ig_epochs]),
        epochs=replay.epochs, std_before=std_before, std_after=std_after,
        test_accuracy=per_epoch["val_accuracy"], test_loss=per_epoch["val_loss"],
        batch_loss=curves["loss"].astype(np.float32), batch_accuracy=curves["accuracy"].astype(np.float32),
    )
    ex.add_output("arrays.npz", kind="data",
                  alt="The arrays behind the pictures: activations, attributions, curves")

# %%
ex.finish()

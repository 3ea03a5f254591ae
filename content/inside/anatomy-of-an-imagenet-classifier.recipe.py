# ---
# explainer:
#   title: Anatomy of an ImageNet classifier
#   description: VGG16 layer by layer (shapes, parameters, configuration, weights), then filters, activations, saliency, Grad-CAM and occlusion maps of a pretrained ImageNet network. Is it looking at the animal or the background?
#   seed_article: "004 (anatomy of VGG16)"
#   datasets: [imagenet_mobilenet, cat_photo, imagenet_samples]
#   order: 22
#   timeout: 1800
#   thumbnail: attributions.jpg
#   profiles:
#     quick: {smoothgrad_n: 16, occlusion_patch: 16, occlusion_stride: 8, max_channels: 32}
#     full: {smoothgrad_n: 50, occlusion_patch: 16, occlusion_stride: 4, max_channels: 32}
# ---

# %% [markdown]
# # Anatomy of an ImageNet classifier
#
# Seed 004 reads VGG16 the way Keras lets you: `model.summary()`, each layer's `get_config()`
# and `get_weights()`. Its motivating question is whether a classifier that tells snow leopards
# from Arabian leopards looks at the animal or at the snow and sand behind it. The first half
# of this notebook reads the real Keras VGG16; the second half looks inside a pretrained
# network with filters, activations, saliency, Grad-CAM and occlusion maps.

# %% tags=["parameters"]
# Sizes for running this file by hand; the build injects the header's profile after this cell.
sizes = {"smoothgrad_n": 16, "occlusion_patch": 16, "occlusion_stride": 8, "max_channels": 32}

# %%
import json

import keras
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from pipeline.library import attribution as attr
from pipeline.library.explainers.cnn_views import (box_share, center_square, glorot_uniform_std, imagenet_name,
                                squash_resize, weight_stats_html)
from pipeline.library.datasets import (install_mobilenet_weights, load_cat_photo, load_imagenet_samples,
                               vgg16_weights_available)
from pipeline.library.inspection import (feature_map_grid, feature_maps, filter_grid, layer_config,
                                 layer_configs, rows_to_html, rows_to_markdown, summary_rows,
                                 summary_totals, weight_stats)
from pipeline.library.runtime import Explainer

ex = Explainer.from_parameters(globals())  # the build's parameters; seeds Python, NumPy, Keras

# %% [markdown]
# ## VGG16, layer by layer
# The ImageNet weights of VGG16 are 528 MB and are used only when they are already in the Keras
# cache. The architecture does not need them: `VGG16(weights=None)` builds the same layers with
# freshly initialised weights, so shapes, parameter counts and configurations are exact.

# %%
vgg_trained = vgg16_weights_available()
with ex.timer("build_vgg16"):
    vgg = keras.applications.VGG16(weights="imagenet" if vgg_trained else None)
ex.metric("vgg16_weights", "ImageNet" if vgg_trained else "untrained (weights=None)")
rows = summary_rows(vgg)
totals = summary_totals(rows)
assert totals.total == vgg.count_params()
ex.metric("vgg16_total_params", totals.total)
ex.metric("vgg16_trainable_params", totals.trainable)
ex.metric("vgg16_non_trainable_params", totals.non_trainable)
ex.metric("vgg16_layers", len(rows))
ex.metric("vgg16_conv_layers", sum(r.class_name == "Conv2D" for r in rows))
by_name = {r.name: r for r in rows}
fc_params = sum(by_name[n].params for n in ("fc1", "fc2", "predictions"))
ex.metric("vgg16_fc_params", fc_params)
ex.metric("vgg16_fc_share", round(fc_params / totals.total, 4))
ex.metric("vgg16_fc1_params", by_name["fc1"].params)
display(Markdown(rows_to_markdown(rows)))
# The same table for the page (its include(...) shortcode): an accessible HTML fragment.
ex.save_text("vgg16-summary.html", rows_to_html(
    rows, caption=f"keras.applications.VGG16: {len(rows)} layers, {totals.total:,} parameters"),
    kind="html")

# %%
fig, ax = plt.subplots(figsize=(10, 6.5))
names = [r.name for r in rows][::-1]
params = [max(r.params, 0) for r in rows][::-1]
colors = ["#c44" if r.class_name == "Dense" else "#46a" if r.class_name == "Conv2D" else "#aaa"
          for r in rows][::-1]
ax.barh(names, [p if p else np.nan for p in params], color=colors)
ax.set_xscale("log")
for y, (p, r) in enumerate(zip(params, rows[::-1])):
    ax.text(1.2 if not p else p * 1.15, y, f"{p:,}  {r.output_shape}" if p else r.output_shape,
            va="center", fontsize=8)
ax.set_xlim(1, 2e10)
ax.set(xlabel="parameters (log scale)",
       title=f"Where VGG16's parameters are: the three Dense layers hold {fc_params / totals.total:.0%}")
ax.tick_params(axis="y", labelsize=8)
ax.grid(axis="x", alpha=0.3)
fig.tight_layout()
ex.save_figure(fig, "vgg16-params.png",
               alt="Horizontal bar chart of parameters per VGG16 layer on a log scale, with each "
                   f"layer's output shape; fc1 alone has {by_name['fc1'].params:,} parameters")

# %% [markdown]
# ### One layer's configuration: `block5_conv1`

# %%
config = layer_config(vgg, "block5_conv1")
print(json.dumps(config, indent=2))
ex.save_text("vgg16-block5_conv1.json", json.dumps(config, indent=2) + "\n", kind="data")
ex.save_text("vgg16-layer-configs.json", json.dumps(layer_configs(vgg), indent=2) + "\n",
             kind="data")
ex.metric("block5_conv1_filters", config["filters"])
ex.metric("block5_conv1_kernel", "x".join(str(k) for k in config["kernel_size"]))
ex.metric("block5_conv1_strides", "x".join(str(k) for k in config["strides"]))
ex.metric("block5_conv1_padding", config["padding"])
ex.metric("block5_conv1_activation", config["activation"])
ex.metric("block5_conv1_params", by_name["block5_conv1"].params)
ex.metric("block5_conv1_output", by_name["block5_conv1"].output_shape)

# %% [markdown]
# ### The weights: `get_weights()` shapes and statistics
# Without the ImageNet file these are the initial weights: Keras draws every kernel from a
# Glorot-uniform distribution, whose standard deviation is sqrt(2 / (fan_in + fan_out)), and
# sets every bias to zero. The figure compares the measured spread with that formula.

# %%
with ex.timer("weight_stats"):
    wrows = weight_stats(vgg)
ex.save_text("vgg16-weights.html", weight_stats_html(
    wrows, caption="VGG16 get_weights(): every kernel and bias, "
                   + ("ImageNet-trained" if vgg_trained else "as Keras initialises them")),
    kind="html")
kernels = [w for w in wrows if w.name == "kernel"]
expected = [glorot_uniform_std(w.shape) for w in kernels]
deviation = max(abs(w.std - e) / e for w, e in zip(kernels, expected))
if not vgg_trained:
    ex.metric("vgg16_init_std_max_rel_dev", round(deviation, 4))
print(f"{'layer':<14}{'shape':<22}{'std':>10}{'glorot':>10}")
for w, e in zip(kernels, expected):
    print(f"{w.layer:<14}{str(w.shape):<22}{w.std:>10.5f}{e:>10.5f}")
block5 = next(w for w in kernels if w.layer == "block5_conv1")
ex.metric("block5_conv1_kernel_std", round(block5.std, 5))
ex.metric("block5_conv1_kernel_shape", "x".join(str(d) for d in block5.shape))

fig, ax = plt.subplots(figsize=(10, 3.8))
xs = np.arange(len(kernels))
ax.plot(xs, [w.std for w in kernels], "o", label="measured std of the kernel")
if not vgg_trained:
    ax.plot(xs, expected, "x", ms=10, label="Glorot uniform: sqrt(2 / (fan_in + fan_out))")
ax.set_xticks(xs, [w.layer for w in kernels], rotation=60, ha="right", fontsize=8)
ax.set(yscale="log", ylabel="standard deviation",
       title="VGG16 kernel weights: " + ("ImageNet-trained" if vgg_trained else
                                         "initial (untrained) values"))
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
ex.save_figure(fig, "vgg16-weight-std.png",
               alt="Standard deviation of each VGG16 kernel"
                   + ("" if vgg_trained else ", next to the Glorot-uniform formula, which it "
                      f"matches within {deviation:.1%}"))

# %% [markdown]
# ## Looking inside a pretrained network
# Filters, activations and attribution maps need trained weights. VGG16's are used when the
# Keras cache has them; otherwise the 2 MB MobileNet v1 (alpha 0.25, 128x128 input) that ships
# with this project's data, the smallest pretrained ImageNet network Keras offers.

# %%
if vgg_trained:
    net = vgg
    untrained_net = keras.applications.VGG16(weights=None)
    net_name, size = "VGG16", 224
    preprocess = keras.applications.vgg16.preprocess_input
    cam_layer, first_conv = "block5_conv3", "block1_conv1"
    act_layers = ["block1_conv2", "block3_conv3", "block5_conv3"]
    why = ("VGG16's ImageNet weights were found in the Keras cache, so the pictures come from "
           "the VGG16 described above.")
else:
    ex.use_data(install_mobilenet_weights(ex.data_dir))
    net = keras.applications.MobileNet(alpha=0.25, input_shape=(128, 128, 3), weights="imagenet")
    untrained_net = keras.applications.MobileNet(alpha=0.25, input_shape=(128, 128, 3),
                                                 weights=None)
    net_name, size = "MobileNet v1 (alpha 0.25, 128x128)", 128
    preprocess = keras.applications.mobilenet.preprocess_input
    # The last 8x8 feature map: conv_pw_13 is only 4x4 at this input size (32-pixel cells).
    cam_layer, first_conv = "conv_pw_11_relu", "conv1"
    act_layers = ["conv1_relu", "conv_pw_3_relu", "conv_pw_11_relu"]
    why = ("VGG16's 528 MB ImageNet weights are not in the Keras cache and cannot be downloaded "
           "here, so the pictures come from the pretrained MobileNet v1 (alpha 0.25, 128x128 "
           f"input, {net.count_params():,} parameters) instead of VGG16.")
ex.note(why)
ex.metric("picture_model", net_name)
ex.metric("picture_model_params", net.count_params())
ex.metric("gradcam_layer", cam_layer)
print(why)

# %% [markdown]
# ### The images
# Chelsea the cat and four animal photos from the ImageNet samples, centre-cropped to a square
# and resized to the network's input. The boxes around the animals were drawn by hand for this
# page (in 128x128 coordinates); they are used below to measure where the evidence lies.

# %%
cat_rgb, cat_source = load_cat_photo(ex.data_dir)
ex.use_data(cat_source)
samples, samples_source = load_imagenet_samples(ex.data_dir)
ex.use_data(samples_source)
by_file = {name: (cls, img) for cls, img, name in samples}
chosen = [("cat", None, cat_rgb, None),
          ("bull mastiff", *by_file["imagenet_00_243.jpg"], (16, 26, 74, 124)),
          ("bald eagle", *by_file["imagenet_17_22.jpg"], (0, 38, 128, 94)),
          ("leafhopper", *by_file["imagenet_18_317.jpg"], (28, 18, 78, 116)),
          ("dung beetle", *by_file["imagenet_19_305.jpg"], (26, 28, 112, 106))]
scale = size / 128
names = [c[0] for c in chosen]
images = np.stack([squash_resize(center_square(img), size) for _, _, img, _ in chosen])
true_classes = [cls for _, cls, _, _ in chosen]
boxes = [None if b is None else tuple(int(round(v * scale)) for v in b) for *_, b in chosen]
x = preprocess(images.astype("float32"))
probs = net.predict(x, verbose=0)
targets = [int(p.argmax()) for p in probs]
for n, t, c, p in zip(names, targets, true_classes, probs):
    top3 = ", ".join(f"{imagenet_name(k)} {p[k]:.2f}" for k in np.argsort(-p)[:3])
    label = "Chelsea the cat (not an ImageNet photo)" if c is None else imagenet_name(c)
    print(f"{n:<14} label: {label:<40} top 3: {top3}")
    key = n.replace(" ", "_")
    ex.metric(f"{key}_predicted", imagenet_name(t))
    ex.metric(f"{key}_p", round(float(p[t]), 3))

fig, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 3.6))
for ax, n, img, p, c, b in zip(axes, names, images, probs, true_classes, boxes):
    ax.imshow(img)
    if b is not None:
        ax.add_patch(plt.Rectangle((b[0] - 0.5, b[1] - 0.5), b[2] - b[0], b[3] - b[1],
                                   fill=False, ec="white", lw=1.5, ls="--"))
    top3 = "\n".join(f"{imagenet_name(k)} {p[k]:.2f}" for k in np.argsort(-p)[:3])
    label = "Chelsea (skimage photo)" if c is None else f"ImageNet label: {imagenet_name(c)}"
    ax.set_title(f"{label}\n{top3}", fontsize=9)
    ax.set_axis_off()
fig.suptitle(f"{net_name}: top-3 predictions")
fig.tight_layout(rect=(0, 0, 1, 0.93))
ex.save_figure(fig, "predictions.jpg", pil_kwargs={"quality": 88},
               alt=f"The five photos as {net_name} sees them, each with its ImageNet label and "
                   "the network's three most probable classes; dashed boxes mark the animals")

# %% [markdown]
# ### First-layer filters
# The first convolution's kernels are small RGB pictures of what each filter responds to.
# Trained, they are colour blobs and oriented edges; the same layer before training is noise.

# %%
k_trained = net.get_layer(first_conv).get_weights()[0]
k_untrained = untrained_net.get_layer(first_conv).get_weights()[0]
_, filt_u = filter_grid(k_untrained)      # (n, kh, kw, 3), min-max scaled per filter
_, filt_t = filter_grid(k_trained)
n_filters = len(filt_t)
cols = min(n_filters, 16)
row_blocks = int(np.ceil(n_filters / cols))
fig, axes = plt.subplots(2 * row_blocks, cols, figsize=(0.8 * cols + 1.2, 1.9 * row_blocks + 0.4),
                         squeeze=False)
for block, (filt, title) in enumerate(((filt_u, "untrained"), (filt_t, "ImageNet-trained"))):
    for i in range(row_blocks * cols):
        ax = axes[block * row_blocks + i // cols, i % cols]
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n_filters:
            ax.imshow(filt[i], interpolation="nearest")
        else:
            ax.set_axis_off()
        if block == 0 and i < cols:
            ax.set_title(str(i), fontsize=8)
    axes[block * row_blocks, 0].set_ylabel(title, fontsize=9, rotation=0, ha="right",
                                           va="center")
fig.suptitle(f"{first_conv}: {n_filters} filters of "
             f"{k_trained.shape[0]}x{k_trained.shape[1]}x{k_trained.shape[2]}", fontsize=10)
fig.tight_layout()
shown_filters = {"untrained": filt_u, "ImageNet-trained": filt_t}
ex.save_figure(fig, "first-layer-filters.png",
               alt=f"The {k_trained.shape[-1]} RGB kernels of {net_name}'s first convolution, "
                   "before training (noise) and after ImageNet training (colour and edge "
                   "detectors), each scaled to its own range")

# %% [markdown]
# ### Activations for the cat
# The first channels of three layers, from early (edges, colours) to late (few, coarse,
# class-related parts).

# %%
cat_maps = feature_maps(net, x[0], act_layers)
shown_acts = {}
for layer in act_layers:
    h, w, c = cat_maps[layer].shape
    fig, shown = feature_map_grid(cat_maps[layer], max_channels=ex.sizes["max_channels"], cols=8,
                                  title=f"{layer}: first {min(c, ex.sizes['max_channels'])} of "
                                        f"{c} channels ({h}x{w})")
    ex.save_figure(fig, f"cat-{layer}.png",
                   alt=f"The first {shown.shape[-1]} of {c} channels of layer {layer} "
                       f"({h}x{w} each) of {net_name} for the cat photo")
    shown_acts[layer] = shown

# %% [markdown]
# ## Where is the network looking?
# Four maps for the top predicted class of each photo:
# * **saliency**: |d score / d pixel| (Simonyan et al. 2013), the largest over the colour
#   channels, at the logit;
# * **SmoothGrad**: the same averaged over noisy copies of the image (Smilkov et al. 2017);
# * **Grad-CAM** at `{cam_layer}` (Selvaraju et al. 2017): the layer's channels weighted by the
#   mean gradient of the class logit;
# * **occlusion** (Zeiler and Fergus 2014): how much the class probability drops when a grey
#   patch hides each region.

# %%
results = {k: [] for k in ("saliency", "smoothgrad", "gradcam", "occlusion")}
with ex.timer("attribution"):
    for xi, t in zip(x, targets):
        results["saliency"].append(attr.vanilla_saliency(net, xi, t))
        results["smoothgrad"].append(attr.smoothgrad(net, xi, t, n=ex.sizes["smoothgrad_n"],
                                                     seed=ex.seed))
        results["gradcam"].append(attr.grad_cam(net, xi, t, layer=cam_layer))
        results["occlusion"].append(attr.occlusion_map(
            net, xi, t, patch=int(ex.sizes["occlusion_patch"] * scale),
            stride=int(ex.sizes["occlusion_stride"] * scale)))
results = {k: np.stack(v).astype(np.float32) for k, v in results.items()}


def positive_unit(m: np.ndarray) -> np.ndarray:
    """Occlusion drops in [0, 1] for display: only drops (evidence for the class), by the max."""
    pos = np.clip(m, 0, None)
    return pos / pos.max() if pos.max() > 0 else pos


cols = ["image", "saliency", "SmoothGrad", f"Grad-CAM ({cam_layer})", "occlusion"]
fig, axes = plt.subplots(len(names), len(cols), figsize=(2.5 * len(cols), 2.6 * len(names)))
for r, (n, img, t, b) in enumerate(zip(names, images, targets, boxes)):
    panels = [img,
              attr.attribution_to_heatmap(results["saliency"][r]),
              attr.attribution_to_heatmap(results["smoothgrad"][r]),
              attr.overlay(img, results["gradcam"][r]),
              attr.overlay(img, positive_unit(results["occlusion"][r]))]
    for c, (ax, panel) in enumerate(zip(axes[r], panels)):
        ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None, interpolation="nearest")
        if b is not None and c in (0, 3, 4):
            ax.add_patch(plt.Rectangle((b[0] - 0.5, b[1] - 0.5), b[2] - b[0], b[3] - b[1],
                                       fill=False, ec="white", lw=1.2, ls="--"))
        ax.set_xticks([])
        ax.set_yticks([])
        if r == 0:
            ax.set_title(cols[c], fontsize=10)
    axes[r, 0].set_ylabel(f"{n}\n→ {imagenet_name(t)}", fontsize=10)
fig.tight_layout()
ex.save_figure(fig, "attributions.jpg", dpi=80, pil_kwargs={"quality": 88},
               alt=f"For each of the five photos: the image, its saliency map, SmoothGrad map, "
                   f"Grad-CAM overlay and occlusion overlay for {net_name}'s top class")

# %% [markdown]
# ### Do the maps point at pixels the model uses? And are they on the animal?
# Two numbers per map. **Deletion check**: mask the top 10% of pixels by the map (with the
# image's mean colour) and compare the drop in class probability with masking 10% random
# pixels (average of 5 draws). **Inside the box**: the share of the map's positive mass that
# falls inside the animal's box, next to the share of the image the box covers; a model that
# looks at the animal puts more than the box's area there.

# %%
checks = {}
table = []
for r, (n, t, b) in enumerate(zip(names, targets, boxes)):
    key = n.replace(" ", "_")
    for method in ("smoothgrad", "gradcam", "occlusion"):
        heat = results[method][r]
        drop = attr.mask_region_score_drop(net, x[r], t, heat, fraction=0.1, rng=ex.seed)
        checks[f"{key}_{method}_drop_top"] = drop.drop_top
        checks[f"{key}_{method}_drop_random"] = drop.drop_random
        share, area = box_share(heat, b) if b is not None else (float("nan"), float("nan"))
        checks[f"{key}_{method}_in_box"] = share
        table.append((n, method, drop.drop_top, drop.drop_random, share, area))
for k, v in checks.items():
    if np.isfinite(v):
        ex.metric(k, round(float(v), 3))
for n, b in zip(names, boxes):
    if b is not None:
        ex.metric(f"{n.replace(' ', '_')}_box_area", round(box_share(np.ones((size, size)), b)[1], 3))
wins = [row for row in table if row[2] > row[3]]
ex.metric("deletion_checks_passed", len(wins))
ex.metric("deletion_checks", len(table))
on_animal = [row for row in table if row[0] != "cat" and row[1] == "gradcam" and row[4] > row[5]]
ex.metric("gradcam_on_animal", len(on_animal))
ex.metric("occlusion_on_animal",
          len([r for r in table if r[0] != "cat" and r[1] == "occlusion" and r[4] > r[5]]))
ex.metric("animal_photos", len([b for b in boxes if b is not None]))
md = ["| photo | map | drop, top 10% | drop, random 10% | share in box | box area |",
      "| :-- | :-- | --: | --: | --: | --: |"]
for n, m, dt, dr, s, a in table:
    md.append(f"| {n} | {m} | {dt:.3f} | {dr:.3f} | "
              + ("-" if not np.isfinite(s) else f"{s:.0%}") + " | "
              + ("-" if not np.isfinite(a) else f"{a:.0%}") + " |")
display(Markdown("\n".join(md)))
ex.save_text("attribution-checks.json", json.dumps(
    [{"photo": n, "map": m, "drop_top": dt, "drop_random": dr,
      "share_in_box": None if not np.isfinite(sh) else sh,
      "box_area": None if not np.isfinite(ar) else ar}
     for n, m, dt, dr, sh, ar in table], indent=2) + "\n", kind="data")

# %%
animal_rows = [i for i, b in enumerate(boxes) if b is not None]
fig, ax = plt.subplots(figsize=(9, 3.6))
width = 0.2
labels = [names[i] for i in animal_rows]
xs = np.arange(len(animal_rows))
for j, method in enumerate(("smoothgrad", "gradcam", "occlusion")):
    ax.bar(xs + (j - 1) * width, [checks[f"{names[i].replace(' ', '_')}_{method}_in_box"]
                                  for i in animal_rows], width, label=method)
areas = [box_share(np.ones((size, size)), boxes[i])[1] for i in animal_rows]
ax.scatter(xs + 1.5 * width, areas, marker="_", s=600, color="black", zorder=3,
           label="box area (no preference)")
ax.set_xticks(xs, labels)
ax.set(ylabel="share of the map inside the box", ylim=(0, 1),
       title="How much of each map falls on the animal")
ax.legend(fontsize=8, ncols=2)
ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
ex.save_figure(fig, "animal-or-background.png",
               alt="Bar chart: for the four animal photos, the share of the SmoothGrad, Grad-CAM "
                   "and occlusion maps inside the animal's box, with the box's area as the "
                   "share a map with no preference would give")

# %% [markdown]
# ## What the pictures were drawn from
# The images, targets and every map, so a test can recompute them from the same network.

# %%
np.savez_compressed(
    ex.asset_path("attributions.npz"),
    model=np.array("vgg16" if vgg_trained else "mobilenet_0.25_128"),
    names=np.array(names), images=images, targets=np.array(targets),
    boxes=np.array([b if b is not None else (-1, -1, -1, -1) for b in boxes]),
    cam_layer=np.array(cam_layer),
    occlusion_patch=int(ex.sizes["occlusion_patch"] * scale),
    occlusion_stride=int(ex.sizes["occlusion_stride"] * scale),
    gradcam=results["gradcam"], occlusion=results["occlusion"],
    # Gradient maps are noise-like and barely compress; float16 keeps the file under 1 MB and
    # is far finer than any picture of them (relative error below 0.05%).
    saliency=results["saliency"].astype(np.float16),
    smoothgrad=results["smoothgrad"].astype(np.float16))
ex.add_output("attributions.npz", kind="data",
              alt="The five images, the predicted classes and every map drawn on the page")
np.savez_compressed(ex.asset_path("activations.npz"), first_conv=np.array(first_conv),
                    filters_trained=shown_filters["ImageNet-trained"],
                    **{f"act_{k}": v for k, v in shown_acts.items()})
ex.add_output("activations.npz", kind="data",
              alt="The first-layer filters and the cat's activations drawn on the page")

# %%
ex.finish()

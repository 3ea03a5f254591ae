# ---
# explainer:
#   title: "${title}"
#   description: "${description}"
#   datasets: []
#   thumbnail: figure.png
#   profiles:
#     quick: {points: 40}
#     full: {points: 400}
# jupyter:
#   kernelspec: {name: python3, display_name: Python 3, language: python}
# ---

# %% [markdown]
# # ${title}
#
# Written by `python -m pipeline new ${slug} --section ${section}`. Replace this cell and the
# ones below with your explainer; CONTRIBUTING.md lists every header field, shortcode and panel.

# %% tags=["parameters"]
# Sizes for running this file by hand; the build injects the header's profile (and the seed,
# the asset folder, ...) after this cell.
sizes = {"points": 40}

# %%
import matplotlib.pyplot as plt
import numpy as np

from pipeline.library import Explainer

ex = Explainer.from_parameters(globals())  # the build's parameters; seeds Python, NumPy, Keras

# %% [markdown]
# ## Data
# Generated here from the seed, so the page needs no dataset (`datasets: []`). To use a
# registered dataset, a scikit-learn set, a file beside this recipe or a URL, see "Data" in
# CONTRIBUTING.md.

# %%
rng = np.random.default_rng(ex.seed)
x = np.linspace(-1.0, 1.0, ex.sizes["points"])
y = 0.8 * x + 0.1 + rng.normal(scale=0.2, size=x.shape)
ex.use_data({"dataset": "generated", "origin": "generated",
             "description": f"{len(x)} noisy points on the line y = 0.8 x + 0.1, drawn from the seed",
             "n_train": len(x), "n_test": None, "subset": False})

# %% [markdown]
# ## Model
# A least-squares line stands in for your model: train yours here and record its numbers with
# `ex.metric(...)`.

# %%
with ex.timer("train"):
    slope, intercept = np.polyfit(x, y, deg=1)
ex.metric("slope", round(float(slope), 4))
ex.metric("intercept", round(float(intercept), 4))

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.scatter(x, y, s=12, label="data")
ax.plot(x, slope * x + intercept, color="C1", label=f"fit: y = {slope:.2f} x + {intercept:.2f}")
ax.set_xlabel("x")
ax.set_ylabel("y")
ax.legend()
ex.save_figure(fig, "figure.png",
               alt=f"{len(x)} noisy points and the least-squares line through them, slope {slope:.2f}")

# %%
ex.finish()

# ---
# explainer:
#   title: Training at a glance
#   description: Loss curves and an interactive parallel-coordinates view of every epoch of two small networks.
#   seed_article: "001 (HiPlot) and 002 part 1 (loss curve)"
#   datasets: [boston_housing, moons]
#   order: 1
#   timeout: 900
#   thumbnail: boston-curves.png
#   profiles:
#     quick: {boston_epochs: 18, boston_batch: 16, moons_samples: 400, moons_epochs: 100, moons_batch: 1}
#     full: {boston_epochs: 18, boston_batch: 16, moons_samples: 1000, moons_epochs: 100, moons_batch: 1}
# ---

# %% [markdown]
# # Training at a glance
#
# Two small networks, trained exactly as the seed articles describe, with every epoch recorded.

# %% tags=["parameters"]
# Sizes for running this file by hand; the build injects the header's profile after this cell.
sizes = {"boston_epochs": 18, "boston_batch": 16, "moons_samples": 400, "moons_epochs": 100,
         "moons_batch": 1}

# %%
import keras
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np

from pipeline.library.datasets import load_boston_housing, load_moons
from pipeline.library.hiplot_export import parallel_coordinates
from pipeline.library.runtime import Explainer
from pipeline.library.training import fit_fast

ex = Explainer.from_parameters(globals())  # the build's parameters; seeds Python, NumPy, Keras

# %% [markdown]
# ## Boston Housing regression (seed 001)
# Features are normalised with the **training split's** mean and standard deviation, and the
# test split is scaled with those same statistics (the seed's code normalised undefined names).

# %%
(x_train, y_train), (x_test, y_test), boston_source = load_boston_housing(ex.data_dir)
ex.use_data(boston_source)
mean = x_train.mean(axis=0)
std = x_train.std(axis=0)
x_train_n = (x_train - mean) / std
x_test_n = (x_test - mean) / std
print(boston_source.description)
print("train", x_train_n.shape, "test", x_test_n.shape)

# %%
def build_boston_model() -> keras.Model:
    model = keras.Sequential([
        keras.Input(shape=(x_train_n.shape[1],)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
    return model


boston = build_boston_model()
with ex.timer("train"):
    boston_history = fit_fast(boston, x_train_n, y_train, epochs=ex.sizes["boston_epochs"],
                              batch_size=ex.sizes["boston_batch"],
                              validation_data=(x_test_n, y_test), seed=ex.seed)
test_mse, test_mae = boston.evaluate(x_test_n, y_test, verbose=0)
ex.metric("boston_test_mae", round(float(test_mae), 3))
ex.metric("boston_test_mse", round(float(test_mse), 3))
print(f"test MAE: {test_mae:.2f} (thousands of dollars)")

# %%
h = boston_history.history
epochs = np.arange(1, len(h["loss"]) + 1)
fig, (ax_loss, ax_mae) = plt.subplots(1, 2, figsize=(10, 3.6))
ax_loss.plot(epochs, h["loss"], "o-", label="train")
ax_loss.plot(epochs, h["val_loss"], "s--", label="test")
ax_loss.set(xlabel="epoch", ylabel="MSE", yscale="log", title="Loss (mean squared error)")
ax_mae.plot(epochs, h["mae"], "o-", label="train")
ax_mae.plot(epochs, h["val_mae"], "s--", label="test")
ax_mae.set(xlabel="epoch", ylabel="MAE ($1000s)", title="Mean absolute error")
for ax in (ax_loss, ax_mae):
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend()
fig.tight_layout()
ex.save_figure(fig, "boston-curves.png",
               alt=f"Boston Housing training and test loss and MAE over {len(epochs)} epochs; "
                   f"test MAE ends at {test_mae:.2f}")

# %%
rows = [{"epoch": int(e), "loss": float(h["loss"][i]), "mae": float(h["mae"][i]),
         "val_loss": float(h["val_loss"][i]), "val_mae": float(h["val_mae"][i])}
        for i, e in enumerate(epochs)]
parallel_coordinates(rows, ex.asset_path("boston-hiplot.html"),
                     order=["epoch", "loss", "mae", "val_loss", "val_mae"], color_by="epoch")
ex.add_output("boston-hiplot.html", kind="iframe",
              alt="Interactive parallel-coordinates plot: one line per epoch across epoch, loss, "
                  "MAE, validation loss and validation MAE")

# %% [markdown]
# ## A loss curve, one sample at a time (seed 002, part 1)
# The seed never defines its two-feature training data; we use a two-moons sample split 80/20,
# so the curve has a validation partner.

# %%
X, y, moons_source = load_moons(n_samples=ex.sizes["moons_samples"], noise=0.2,
                                random_state=ex.seed)
ex.use_data(moons_source)
split = int(0.8 * len(X))
clf = keras.Sequential([
    keras.Input(shape=(2,)),
    keras.layers.Dense(10, activation="sigmoid"),
    keras.layers.Dense(1, activation="sigmoid"),
])
clf.compile(loss="binary_crossentropy", optimizer="sgd", metrics=["accuracy"])
with ex.timer("train"):
    clf_history = fit_fast(clf, X[:split], y[:split], epochs=ex.sizes["moons_epochs"],
                           batch_size=ex.sizes["moons_batch"],
                           validation_data=(X[split:], y[split:]), seed=ex.seed)
ch = clf_history.history
ex.metric("moons_val_accuracy", round(float(ch["val_accuracy"][-1]), 3))

fig, ax = plt.subplots(figsize=(7, 3.6))
ax.plot(np.arange(1, len(ch["loss"]) + 1), ch["loss"], label="train")
ax.plot(np.arange(1, len(ch["val_loss"]) + 1), ch["val_loss"], label="validation")
ax.set(xlabel="Epoch", ylabel="Loss (binary cross-entropy)",
       title="Dense(10, sigmoid) → Dense(1, sigmoid), SGD, batch 1")
ax.grid(alpha=0.3)
ax.legend()
fig.tight_layout()
ex.save_figure(fig, "moons-loss.png",
               alt=f"Training and validation loss over {len(ch['loss'])} epochs for the two-moons "
                   f"classifier; validation accuracy ends at {ch['val_accuracy'][-1]:.2f}")

# %%
ex.finish()

# ---
# explainer:
#   title: "${title}"
#   description: "${description}"
#   section: ${section}
#   datasets: []
#   thumbnail: replay-poster.png
#   profiles:
#     quick: {epochs: 20}
#     full: {epochs: 30}
# jupyter:
#   kernelspec: {name: python3, display_name: Python 3, language: python}
# ---

# %% tags=["parameters"]
sizes = {"epochs": 30}  # nnx: by hand; the build injects the header's profile after this cell

# %%
"""A small classifier on scikit-learn's breast-cancer data: a plain Keras training script."""
import keras
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from pipeline.library import Explainer, ReplayRecorder, publish_replay  # nnx

ex = Explainer.from_parameters(globals())  # nnx: the build's parameters; seeds everything
EPOCHS = ex.sizes["epochs"]  # nnx: the profile's epochs (quick or full)

keras.utils.set_random_seed(0)
data = load_breast_cancer()
x_train, x_test, y_train, y_test = train_test_split(
    data.data, data.target, test_size=0.25, random_state=0, stratify=data.target)
scaler = StandardScaler().fit(x_train)
x_train = scaler.transform(x_train).astype("float32")
x_test = scaler.transform(x_test).astype("float32")

model = keras.Sequential([
    keras.Input(shape=(x_train.shape[1],)),
    keras.layers.Dense(16, activation="relu", name="hidden"),
    keras.layers.Dense(1, activation="sigmoid", name="output"),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2),
              loss="binary_crossentropy", metrics=["accuracy"])

recorder = ReplayRecorder(x_test, y_test, layers=["hidden"])  # nnx: records every epoch
model.fit(x_train, y_train, epochs=EPOCHS, batch_size=32,
          validation_data=(x_test, y_test), verbose=2, callbacks=[recorder])  # nnx: callbacks
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy {accuracy:.3f}")

ex.metric("test_accuracy", accuracy)  # nnx: a number for the page
publish_replay(ex, recorder)  # nnx: still, poster, video, scrubber frames, replay file
ex.finish()  # nnx

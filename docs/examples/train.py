"""A small classifier on scikit-learn's breast-cancer data: a plain Keras training script."""
import keras
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

EPOCHS = 30

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

model.fit(x_train, y_train, epochs=EPOCHS, batch_size=32,
          validation_data=(x_test, y_test), verbose=2)
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy {accuracy:.3f}")

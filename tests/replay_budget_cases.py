"""Models a new author makes from the replay scaffold, whose replay files grew past any budget.

Issue 24's cases: each is the scaffold (``pipeline new SLUG --template replay``) with only its
``data`` and ``model`` cells changed, as an author would. Before the recorder kept only what is
drawn, their published ``replay.npz`` were 185 MB (the digits CNN), 66 MB (a 1-D convolution
on 1,200 short sequences) and 42 MB (the seed-000 network on 20,000 points). The cells are kept
here rather than as whole fixture recipes so that the rest of each recipe is always the
scaffold as ``pipeline new`` writes it today.
"""

from __future__ import annotations

from tests.scaffold_support import cells, tags

DIGITS_DATA = '''\
# %% [markdown] tags=["data"]
# ## The data
# scikit-learn's 1,797 handwritten digits, 8x8 grey images scaled to 0..1.

# %% tags=["data"]
import sklearn
from sklearn.datasets import load_digits

from pipeline.library.datasets import DataSource

digits = load_digits()
X = (digits.images / 16.0).astype("float32")[..., None]
y = digits.target.astype("int64")
source = DataSource("digits", "package-copy", "sklearn.datasets.load_digits",
                    f"{len(X)} handwritten digits, 8x8 pixels, bundled with scikit-learn "
                    f"{sklearn.__version__}", len(X), None, False)
ex.use_data(source)
print(source.description, X.shape, y.shape)

'''

DIGITS_MODEL = '''\
# %% [markdown] tags=["model"]
# ## The model
# Conv2D(8) -> Flatten -> Dense(16) -> Dense(10) logits.

# %% tags=["model"]
def build_model() -> keras.Model:
    model = keras.Sequential([
        keras.Input(shape=X.shape[1:]),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(16, activation="relu", name="dense"),
        keras.layers.Dense(10, name="logits"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.005),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


model = build_model()
model.summary()

'''

SEQUENCES_DATA = '''\
# %% [markdown] tags=["data"]
# ## The data
# 1,200 short noisy sequences (32 steps): does the bump rise or fall?

# %% tags=["data"]
from pipeline.library.datasets import DataSource

rng = np.random.default_rng(0)
t = np.linspace(0.0, 1.0, 32)
y = rng.integers(0, 2, 1200).astype("float32")
centre = rng.uniform(0.2, 0.8, 1200)
bump = np.exp(-((t[None, :] - centre[:, None]) / 0.1) ** 2)
slope = np.where(y[:, None] > 0, t[None, :], 1.0 - t[None, :])
X = (bump * slope + 0.1 * rng.standard_normal((1200, 32)))[..., None].astype("float32")
ex.use_data(DataSource("bumps", "generated", "numpy",
                       "1,200 noisy 32-step sequences, a bump that rises or falls",
                       len(X), None, False))

'''

SEQUENCES_MODEL = '''\
# %% [markdown] tags=["model"]
# ## The model
# Conv1D(8, 5) -> Flatten -> Dense(8) -> Dense(1, sigmoid).

# %% tags=["model"]
def build_model() -> keras.Model:
    model = keras.Sequential([
        keras.Input(shape=X.shape[1:]),
        keras.layers.Conv1D(8, 5, activation="relu", name="conv"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(8, activation="relu", name="dense"),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


model = build_model()
model.summary()

'''

MOONS_20K_DATA = '''\
# %% [markdown] tags=["data"]
# ## The data
# 20,000 points on two moons.

# %% tags=["data"]
from pipeline.library.datasets import load_moons

X, y, source = load_moons(n_samples=20000, noise=0.15, random_state=0)
X = X.astype("float32")
y = y.astype("float32")
ex.use_data(source)

'''

MOONS_20K_MODEL = '''\
# %% [markdown] tags=["model"]
# ## The model
# The seed-000 network: Dense(4, tanh) -> Dense(2, tanh) -> Dense(1, sigmoid).

# %% tags=["model"]
def build_model() -> keras.Model:
    model = keras.Sequential([
        keras.Input(shape=(X.shape[1],)),
        keras.layers.Dense(4, activation="tanh", name="dense"),
        keras.layers.Dense(2, activation="tanh", name="hidden"),
        keras.layers.Dense(1, activation="sigmoid", name="output"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


model = build_model()
model.summary()

'''

CASES: dict[str, tuple[str, str]] = {
    "digits-cnn": (DIGITS_DATA, DIGITS_MODEL),
    "bump-sequences": (SEQUENCES_DATA, SEQUENCES_MODEL),
    "moons-20k": (MOONS_20K_DATA, MOONS_20K_MODEL),
}
"""slug -> (data cells, model cells): each the Markdown cell and the code cell of its tag."""


def with_case(fresh: str, slug: str) -> str:
    """``fresh`` (what ``pipeline new`` wrote) with its data and model cells from :data:`CASES`.

    Every other cell is left exactly as written; raises when the scaffold no longer has one
    Markdown and one code cell per tag, in that order.
    """
    data, model = CASES[slug]
    replacement = {"data": cells(data)[1:], "model": cells(model)[1:]}
    out: list[str] = []
    used = {"data": 0, "model": 0}
    for marker, text in cells(fresh):
        tag = next((t for t in ("data", "model") if t in tags(marker)), None)
        if tag is None:
            out.append(text)
            continue
        new_marker, new_text = replacement[tag][used[tag]]
        assert new_marker == marker, f"{slug}: the scaffold's {tag} cells changed: {marker!r}"
        used[tag] += 1
        out.append(new_text)
    assert used == {"data": 2, "model": 2}, f"{slug}: the scaffold's editable cells {used}"
    return "".join(out)

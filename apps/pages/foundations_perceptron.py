"""Perceptron and MLP: train a classifier on 2-D toy data live and watch its decision boundary move."""

import numpy as np
import streamlit as st
from matplotlib.figure import Figure

from toolkit import ui
from toolkit.errors import ToolkitError
from toolkit.foundations.activations import ACTIVATIONS
from toolkit.foundations.network import MLP
from toolkit.foundations.perceptron import DATA_SETS, Perceptron, accuracy, decision_grid, make_data

FRAMES = 5  # redraws during training

st.title("Perceptron and multilayer perceptron")
st.markdown(
    "A **perceptron** draws one straight line: it learns AND and OR, but no line separates XOR's classes, "
    "so its rule keeps making mistakes forever. A **multilayer perceptron** with a hidden layer, trained by "
    "backpropagation, bends the boundary: two hidden units are enough for XOR (from some starting weights: "
    "try other seeds and watch some get stuck in a local minimum)."
)

left, middle, right = st.columns(3)
data_set = left.selectbox("Data set", DATA_SETS, index=DATA_SETS.index("XOR"), key="dataset")
kind = left.radio("Model", ["Perceptron", "MLP"], index=1, horizontal=True, key="model")
hidden = middle.slider("Hidden units", 1, 32, 2, key="hidden", disabled=kind == "Perceptron")
activation = middle.selectbox(
    "Activation", [a for a in ACTIVATIONS if a != "linear"], key="activation", disabled=kind == "Perceptron"
)
learning_rate = right.select_slider("Learning rate", [0.01, 0.03, 0.1, 0.3, 0.5, 1.0, 3.0], 0.5, key="learning_rate")
epochs = right.select_slider(
    "Epochs", [10, 50, 100, 300, 1000, 3000, 5000], 3000 if kind == "MLP" else 50, key="epochs"
)
seed = right.number_input("Seed (starting weights)", 0, 999, 0, key="seed")

try:
    x, y = make_data(data_set, seed=0)
    model = Perceptron() if kind == "Perceptron" else MLP.create([2, hidden, 1], activation, "xavier", seed)
except ToolkitError as err:
    ui.show_error(err)
    st.stop()


def predict(points: np.ndarray) -> np.ndarray:
    return model.predict(points) if kind == "Perceptron" else (model.predict(points) > 0.5).astype(int)


def draw_regions(done: int) -> Figure:
    figure = Figure(figsize=(5, 4), layout="constrained")
    axes = figure.subplots()
    xx, yy, grid = decision_grid(x, resolution=80)
    axes.contourf(xx, yy, predict(grid).reshape(xx.shape), levels=[-0.5, 0.5, 1.5], colors=["#9ecae1", "#fdae6b"])
    axes.scatter(x[:, 0], x[:, 1], c=np.where(y, "#e6550d", "#3182bd"), edgecolors="k", s=60 if len(x) < 10 else 20)
    axes.set(title=f"{data_set}: decision regions after {done} epochs", xlabel="$x_1$", ylabel="$x_2$")
    return figure


regions, history = st.columns(2)
regions, history, status = regions.empty(), history.empty(), st.empty()
curve_name = "mistakes per epoch" if kind == "Perceptron" else "cross-entropy loss"
curve = np.empty(0)
for frame in range(1, FRAMES + 1):
    chunk = epochs * frame // FRAMES - len(curve)
    if kind == "Perceptron":
        chunk_curve = model.fit(x, y, chunk, learning_rate)
    else:
        chunk_curve = model.fit(x, y, learning_rate, chunk)
    curve = np.concatenate([curve, chunk_curve])
    regions.pyplot(draw_regions(len(curve)))
    history.line_chart({curve_name: curve}, x_label="epoch", y_label=curve_name)
    status.caption(f"training... epoch {len(curve)} of {epochs}")

score = accuracy(predict(x), y)
status.metric("Training accuracy", f"{score:.1%}")
if kind == "Perceptron" and curve[-1] > 0:
    st.warning(
        f"The perceptron still makes {int(curve[-1])} mistakes per epoch: no straight line separates these "
        "classes, so the perceptron rule never settles (Minsky & Papert 1969). Try the MLP."
    )
elif kind == "Perceptron":
    first = int(np.argmax(curve == 0)) + 1
    st.success(f"Converged: no mistakes from epoch {first} on (the data are linearly separable).")
elif score < 1:
    st.info(
        "Some points are still on the wrong side: train longer, raise the learning rate, add hidden units, or try "
        "another seed (backprop can settle in a local minimum)."
    )

"""Softmax and cross-entropy; SGD, momentum and Adam racing on 2-D loss surfaces."""

import numpy as np
import streamlit as st
from matplotlib.figure import Figure

from toolkit import ui
from toolkit.errors import ToolkitError
from toolkit.foundations.optimizers import (
    OPTIMIZERS,
    SURFACES,
    cross_entropy,
    cross_entropy_gradient,
    softmax,
    trajectory,
)

CLASSES = ["cat", "dog", "ship", "frog"]
LABELS = {"sgd": "SGD", "momentum": "SGD + momentum 0.9", "adam": "Adam"}

st.title("Softmax, cross-entropy and optimizers")
st.latex(
    r"p_k = \frac{e^{z_k / T}}{\sum_j e^{z_j / T}} \qquad L = -\log p_y \qquad "
    r"\frac{\partial L}{\partial (z_k / T)} = p_k - [k = y]"
)
columns = st.columns(len(CLASSES))
logits = np.array(
    [
        column.slider(f"logit {name}", -10.0, 10.0, float(value), 0.1, key=f"logit_{k}")
        for k, (column, name, value) in enumerate(zip(columns, CLASSES, [2.0, 1.0, 0.1, -1.0]))
    ]
)
left, right = st.columns(2)
temperature = left.slider("Temperature T", 0.1, 5.0, 1.0, 0.1, key="temperature")
label = right.selectbox("True class y", range(len(CLASSES)), format_func=CLASSES.__getitem__, key="label")
probabilities = softmax(logits, temperature)
scaled = logits / temperature
st.bar_chart({"probability": dict(zip(CLASSES, probabilities.tolist()))}, horizontal=True)
left, right = st.columns(2)
left.metric("Cross-entropy loss", f"{cross_entropy(scaled, label):.4f}")
right.write(
    "Gradient with respect to z / T: "
    + ", ".join(f"{name} {value:+.3f}" for name, value in zip(CLASSES, cross_entropy_gradient(scaled, label)))
)

st.header("Optimizers on a 2-D loss surface")


def reset_learning_rates() -> None:
    surface = SURFACES[st.session_state["surface"]]
    for name in OPTIMIZERS:
        st.session_state[f"lr_{name}"] = surface.learning_rates[name]


name = st.selectbox("Surface", list(SURFACES), key="surface", on_change=reset_learning_rates)
if "lr_sgd" not in st.session_state:
    reset_learning_rates()
surface = SURFACES[name]
steps = st.slider("Steps", 10, 1000, 200, 10, key="steps")
columns = st.columns(len(OPTIMIZERS))
rates = {
    o: column.number_input(f"learning rate, {LABELS[o]}", 1e-5, 10.0, key=f"lr_{o}", format="%.4g")
    for o, column in zip(OPTIMIZERS, columns)
}
try:
    paths = {o: trajectory(surface, o, rates[o], steps) for o in OPTIMIZERS}
except ToolkitError as err:
    ui.show_error(err)
    st.stop()

(x_low, x_high), (y_low, y_high) = surface.bounds
xx, yy = np.meshgrid(np.linspace(x_low, x_high, 150), np.linspace(y_low, y_high, 150))
figure = Figure(figsize=(10, 4), layout="constrained")
landscape, losses = figure.subplots(1, 2)
landscape.contour(xx, yy, np.log1p(surface.loss(xx, yy)), levels=30, cmap="Greys", linewidths=0.6)
for optimizer, path in paths.items():
    landscape.plot(path[:, 0], path[:, 1], marker=".", markersize=3, lw=1, label=LABELS[optimizer])
    losses.semilogy(np.maximum(surface.loss(path[:, 0], path[:, 1]), 1e-12), label=LABELS[optimizer])
landscape.plot(*surface.start, "k*", markersize=12)
landscape.set(xlim=(x_low, x_high), ylim=(y_low, y_high), title=f"{name}: paths from the star")
losses.set(xlabel="step", title="loss")
landscape.legend(fontsize=8)
st.pyplot(figure)
for optimizer, path in paths.items():
    if len(path) <= steps:
        st.warning(f"{LABELS[optimizer]} diverged after {len(path) - 1} steps: lower its learning rate.")

"""Weight initialisation: activation and gradient statistics layer by layer through a deep network."""

import numpy as np
import streamlit as st
from matplotlib.figure import Figure

from toolkit.foundations.initialisation import SCHEMES, SMALL_RANDOM_STD
from toolkit.foundations.propagation import propagate

LABELS = {"small random": f"small random (std {SMALL_RANDOM_STD})", "xavier": "Xavier/Glorot", "he": "He"}
MAX_PANELS = 6  # histograms per row

st.title("Weight initialisation")
st.markdown(
    "A batch of standard-normal inputs goes through a deep fully connected network of 256-unit layers. "
    "With weights that are too small the activations collapse towards zero layer after layer (and the "
    "gradients with them); **Xavier/Glorot** (std = sqrt(2 / (fan_in + fan_out))) keeps tanh layers alive, "
    "**He** (std = sqrt(2 / fan_in)) keeps the scale of ReLU layers constant with depth."
)
left, right = st.columns(2)
activation = left.selectbox("Activation", ["tanh", "relu", "sigmoid"], key="activation")
depth = right.slider("Hidden layers", 2, 20, 10, key="depth")


@st.cache_data(max_entries=6)  # ~16 MB each: the last two settings of all three schemes
def statistics(activation: str, scheme: str, depth: int):
    return propagate(activation, scheme, depth=depth)


runs = {scheme: statistics(activation, scheme, depth) for scheme in SCHEMES}
figure = Figure(figsize=(9, 3.2), layout="constrained")
spread, gradient = figure.subplots(1, 2)
layers = np.arange(1, depth + 1)
for scheme, run in runs.items():
    spread.plot(layers, run.activation_std, marker="o", label=LABELS[scheme])
    gradient.semilogy(layers, np.maximum(run.gradient_norm, 1e-30), marker="o", label=LABELS[scheme])
spread.set(title="std of the activations", xlabel="hidden layer")
gradient.set(title="||dL/dW||", xlabel="hidden layer")
spread.legend()
st.pyplot(figure)

scheme = st.radio("Histograms for", SCHEMES, format_func=LABELS.get, horizontal=True, key="scheme")
run = runs[scheme]
shown = np.unique(np.linspace(0, depth - 1, min(depth, MAX_PANELS)).round().astype(int))
figure = Figure(figsize=(2 * len(shown), 3.6), layout="constrained")
panels = figure.subplots(2, len(shown), squeeze=False, sharex="row")  # one scale: shrinking shows


def shared_bins(arrays: list[np.ndarray]) -> np.ndarray:
    """One set of bins for a row, so a distribution that collapses shows as a spike, not a rescaled bell."""
    reach = max(float(np.abs(a).max()) for a in arrays) or 1.0
    return np.linspace(-reach, reach, 61)


activation_bins = shared_bins([run.activations[layer] for layer in shown])
gradient_bins = shared_bins([run.weight_gradients[layer] for layer in shown])
for column, layer in enumerate(shown):
    panels[0, column].hist(run.activations[layer].ravel(), bins=activation_bins, color="#3182bd")
    panels[0, column].set_title(f"layer {layer + 1}\nstd {run.activation_std[layer]:.2g}", fontsize=9)
    panels[1, column].hist(run.weight_gradients[layer].ravel(), bins=gradient_bins, color="#e6550d")
    for axes in panels[:, column]:
        axes.tick_params(labelsize=6)
        axes.set_yticks([])
panels[0, 0].set_ylabel("activations")
panels[1, 0].set_ylabel("dL/dW")
st.pyplot(figure)

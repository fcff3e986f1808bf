"""Activation functions, their derivatives, and why deep sigmoid networks stop learning near the input."""

import numpy as np
import streamlit as st
from matplotlib.figure import Figure

from toolkit.foundations.activations import ACTIVATIONS
from toolkit.foundations.propagation import propagate

st.title("Activation functions")
chosen = st.multiselect(
    "Activations", [a for a in ACTIVATIONS if a != "linear"], ["sigmoid", "tanh", "relu"], key="activations"
)
for name in chosen:
    st.latex(ACTIVATIONS[name].formula)

z = np.linspace(-5, 5, 401)
figure = Figure(figsize=(9, 3.5), layout="constrained")
values, slopes = figure.subplots(1, 2)
for name in chosen:
    values.plot(z, ACTIVATIONS[name].function(z), label=name)
    slopes.plot(z, ACTIVATIONS[name].derivative(z), label=name)
values.set(title="f(z)", xlabel="z", ylim=(-1.5, 3))
slopes.set(title="f'(z)", xlabel="z", ylim=(-0.1, 1.1))
for axes in (values, slopes):
    axes.axhline(0, color="grey", lw=0.5)
    axes.axvline(0, color="grey", lw=0.5)
if chosen:
    values.legend()
st.pyplot(figure)
st.markdown(
    "The sigmoid's slope is at most **1/4** and vanishes for large |z|; tanh's is at most 1; ReLU's is exactly "
    "1 wherever the unit is active. Backpropagation multiplies one such slope per layer."
)

st.header("Vanishing gradients")
st.markdown(
    "One backward pass through a deep network at initialisation: the size of the gradient of the loss with "
    "respect to each layer's weights. With sigmoid units it shrinks by roughly 4x or more per layer towards the "
    "input, so the first layers barely learn; ReLU with He initialisation keeps it of the same order."
)
depth = st.slider("Hidden layers", 2, 20, 10, key="depth")
setups = {
    "sigmoid, Xavier init": ("sigmoid", "xavier"),
    "tanh, Xavier init": ("tanh", "xavier"),
    "ReLU, He init": ("relu", "he"),
}
norms = {
    label: propagate(act, scheme, depth=depth, width=128, batch=256).gradient_norm
    for label, (act, scheme) in setups.items()
}
figure = Figure(figsize=(7, 3.5), layout="constrained")
axes = figure.subplots()
for label, norm in norms.items():
    axes.semilogy(np.arange(1, depth + 1), np.maximum(norm, 1e-30), marker="o", label=label)
axes.set(xlabel="hidden layer (1 = next to the input)", ylabel="||dL/dW||", title="gradient norm per layer")
axes.legend()
st.pyplot(figure)
st.table(
    [
        {
            "network": label,
            "first layer": f"{n[0]:.2e}",
            "last layer": f"{n[-1]:.2e}",
            "last / first": f"{n[-1] / max(n[0], 1e-300):.3g}",
        }
        for label, n in norms.items()
    ]
)

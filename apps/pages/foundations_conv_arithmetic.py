"""Convolution arithmetic: output sizes, parameter counts and receptive fields, checked against Keras."""

import streamlit as st

from toolkit import ui
from toolkit.errors import ToolkitError
from toolkit.foundations.conv_arithmetic import PRESETS, compare_with_keras, output_size

st.title("Convolution arithmetic")
st.latex(
    r"W_{out} = \frac{W - F + 2P}{S} + 1 \qquad \text{params} = F \cdot F \cdot \frac{C_{in}}{G} \cdot K + K "
    r"\qquad r_{l} = r_{l-1} + (F - 1)\prod_{i<l} S_i"
)
st.caption("W input width, F kernel size, P zero padding, S stride, K filters, G groups, r receptive field.")

st.subheader("One layer")
columns = st.columns(4)
width = columns[0].number_input("W (input)", 1, 4096, 227, key="W")
kernel = columns[1].number_input("F (kernel)", 1, 512, 11, key="F")
padding = columns[2].number_input("P (padding)", 0, 512, 0, key="P")
stride = columns[3].number_input("S (stride)", 1, 512, 4, key="S")
try:
    size, exact = output_size(width, kernel, stride, padding)
    st.metric("Output width", size)
    if not exact:
        st.warning(
            f"(W - F + 2P) / S = {(width - kernel + 2 * padding) / stride:.2f} is not a whole number: the "
            "windows do not tile the input, and Keras drops the last incomplete one (the floor)."
        )
except ToolkitError as err:
    ui.show_error(err)

st.subheader("A whole network")


def load_preset() -> None:
    st.session_state["stack"] = PRESETS[st.session_state["preset"]]


preset = st.selectbox("Start from", list(PRESETS), key="preset", on_change=load_preset)
if "stack" not in st.session_state:
    load_preset()
text = st.text_area(
    "Layers, one per line (edit them)",
    key="stack",
    height=300,
    help="input HxWxC, then e.g. 'conv 64 3x3 s1 p1', 'conv 256 5x5 p2 g2', 'maxpool 2x2', 'avgpool 3x3 s2', "
    "'fc 4096', optionally named 'conv1: ...'. p<n> pads, 'same' keeps the size, g<n> groups.",
)
try:
    table = compare_with_keras(text)
except ToolkitError as err:
    ui.show_error(err)
    st.stop()

st.dataframe(table, hide_index=True)
formula_total = sum(row["parameters (formula)"] for row in table)
keras_total = sum(row["parameters (Keras)"] for row in table)
left, right = st.columns(2)
left.metric("Parameters (formulas)", f"{formula_total:,}")
right.metric("Parameters (Keras)", f"{keras_total:,}")
if all(row["agrees"] for row in table):
    st.success("Every output shape and parameter count from the formulas equals what Keras builds.")
else:
    st.error("The formulas and Keras disagree on the rows marked 'agrees = False'.")

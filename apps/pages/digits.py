"""Digits: draw, upload or pick an MNIST digit and see what the shipped network predicts."""

import numpy as np
import streamlit as st

from toolkit import ui
from toolkit.data.idx import load_idx_split
from toolkit.errors import ToolkitError
from toolkit.tasks.digits import CLASSES, prepare_drawing

st.title("Digits")
if not ui.require_shipped("digits"):
    st.stop()
model, card = ui.shipped_model("digits"), ui.shipped_card("digits")
st.caption(
    f"Model `{card['variant']}`: {card['metrics']['test_error_pct']:.2f}% error on MNIST's "
    f"{card['metrics']['test_examples']:,} test digits."
)


@st.cache_data
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    return load_idx_split("digits", "mnist", "test")


sources = (["Draw"] if ui.drawing_canvas_available() else []) + ["Upload", "MNIST test image"]
source = st.radio("Input", sources, horizontal=True, key="source")
image, truth = None, None
try:
    if source == "Draw":
        drawing = ui.drawing_canvas()
        if drawing is not None:
            image = prepare_drawing(drawing)
    elif source == "Upload":
        uploaded = st.file_uploader("An image of one digit", type=ui.IMAGE_TYPES, key="upload")
        if uploaded is not None:
            image = prepare_drawing(ui.read_uploaded_image(uploaded, mode="L", max_pixels=4_000_000))
    else:
        images, labels = mnist_test()
        index = st.number_input("Test image", 0, len(images) - 1, 0, key="index")
        image, truth = images[index], int(labels[index])
except ToolkitError as err:
    ui.show_error(err)
    st.stop()

if image is None:
    st.info("Draw a digit, upload an image, or pick a test image.")
    st.stop()

probabilities = model.predict(image[None].astype("float32"), verbose=0)[0]
predicted = int(probabilities.argmax())
left, right = st.columns(2)
left.image(ui.enlarge(image).astype("uint8"), caption="what the model sees (28x28)")
right.metric("Prediction", CLASSES[predicted], f"{probabilities[predicted]:.1%} sure", delta_color="off")
if truth is not None:
    right.write(f"True label: **{truth}**")
right.bar_chart({"probability": dict(zip(CLASSES, probabilities.tolist()))})

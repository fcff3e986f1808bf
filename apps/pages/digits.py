"""Digits: draw, upload or pick an MNIST digit and see what the shipped network predicts."""

import numpy as np
import streamlit as st

from toolkit import ui
from toolkit.digits.data import load_digit_split
from toolkit.digits.predict import CLASS_NAMES, SHIPPED_MODEL, drawing_to_mnist_digit
from toolkit.errors import ToolkitError

st.title("Digits")
if not ui.require_shipped(SHIPPED_MODEL):
    st.stop()
model, card = ui.shipped_model(SHIPPED_MODEL), ui.shipped_card(SHIPPED_MODEL)
st.caption(
    f"Model `{card['variant']}`: {card['metrics']['test_error_pct']:.2f}% error on MNIST's "
    f"{card['metrics']['test_examples']:,} test digits."
)


@st.cache_data
def mnist_test() -> tuple[np.ndarray, np.ndarray]:
    return load_digit_split("mnist", "test")


sources = (["Draw"] if ui.drawing_canvas_available() else []) + ["Upload", "MNIST test image"]
source = st.radio("Input", sources, index=sources.index("MNIST test image"), horizontal=True, key="source")
image, truth = None, None
try:
    if source == "Draw":
        drawing = ui.drawing_canvas()
        if drawing is not None:
            image = drawing_to_mnist_digit(drawing)
    elif source == "Upload":
        uploaded = st.file_uploader("An image of one digit", type=ui.IMAGE_TYPES, key="upload")
        if uploaded is not None:
            image = drawing_to_mnist_digit(ui.read_uploaded_image(uploaded, mode="L", max_pixels=4_000_000))
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
right.metric("Prediction", CLASS_NAMES[predicted], f"{probabilities[predicted]:.1%} sure", delta_color="off")
if truth is not None:
    right.write(f"True label: **{truth}**")
right.bar_chart({"probability": dict(zip(CLASS_NAMES, probabilities.tolist()))})

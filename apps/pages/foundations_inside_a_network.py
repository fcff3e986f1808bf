"""Inside a trained network: the first layer's filters and the feature maps of an image, layer by layer."""

import numpy as np
import streamlit as st

from toolkit import ui
from toolkit.errors import ToolkitError
from toolkit.foundations.feature_maps import (
    IMAGE_MODELS,
    feature_maps,
    first_layer_filters,
    spatial_layers,
    test_images,
    tile,
    user_image_to_model_input,
)

MAX_MAPS = 64  # feature maps shown per layer
DISPLAY_WIDTH = 640  # pixels, about, for each mosaic

st.title("Inside a trained network")
st.markdown(
    "A convolution layer slides each of its small **filters** over the image; each filter gives one **feature "
    "map** that lights up where its pattern occurs. The first layer's filters look for edges and blobs; deeper "
    "layers combine them into larger, more abstract parts, on smaller maps (after pooling or strides)."
)
name = st.selectbox("Shipped model", list(IMAGE_MODELS), format_func=IMAGE_MODELS.get, key="model")
if not ui.require_shipped(name):
    st.stop()
model, card = ui.shipped_model(name), ui.shipped_card(name)
classes = card.get("details", {}).get("classes") or [str(k) for k in range(model.output_shape[-1])]
st.caption(f"`{name}`: network `{card.get('variant', model.name)}`, {model.count_params():,} parameters.")

filters = first_layer_filters(model)
scale = max(1, DISPLAY_WIDTH // (16 * filters.shape[2]))
st.subheader("First-layer filters")
st.image(
    tile(filters, columns=16, scale=scale),
    caption=f"{len(filters)} filters of {filters.shape[1]}x{filters.shape[2]}x{filters.shape[3]} "
    "(each stretched to black = most negative, white = most positive weight)",
)


@st.cache_data
def cached_test_images(name: str) -> tuple[np.ndarray, np.ndarray]:
    return test_images(name)


st.subheader("Feature maps of an image")
sources = ["Test image", "Upload"] + (["Draw"] if ui.drawing_canvas_available() else [])
source = st.radio("Input", sources, horizontal=True, key="source")
image, truth = None, None
try:
    if source == "Test image":
        images, labels = cached_test_images(name)
        index = st.number_input("Test image", 0, len(images) - 1, 0, key="index")
        image, truth = images[index], classes[labels[index]]
    elif source == "Upload":
        uploaded = st.file_uploader("An image", type=ui.IMAGE_TYPES, key="upload")
        if uploaded is not None:
            image = user_image_to_model_input(name, ui.read_uploaded_image(uploaded, max_pixels=16_000_000))
    else:
        drawing = ui.drawing_canvas()
        if drawing is not None:
            image = user_image_to_model_input(name, drawing[..., :3].astype(np.uint8))
except ToolkitError as err:
    ui.show_error(err)
    st.stop()
if image is None:
    st.info("Pick a test image, upload one or draw one.")
    st.stop()

layer_names = spatial_layers(model)
layer = st.selectbox("Layer", layer_names, key="layer")
maps = feature_maps(model, image, [layer])[layer]
probabilities = model.predict(image[None].astype("float32"), verbose=0)[0]
predicted = int(probabilities.argmax())

left, right = st.columns([1, 3])
left.image(ui.enlarge(image, 6).astype(np.uint8), caption="the input")
left.metric("Prediction", classes[predicted], f"{probabilities[predicted]:.1%} sure", delta_color="off")
if truth is not None:
    left.write(f"True class: **{truth}**")
shown = np.moveaxis(maps[..., :MAX_MAPS], -1, 0)
right.image(
    tile(shown, columns=8, scale=max(1, DISPLAY_WIDTH // (8 * maps.shape[1]))),
    caption=f"layer `{layer}`: {maps.shape[-1]} maps of {maps.shape[0]}x{maps.shape[1]}"
    + (f" (first {MAX_MAPS} shown)" if maps.shape[-1] > MAX_MAPS else "")
    + "; each stretched to its own range, white = strongest",
)

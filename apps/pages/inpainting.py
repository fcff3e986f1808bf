"""Inpainting: hide part of an image and let a DCGAN fill it by latent search (Yeh et al. 2017), beside Telea."""

import numpy as np
import streamlit as st

from toolkit import pretrained, ui
from toolkit.errors import ToolkitError
from toolkit.inpainting.classic import telea
from toolkit.inpainting.masks import MASKS, make_mask, mask_from_drawing
from toolkit.inpainting.search import SearchSettings, inpaint
from toolkit.tasks.inpainting import held_out_images, prepare_image

st.title("Inpainting")
shipped = [name for name in pretrained.list() if name.startswith("inpainting_")]
if not shipped:
    ui.require_shipped("inpainting_fashion_mnist")
    st.stop()
name = st.selectbox("Model", shipped, key="model")
gan, card = ui.shipped_model(name), ui.shipped_card(name)
dataset = card["config"]["dataset"]
metrics = card["metrics"]
st.caption(
    f"DCGAN trained on {dataset} ({card['config']['epochs']} epochs). On {metrics['test_images']} test images with "
    f"the {metrics['mask']} mask it scores {metrics['hole_psnr']:.2f} dB PSNR in the hole "
    f"(Telea: {metrics['telea_hole_psnr']:.2f} dB)."
)


@st.cache_data
def cached_test_images(dataset: str) -> np.ndarray:
    return held_out_images(dataset, 100)


def display(picture: np.ndarray) -> np.ndarray:
    """(H, W, 1) grey or (H, W, 3) colour in [0, 1] -> what st.image shows."""
    picture = np.clip(picture, 0, 1)
    return picture[..., 0] if picture.shape[-1] == 1 else picture


st_canvas = ui.canvas_component()  # optional: without it the named masks still work

try:
    source = st.radio("Image", ["Test image", "Upload"], horizontal=True, key="source")
    if source == "Upload":
        uploaded = st.file_uploader("An image (resized to the model's size)", type=ui.IMAGE_TYPES, key="upload")
        if uploaded is None:
            st.info("Upload an image, or pick a test image.")
            st.stop()
        image = prepare_image(ui.read_uploaded_image(uploaded, max_pixels=4_000_000), dataset)
    else:
        images = cached_test_images(dataset)
        image = images[st.number_input("Test image", 0, len(images) - 1, 0, key="index")]
    height, width = image.shape[:2]
    kinds = list(MASKS) + (["draw"] if st_canvas else [])
    kind = st.selectbox("Mask", kinds, key="mask")
    if kind == "draw":
        scale = 256 // width
        left, right = st.columns(2)
        left.image(display(image), width=height * scale, caption="the image")
        with right:  # strokes on a transparent canvas of the same size: painted = missing
            drawing = st_canvas(
                stroke_width=2 * scale,
                stroke_color="#FF0000",
                height=height * scale,
                width=width * scale,
                return_image_data=True,
                key="canvas",
            )
        if drawing.image_data is None or not drawing.image_data[..., 3].any():
            st.info("Paint the part to hide on the right.")
            st.stop()
        mask = mask_from_drawing(drawing.image_data, height, width)
    else:
        mask = make_mask(kind, height, width, seed=int(st.number_input("Mask seed", 0, 999, 0, key="seed")))
    steps = st.slider("Search steps", 10, 1500, 300, step=10, key="steps")
    starts = st.slider("Starting points", 1, 16, 4, key="starts")
    if not st.button("Fill the hole", key="run"):
        st.image(display(image * mask[..., None] + 0.5 * (1 - mask[..., None])), width=192, caption="masked input")
        st.stop()
    bar = st.progress(0.0, text="Searching the latent space...")
    result = inpaint(
        gan,
        image[None],
        mask[None],
        SearchSettings(steps=steps, starts=starts),
        progress=lambda step, total: bar.progress(step / total, text=f"step {step} of {total}"),
    )
    classic = telea(image, mask)
except ToolkitError as err:
    ui.show_error(err)
    st.stop()

columns = st.columns(5)
shown = {
    "masked": result.masked[0],
    "GAN fill": result.generated[0],
    "blended (ours)": result.blended[0],
    "Telea": classic,
    "original": image,
}
for column, (caption, picture) in zip(columns, shown.items()):
    column.image(display(picture), caption=caption, width="stretch")
st.caption(f"Search loss {result.loss[0]:.3f} after {steps} steps from {starts} starting points.")

"""Inpainting: hide part of an image and let a DCGAN fill it by latent search (Yeh et al. 2017), beside Telea and
biharmonic. Opens on a colour CIFAR-10 test image with a centre hole; the grey MNIST / Fashion-MNIST models stay."""

import numpy as np
import streamlit as st
from PIL import Image

from toolkit import pretrained, ui
from toolkit.errors import ToolkitError
from toolkit.inpainting.classic import biharmonic, psnr, telea
from toolkit.inpainting.data import fit_to_dataset, held_out_images
from toolkit.inpainting.masks import MASKS, make_mask, mask_from_drawing
from toolkit.inpainting.search import SearchSettings, inpaint

COLOUR = "inpainting_cifar10"  # the model the page opens on
CANVAS = 256  # pixels of the drawing canvas's side

st.title("Inpainting")
shipped = [name for name in pretrained.list() if name.startswith("inpainting_")]
if not shipped:
    ui.require_shipped(COLOUR)
    st.stop()
if COLOUR not in shipped:
    st.info(
        f"The colour model ({COLOUR}) has not been shipped yet, so the page starts on a grey one. Train it with "
        "`python -m toolkit.train task=inpainting dataset=cifar10 filters=64 batch_size=128 epochs=20 out=trained/`."
    )
name = st.selectbox("Model", shipped, index=shipped.index(COLOUR) if COLOUR in shipped else 0, key="model")
gan, card = ui.shipped_model(name), ui.shipped_card(name)
dataset = card["config"]["dataset"]
metrics = card["metrics"]
classic_scores = f"Telea: {metrics['telea_hole_psnr']:.2f} dB" + (
    f", biharmonic: {metrics['biharmonic_hole_psnr']:.2f} dB" if "biharmonic_hole_psnr" in metrics else ""
)
st.caption(
    f"DCGAN trained on {dataset} ({card['config']['epochs']} epochs). On {metrics['test_images']} test images with "
    f"the {metrics['mask']} mask it scores {metrics['hole_psnr']:.2f} dB PSNR in the hole ({classic_scores})."
)


@st.cache_data
def cached_test_images(dataset: str) -> np.ndarray:
    return held_out_images(dataset, 100)


def display(picture: np.ndarray) -> np.ndarray:
    """(H, W, 1) grey or (H, W, 3) colour in [0, 1] -> sharp enlarged pixels for st.image."""
    return ui.enlarge(np.clip(picture, 0, 1), max(1, CANVAS // picture.shape[1]))


def draw_mask(image: np.ndarray) -> np.ndarray | None:
    """Paint the hole over the enlarged image; the mask (H, W), or None while nothing is painted."""
    height, width = image.shape[:2]
    scale = CANVAS // width
    pixels = np.round(display(image) * 255).astype(np.uint8)
    drawing = st_canvas(
        stroke_width=2 * scale,
        stroke_color="#FF0000",
        background_image=Image.fromarray(pixels),
        height=height * scale,
        width=width * scale,
        return_image_data=True,
        key="canvas",
    )
    if drawing.image_data is None or not drawing.image_data[..., 3].any():
        return None
    return mask_from_drawing(drawing.image_data, height, width)  # the strokes alone: the image is behind them


st_canvas = ui.canvas_component()  # optional: without it the named masks still work

try:
    source = st.radio("Image", ["Test image", "Upload"], horizontal=True, key="source")
    if source == "Upload":
        uploaded = st.file_uploader(
            "An image (cropped and resized to the model's size)", type=ui.IMAGE_TYPES, key="upload"
        )
        if uploaded is None:
            st.info("Upload an image, or pick a test image.")
            st.stop()
        image = fit_to_dataset(ui.read_uploaded_image(uploaded, max_pixels=4_000_000), dataset)
    else:
        images = cached_test_images(dataset)
        image = images[st.number_input("Test image", 0, len(images) - 1, 0, key="index")]
    height, width = image.shape[:2]
    kinds = list(MASKS) + (["draw"] if st_canvas else [])
    kind = st.selectbox("Mask", kinds, key="mask")
    if kind == "draw":
        mask = draw_mask(image)
        if mask is None:
            st.info("Paint the part to hide on the image.")
            st.stop()
    else:
        seed = st.number_input("Mask seed", 0, 999, 0, key="seed") if kind in ("random", "blocks") else 0
        mask = make_mask(kind, height, width, seed=int(seed))
    steps = st.slider("Search steps", 10, 1500, 300, step=10, key="steps")
    starts = st.slider("Starting points", 1, 16, 4, key="starts")
    average = st.checkbox("Average the fills of all starting points (higher PSNR, softer)", key="average")
    if not st.button("Fill the hole", key="run"):
        known = mask[..., None]
        st.image(display(image * known + 0.5 * (1 - known)), width=192, caption="masked input")
        st.stop()
    bar = st.progress(0.0, text="Searching the latent space...")
    result = inpaint(
        gan,
        image[None],
        mask[None],
        SearchSettings(steps=steps, starts=starts, average=starts if average else 1),
        progress=lambda step, total: bar.progress(step / total, text=f"step {step} of {total}"),
    )
    filled = {
        "GAN + Poisson (ours)": result.blended[0],
        "Telea": telea(image, mask),
        "biharmonic": biharmonic(image, mask),
    }
except ToolkitError as err:
    ui.show_error(err)
    st.stop()

hole = mask < 0.5
shown = {"masked": result.masked[0], "GAN fill G(z)": result.generated[0], **filled, "original": image}
for column, (caption, picture) in zip(st.columns(len(shown)), shown.items()):
    score = f" · {psnr(picture, image, hole):.1f} dB" if caption in filled else ""
    column.image(display(picture), caption=caption + score, width="stretch")
st.caption(
    f"Search loss {result.loss[0]:.3f} after {steps} steps from {starts} starting points"
    f"{', fills averaged' if average else ''}. "
    "dB: PSNR in the hole against the original."
)

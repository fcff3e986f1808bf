"""Denoising: add noise to a BSD68 image or a photo, or bring a noisy one (its level estimated); see FFDNet or DnCNN
remove it. FFDNet is told the noise level: the slider trades detail for smoothness."""

import io

import numpy as np
import streamlit as st
from PIL import Image

from toolkit import pretrained, ui
from toolkit.denoising.data import load_image_set
from toolkit.denoising.inference import add_noise, denoise_channels, estimate_noise_sigma, noise_rng
from toolkit.denoising.models import takes_noise_level
from toolkit.denoising.quality import psnr, ssim, to_uint8
from toolkit.errors import ToolkitError

MAX_PIXELS = 2_000_000  # a 1600x1200 photo: tiled, about half a minute on two CPU cores
MODELS = {  # shipped file -> what it is
    "denoising_ffdnet": "FFDNet, one model for sigma 0-75, told the level",
    "denoising": "DnCNN, trained at sigma 25",
    "denoising_blind": "DnCNN blind, trained at sigma 0-55",
    "denoising_dae": "denoising autoencoder, sigma 25",
}

st.title("Denoising")
if not ui.require_shipped("denoising"):
    st.stop()
shipped = [name for name in MODELS if name in pretrained.list()]
choice = st.radio("Model", shipped, format_func=MODELS.get, horizontal=True, key="model")
model, card = ui.shipped_model(choice), ui.shipped_card(choice)
metrics, trained_sigma = card["metrics"], card["data"]["sigma"]  # "25" or "blind"
told = takes_noise_level(model)
measured = [s for s in ("15", "25", "50") if f"psnr_{s}" in metrics]
st.caption(
    f"`{card['variant']}` ({card['parameters']:,} parameters), trained at sigma={trained_sigma}. On BSD68: "
    + ", ".join(f"{metrics[f'psnr_{s}']:.2f} dB at sigma {s}" for s in measured)
    + (f" (BM3D {metrics['bm3d_psnr_25']:.2f} dB at sigma 25)." if "bm3d_psnr_25" in metrics else ".")
)


@st.cache_data
def bsd68() -> dict[str, np.ndarray]:
    return dict(load_image_set("bsd68"))


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image)).save(buffer, format="PNG")
    return buffer.getvalue()


try:
    source = st.radio("Image", ["BSD68 test image", "Upload"], horizontal=True, key="source")
    if source == "Upload":
        uploaded = st.file_uploader(
            f"A photo (up to {MAX_PIXELS / 1e6:.0f} megapixels)", type=ui.IMAGE_TYPES, key="upload"
        )
        if uploaded is None:
            st.info("Upload an image, or pick a BSD68 test image.")
            st.stop()
        colour = st.radio(
            "Colour photos",
            ["Denoise each channel (R, G, B)", "Convert to grayscale"],
            horizontal=True,
            key="colour",
            help="The models are trained on grayscale images: a colour photo is denoised one channel at a time "
            "(three passes) or converted to grayscale first.",
        ).startswith("Denoise")
        mode = "RGB" if colour else "L"
        name, image = uploaded.name, ui.read_uploaded_image(uploaded, mode=mode, max_pixels=MAX_PIXELS) / 255
    else:
        images = bsd68()
        name = st.selectbox("Test image", list(images), key="image")
        image = images[name]
    already_noisy = st.checkbox("The image is already noisy (denoise it as it is)", key="already_noisy")
    if already_noisy:
        clean, noisy = None, image.astype(np.float32)
        estimate = estimate_noise_sigma(noisy)
        st.info(
            f"Estimated noise level: sigma = {estimate:.1f} (0-255 scale; scikit-image's wavelet estimate)."
            + ("" if trained_sigma == "blind" else f" This model was trained at sigma={trained_sigma}.")
        )
        level = estimate
        if trained_sigma != "blind" and abs(estimate - float(trained_sigma)) > 10:
            st.warning("The estimate is far from the model's training level: try the blind model.")
    else:
        sigma = st.slider("Noise level sigma (0-255 scale)", 5, 75, 25, step=5, key="sigma")
        if trained_sigma != "blind" and str(sigma) != str(trained_sigma):
            st.warning(f"This model was trained at sigma={trained_sigma}; other levels are outside its training.")
        clean, noisy, level = image, add_noise(image, sigma, noise_rng(0, sigma, name)), sigma
    if told:  # the key follows the true or estimated level, so a new image or noise level resets the slider
        level = st.slider(
            "Noise level the model is told (0-255 scale)",
            0,
            75,
            int(round(min(level, 75))),
            key=f"told_sigma_{round(level)}",
            help="Defaults to the noise added, or the level estimated from an image that is already noisy. "
            "Lower keeps more detail (and more noise), higher smooths more.",
        )
    ensemble = st.checkbox(
        "Self-ensemble: average the 8 rotations and mirror images",
        key="ensemble",
        help="About 0.1 dB better on BSD68, at 8 times the work.",
    )
    with st.spinner("Denoising..."):
        denoised = denoise_channels(model, noisy, level, ensemble)  # a blind model ignores the level
except ToolkitError as err:
    ui.show_error(err)
    st.stop()


def caption(label: str, estimate: np.ndarray) -> str:
    return label if clean is None else f"{label}: {psnr(clean, estimate):.2f} dB, SSIM {ssim(clean, estimate):.3f}"


def crop(image: np.ndarray, box: tuple[int, int, int], zoom: int) -> np.ndarray:
    """The `box` (top, left, side) of an image, enlarged `zoom` times with nearest-neighbour pixels."""
    top, left, side = box
    part = to_uint8(image[top : top + side, left : left + side])
    return np.repeat(np.repeat(part, zoom, axis=0), zoom, axis=1)


shown = [("noisy", noisy), ("denoised", denoised)] + ([("clean", clean)] if clean is not None else [])
columns = st.columns(len(shown))
for column, (label, picture) in zip(columns, shown):
    column.image(to_uint8(picture), caption=caption(label, picture) if label != "clean" else label)

st.subheader("Zoomed crop")
height, width = noisy.shape[:2]
side = max(1, min(64, height // 2, width // 2))  # half the image at most: the crop can always move
left_pick, top_pick, zoom_pick = st.columns(3)
left = left_pick.slider("Left", 0, width - side, (width - side) // 2, key="crop_left")
top = top_pick.slider("Top", 0, height - side, (height - side) // 2, key="crop_top")
zoom = zoom_pick.select_slider("Zoom", [2, 3, 4, 6], 4, key="crop_zoom")
for column, (label, picture) in zip(st.columns(len(shown)), shown):
    column.image(crop(picture, (top, left, side), zoom), caption=f"{label}, {side}x{side} px at {zoom}x")

st.download_button(
    "Download the denoised image (PNG)",
    png_bytes(denoised),
    file_name=f"{name.rsplit('.', 1)[0]}_denoised.png",
    mime="image/png",
    key="download",
)

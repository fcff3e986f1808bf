"""Inpainting: hide part of a photo and fill it. A fill network (one forward pass, Pathak et al. 2016), Telea and
biharmonic side by side at once; a DCGAN's latent search (Yeh et al. 2017) on a button. Opens on a colour CIFAR-10
test image with a centre hole; on an uploaded photo the user paints the hole. Without a shipped fill network the
page shows the classic methods and the latent search, as before it had one."""

import numpy as np
import streamlit as st
from PIL import Image

from toolkit import pretrained, ui
from toolkit.errors import ToolkitError
from toolkit.inpainting import fill_around_hole, inpaint
from toolkit.inpainting.classic import biharmonic, psnr, telea
from toolkit.inpainting.data import IMAGE_SHAPES, fit_photo, held_out_images
from toolkit.inpainting.masks import MASKS, make_mask, mask_from_drawing
from toolkit.inpainting.search import SearchSettings

NETWORK = "inpainting_fill_net_"  # the fill networks' names: this and the data set; the DCGANs' lack "fill_net_"
COLOUR = "cifar10"  # the data set the page opens on
CANVAS = 256  # pixels of the drawing canvas's longer side
TRAIN_NETWORK = (  # about 80 minutes on two idle CPU cores (bench/results/inpainting_fill_net_speed.md)
    "python -m toolkit.train task=inpainting model=fill_net dataset=cifar10 batch_size=64 epochs=60 "
    "learning_rate=1e-3 out=trained/"
)

st.title("Inpainting")
shipped = [name for name in pretrained.list() if name.startswith("inpainting_")]
if not shipped:
    ui.require_shipped(f"{NETWORK}{COLOUR}")
    st.stop()
networks = {name.removeprefix(NETWORK): name for name in shipped if name.startswith(NETWORK)}
gans = {name.removeprefix("inpainting_"): name for name in shipped if not name.startswith(NETWORK)}
datasets = sorted(set(networks) | set(gans), key=lambda name: (name != COLOUR, name))
if COLOUR not in networks:
    st.info(
        f"The colour fill network ({NETWORK}{COLOUR}) has not been shipped yet: the page shows the classic methods "
        f"and the DCGAN's latent search. Train it with `{TRAIN_NETWORK}`."
    )
dataset = st.selectbox("Images", datasets, key="dataset")
network = ui.shipped_model(networks[dataset]) if dataset in networks else None
gan = ui.shipped_model(gans[dataset]) if dataset in gans else None
size = IMAGE_SHAPES[dataset][:2]


def scores(name: str, what: str) -> str:
    """One sentence from a shipped model's card: what it scored in the hole beside Telea and biharmonic."""
    card = ui.shipped_card(name)
    metrics = card["metrics"]
    classic = f"Telea {metrics['telea_hole_psnr']:.2f} dB" + (
        f", biharmonic {metrics['biharmonic_hole_psnr']:.2f} dB" if "biharmonic_hole_psnr" in metrics else ""
    )
    return (
        f"{what} trained on {dataset} ({card['config']['epochs']} epochs): {metrics['hole_psnr']:.2f} dB PSNR in the "
        f"hole on {metrics['test_images']} test images with the {metrics['mask']} mask ({classic})."
    )


model_kinds = {"Fill network": networks, "DCGAN": gans}
st.caption(" ".join(scores(names[dataset], what) for what, names in model_kinds.items() if dataset in names))


@st.cache_data
def cached_test_images(dataset: str) -> np.ndarray:
    return held_out_images(dataset, 100)


def display(picture: np.ndarray) -> np.ndarray:
    """(H, W, 1) grey or (H, W, 3) colour in [0, 1] -> sharp enlarged pixels for st.image."""
    return ui.enlarge(np.clip(picture, 0, 1), max(1, CANVAS // max(picture.shape[:2])))


def draw_mask(image: np.ndarray) -> np.ndarray | None:
    """Paint the hole over the enlarged image; the mask (H, W), or None while nothing is painted."""
    height, width = image.shape[:2]
    scale = max(1, CANVAS // max(height, width))
    pixels = np.round(display(image) * 255).astype(np.uint8)
    drawing = st_canvas(
        stroke_width=max(2, round(2 * max(height, width) / size[0] * scale)),  # 2 pixels of the model's size
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
            f"A photo (its longer side reduced to {CANVAS} pixels)", type=ui.IMAGE_TYPES, key="upload"
        )
        if uploaded is None:
            st.info("Upload a photo, or pick a test image.")
            st.stop()
        image = fit_photo(ui.read_uploaded_image(uploaded, max_pixels=4_000_000), dataset, CANVAS)
    else:
        images = cached_test_images(dataset)
        image = images[st.number_input("Test image", 0, len(images) - 1, 0, key="index")]
    height, width = image.shape[:2]
    kind = st.selectbox("Hole", list(MASKS) + (["draw"] if st_canvas else []), key="mask")
    if kind == "draw":
        mask = draw_mask(image)
        if mask is None:
            st.info("Paint the part to hide on the image.")
            st.stop()
    else:
        seed = st.number_input("Mask seed", 0, 999, 0, key="seed") if kind in ("random", "blocks", "strokes") else 0
        mask = make_mask(kind, height, width, seed=int(seed))
    if (height, width) != size:
        st.caption(
            f"The models fill {size[0]}x{size[1]} images: around the hole a square twice its size is cut out, "
            f"shrunk to {size[0]}x{size[1]}, filled and put back (the known pixels are kept). Telea and biharmonic "
            "fill the photo at its own size."
        )
    filled = {}
    if network is not None:
        filled["fill network"] = fill_around_hole(
            lambda im, m: inpaint(network, im[None], m[None]).filled[0], image, mask, size
        )
    filled["Telea"] = telea(image, mask)
    filled["biharmonic"] = biharmonic(image, mask)
    results = st.container()  # the fills show above the latent search's settings
    searches = []  # the latent search's result, once its button is pressed
    if gan is not None:
        st.markdown("**The DCGAN's latent search** (Yeh et al. 2017): slow, seconds to minutes.")
        steps = st.slider("Search steps", 10, 1500, 300, step=10, key="steps")
        starts = st.slider("Starting points", 1, 16, 4, key="starts")
        average = st.checkbox("Average the fills of all starting points (higher PSNR, softer)", key="average")
        if st.button("Fill the hole with the latent search", key="search"):
            bar = st.progress(0.0, text="Searching the latent space...")
            settings = SearchSettings(steps=steps, starts=starts, average=starts if average else 1)

            def search_fill(im: np.ndarray, m: np.ndarray) -> np.ndarray:
                progress = lambda step, total: bar.progress(step / total, text=f"step {step} of {total}")  # noqa: E731
                searches.append(inpaint(gan, im[None], m[None], settings, progress))
                return searches[-1].filled[0]

            filled["GAN + Poisson"] = fill_around_hole(search_fill, image, mask, size)
except ToolkitError as err:
    ui.show_error(err)
    st.stop()

known, hole = mask[..., None], mask < 0.5
shown = {"with the hole": image * known + 0.5 * (1 - known), **filled, "original": image}
for column, (caption, picture) in zip(results.columns(len(shown)), shown.items()):
    score = f" · {psnr(picture, image, hole):.1f} dB" if caption in filled else ""
    column.image(display(picture), caption=caption + score, width="stretch")
notes = ["dB: PSNR in the hole against the original."]
if searches:
    search = searches[-1]
    notes.append(
        f"Search loss {search.loss[0]:.3f} after {steps} steps from {starts} starting points"
        f"{', fills averaged' if average else ''}."
    )
    results.image(display(search.generated[0]), caption="the GAN's whole image G(z) at the model's size", width=128)
elif gan is not None:
    notes.append("The DCGAN's latent search runs on the button below.")
results.caption(" ".join(notes))

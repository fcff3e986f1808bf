"""Transfer: what the ImageNet backbone sees beside what the new flower head decides; train a head on your classes."""

import tempfile

import keras
import numpy as np
import streamlit as st

from toolkit import ui
from toolkit.backbones.convert_efficientnet_lite0 import sample_photos
from toolkit.data.image_folder import read_image
from toolkit.data.image_zip import extract_image_zip
from toolkit.errors import ToolkitError
from toolkit.transfer.data import split_photo_paths
from toolkit.transfer.predict import class_probabilities, fit_head_on_folder, imagenet_top5, load_imagenet_classifier

MODEL = "transfer_flower_photos"
MAX_ZIP_MB = 50
MAX_ZIP_IMAGES = 1500

st.title("Transfer")
st.caption(
    "An EfficientNet-Lite0 trained on ImageNet's 1000 classes, reused for 5 kinds of flower: its features are kept, "
    "a new head is trained on them (stage 1), then its top blocks are fine-tuned (stage 2)."
)


@st.cache_resource(show_spinner="Loading the ImageNet backbone...")
def imagenet_classifier() -> keras.Model:
    return load_imagenet_classifier()


@st.cache_data
def flower_test_paths() -> list[tuple[str, str]]:
    return split_photo_paths("test")


def photo_picker() -> tuple[np.ndarray | None, str | None]:
    """An uploaded photo, a flower from the test split, or a scikit-image photo; and its true class if known."""
    source = st.radio("Photo", ["Flower from the test split", "Upload", "Sample photo"], horizontal=True, key="source")
    if source == "Upload":
        uploaded = st.file_uploader("A photo", type=ui.IMAGE_TYPES, key="upload")
        return (ui.read_uploaded_image(uploaded, max_pixels=12_000_000), None) if uploaded else (None, None)
    if source == "Sample photo":
        name = st.selectbox("scikit-image photo", ["chelsea", "coffee", "astronaut", "rocket"], key="sample")
        return sample_photos(256)[name], None
    paths = flower_test_paths()
    index = st.number_input(f"Test photo (0-{len(paths) - 1})", 0, len(paths) - 1, 0, key="index")
    path, truth = paths[index]
    return read_image(path), truth


def classify_tab() -> None:
    if not ui.require_shipped(MODEL):
        return
    model, card = ui.shipped_model(MODEL), ui.shipped_card(MODEL)
    classes = card["details"]["classes"]
    st.caption(
        f"Fine-tuned model: {card['metrics']['test_accuracy']:.1%} accuracy on the flower_photos test split. "
        f"Every photo is fitted to {model.input_shape[1]} px square as in training: its centre square, resized."
    )
    image, truth = photo_picker()
    if image is None:
        st.info("Upload a photo or pick one.")
        return
    flowers = class_probabilities(model, image, classes)
    seen = imagenet_top5(imagenet_classifier(), image)
    left, middle, right = st.columns(3)
    left.image(image, caption="photo" + (f" (true class: {truth})" if truth else ""))
    middle.subheader("The new head decided")
    middle.metric("Flower", next(iter(flowers)), f"{next(iter(flowers.values())):.1%} sure", delta_color="off")
    middle.bar_chart({"probability": flowers})
    right.subheader("The ImageNet backbone saw")
    right.dataframe({"ImageNet class": [n for n, _ in seen], "probability": [round(p, 3) for _, p in seen]})


def own_classes_tab() -> None:
    st.write(
        f"Upload a zip of `<class>/<image>.jpg` folders (at least 2 classes; up to {MAX_ZIP_IMAGES} images, "
        f"{MAX_ZIP_MB} MB). A new head is trained on the frozen ImageNet features, here in the page."
    )
    uploaded = st.file_uploader("Zip of class folders", type=["zip"], key="zip")
    epochs = st.slider("Epochs", 20, 200, 100, step=10, key="epochs")
    if uploaded is not None and uploaded.size > MAX_ZIP_MB * 1_000_000:
        st.error(f"The zip is {uploaded.size / 1e6:.0f} MB; the limit is {MAX_ZIP_MB} MB.")
    elif uploaded is not None and st.button("Train the head", key="train"):
        train_own_head(uploaded.getvalue(), epochs)
    if "own_head" in st.session_state:
        result = st.session_state["own_head"]
        photo = st.file_uploader("Try a photo on your classes", type=ui.IMAGE_TYPES, key="own_photo")
        if photo is not None:
            image = ui.read_uploaded_image(photo, max_pixels=12_000_000)
            left, right = st.columns(2)
            left.image(image)
            right.bar_chart({"probability": class_probabilities(result.model, image, result.classes)})


def train_own_head(data: bytes, epochs: int) -> None:
    bar = st.progress(0.0, text="Reading images and computing features...")
    with tempfile.TemporaryDirectory() as folder:
        root = extract_image_zip(data, folder, max_images=MAX_ZIP_IMAGES)
        result = fit_head_on_folder(
            root, epochs=epochs, on_epoch=lambda done, total: bar.progress(done / total, text=f"epoch {done}/{total}")
        )
    st.session_state["own_head"] = result
    st.success(
        f"Trained on {sum(result.images_per_class.values())} images of {len(result.classes)} classes"
        + (f": {result.test_accuracy:.1%} accuracy on 15% held out." if result.test_accuracy is not None else ".")
    )
    st.dataframe({"class": list(result.images_per_class), "images": list(result.images_per_class.values())})


tab = st.radio("Mode", ["Classify a photo", "Bring your own classes"], horizontal=True, key="mode")
try:
    if tab == "Classify a photo":
        classify_tab()
    else:
        own_classes_tab()
except ToolkitError as err:
    ui.show_error(err)

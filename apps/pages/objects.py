"""Objects: classify a Fashion-MNIST or CIFAR-10 image (or a photo) and see where the network looks."""

import numpy as np
import streamlit as st

from toolkit import ui
from toolkit.classification import confusion_matrix_figure
from toolkit.errors import ToolkitError
from toolkit.grad_cam import grad_cam, heatmap_overlay
from toolkit.objects.data import DATASETS, load_object_split
from toolkit.objects.predict import artifact_name, photo_to_dataset_image

ZOOM = 8  # screen pixels per image pixel

st.title("Objects")
dataset = st.radio("Data set", list(DATASETS), format_func=lambda d: DATASETS[d].name, horizontal=True, key="dataset")
name = artifact_name(dataset)
if not ui.require_shipped(name):
    st.stop()
model, card = ui.shipped_model(name), ui.shipped_card(name)
classes = card["details"]["classes"]
trained_on = ", ".join(card["hardware"]["accelerators"]) or f"{card['hardware']['cpu_cores']} CPU cores"
st.caption(
    f"Model `{model.name}` ({card['parameters']:,} parameters): {card['metrics']['test_accuracy']:.2%} accuracy on "
    f"{card['metrics']['test_examples']:,} {DATASETS[dataset].name} test images; trained on {trained_on}."
)


@st.cache_data
def test_split(dataset: str) -> tuple[np.ndarray, np.ndarray]:
    return load_object_split(dataset, "test")


source = st.radio("Input", ["Test image", "Upload a photo"], horizontal=True, key="source")
image, truth = None, None
try:
    if source == "Upload a photo":
        uploaded = st.file_uploader("A photo of one object", type=ui.IMAGE_TYPES, key="upload")
        if uploaded is not None:
            image = photo_to_dataset_image(ui.read_uploaded_image(uploaded, max_pixels=16_000_000), dataset)
    else:
        images, labels = test_split(dataset)
        index = st.number_input("Test image", 0, len(images) - 1, 0, key="index")
        image, truth = images[index], classes[labels[index]]
except ToolkitError as err:
    ui.show_error(err)
    st.stop()

if image is None:
    st.info("Upload a photo, or pick a test image.")
    st.stop()

probabilities = model.predict(image[None].astype("float32"), verbose=0)[0]
top5 = np.argsort(probabilities)[::-1][:5]
cam = grad_cam(model, image[None].astype("float32"), int(top5[0]))[0]

left, middle, right = st.columns(3)
left.image(ui.enlarge(image, ZOOM), caption=f"what the model sees ({image.shape[1]}x{image.shape[0]})")
middle.image(
    ui.enlarge(heatmap_overlay(image, cam), ZOOM), caption=f"where it looks for '{classes[top5[0]]}' (Grad-CAM)"
)
right.metric("Prediction", classes[top5[0]], f"{probabilities[top5[0]]:.1%} sure", delta_color="off")
if truth is not None:
    right.write(f"True class: **{truth}**")
st.dataframe(
    {"class": [classes[i] for i in top5], "probability": [float(probabilities[i]) for i in top5]},
    hide_index=True,
    column_config={"probability": st.column_config.ProgressColumn(format="%.3f", min_value=0, max_value=1)},
)

st.subheader("How good is it: the test split")
st.bar_chart(card["details"]["per_class_accuracy"], x_label="class", y_label="accuracy")
st.pyplot(confusion_matrix_figure(card["details"]["confusion_matrix"], classes, "rows: true class; columns: predicted"))
st.caption(f"Trained with `{card['command']}`.")

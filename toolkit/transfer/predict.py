"""Using transfer models on photos: class probabilities, what ImageNet sees, and a new head on anyone's folder.

What the page and the benchmark call. Any RGB photo, whatever its shape, is fitted to the model's S x S by
`square_photo` (the centre square, resized bilinearly: the policy the training files went through).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from toolkit import backbones
from toolkit.data.image_folder import fit_image, load_image_folder
from toolkit.errors import InputError
from toolkit.transfer.data import stratified_split
from toolkit.transfer.models import build_transfer, fit_head, pooled_features

HEAD_SPLIT = (0.85, 0.15)  # train / test of each class, for the accuracy of a head trained on a user's folder
MIN_IMAGES_TO_HOLD_OUT = 7  # per class; with fewer, the head trains on everything and reports no accuracy


def square_photo(image: np.ndarray, size: int) -> np.ndarray:
    """Any RGB photo uint8 (H, W, 3) -> uint8 (size, size, 3): its centre square, resized as the files were."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or min(image.shape[:2]) < 8:
        raise InputError(f"Expected an RGB image of at least 8x8 pixels, got shape {image.shape}.")
    photo = keras.utils.array_to_img(image, scale=False)
    return np.asarray(fit_image(photo, (size, size)), dtype=np.uint8)


def one_photo(model: keras.Model, pixels: np.ndarray) -> np.ndarray:
    """The output for one photo (S, S, 3) uint8 by a direct call: `model.predict` first traces a graph, about a
    second per model on two cores, that a page's first photo would wait for."""
    batch = pixels[None].astype("float32")
    return keras.ops.convert_to_numpy(model([batch] if isinstance(model.input, list) else batch, training=False))[0]


def class_probabilities(model: keras.Model, image: np.ndarray, classes: list[str]) -> dict[str, float]:
    """{class: probability} of one photo under a transfer model, most likely first."""
    probabilities = one_photo(model, square_photo(image, model.input_shape[1]))
    return dict(sorted(zip(classes, map(float, probabilities)), key=lambda item: -item[1]))


def load_imagenet_classifier(image_size: int = 224) -> keras.Model:
    """The shipped EfficientNet-Lite0 with its ImageNet top: pixels 0-255 (N, S, S, 3) -> logits (N, 1000)."""
    return backbones.load_efficientnet_lite0(include_top=True, input_shape=(image_size, image_size, 3))


def imagenet_top5(classifier: keras.Model, image: np.ndarray) -> list[tuple[str, float]]:
    """What the raw backbone sees: (ImageNet class, probability) of its 5 most likely classes for one photo."""
    logits = one_photo(classifier, square_photo(image, classifier.input_shape[1] or 224))
    return backbones.imagenet_top_k(keras.ops.convert_to_numpy(keras.ops.softmax(logits)), 5)


@dataclass
class HeadResult:
    model: keras.Model  # pixels (N, S, S, 3) -> probabilities over `classes`
    classes: list[str]
    images_per_class: dict[str, int]
    test_accuracy: float | None  # on 15% held out per class; None when a class has too few images


def fit_head_on_folder(root: str | os.PathLike, image_size: int = 224, epochs: int = 100, on_epoch=None) -> HeadResult:
    """Stage 1 on a user's `<root>/<class>/*.jpg`: a new head on cached frozen Lite0 features.

    `on_epoch(done, total)` is called after every epoch (a progress bar). 15% of each class is held out.
    """
    images, labels, classes = load_image_folder(Path(root).resolve(), image_size=(image_size, image_size))
    counts = dict(zip(classes, map(int, np.bincount(labels, minlength=len(classes)))))
    if len(classes) < 2 or min(counts.values()) < 2:
        raise InputError(f"Need at least 2 classes with 2 or more images each; found {counts}.")
    train, test = stratified_split(labels, HEAD_SPLIT)
    if min(counts.values()) < MIN_IMAGES_TO_HOLD_OUT:  # too few to hold any out: train on everything, no accuracy
        train, test = np.arange(len(labels)), np.arange(0)
    model = build_transfer(len(classes), image_size)
    features = pooled_features(model, images)
    progress = [keras.callbacks.LambdaCallback(on_epoch_end=lambda e, _: on_epoch(e + 1, epochs))] if on_epoch else []
    fit_head(model, (features[train], labels[train]), None, epochs, 3e-3, 256, progress)
    probe = keras.Sequential([model.get_layer("dropout"), model.get_layer("classifier")])
    accuracy = (
        float(np.mean(probe.predict(features[test], verbose=0).argmax(-1) == labels[test])) if len(test) else None
    )
    return HeadResult(model, classes, counts, accuracy)

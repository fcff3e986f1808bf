"""Inside a trained network: the first layer's filters and the feature maps an image produces.

Works for any functional Keras model whose input is an image batch (N, H, W, C); the shipped digits
and objects models take raw pixels 0-255, so images are passed as they are, after the task's own
preparation of a user's drawing or photo.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from toolkit.digits.data import load_digit_split
from toolkit.digits.predict import SHIPPED_MODEL as DIGITS_MODEL
from toolkit.digits.predict import drawing_to_mnist_digit
from toolkit.errors import InputError
from toolkit.objects.data import DATASETS as OBJECT_DATASETS
from toolkit.objects.data import load_object_split
from toolkit.objects.predict import artifact_name, photo_to_dataset_image

# The shipped image classifiers in trained/ worth looking inside, with a description for the page.
IMAGE_MODELS = {
    DIGITS_MODEL: "MNIST digits",
    artifact_name("fashion_mnist"): "Fashion-MNIST objects",
    artifact_name("cifar10"): "CIFAR-10 objects",
}


def _objects_dataset(model_name: str) -> str | None:
    """The data set of the shipped objects model `model_name`, or None when it is not one."""
    return next((dataset for dataset in OBJECT_DATASETS if model_name == artifact_name(dataset)), None)


def user_image_to_model_input(model_name: str, image: np.ndarray) -> np.ndarray:
    """A user's drawing or photo as the shipped model `model_name` takes it (the task's own preparation)."""
    if model_name == DIGITS_MODEL:
        return drawing_to_mnist_digit(image)
    dataset = _objects_dataset(model_name)
    if dataset is not None:
        return photo_to_dataset_image(image, dataset)
    raise InputError(f"No image preparation for the model '{model_name}'. Models: {', '.join(IMAGE_MODELS)}.")


def test_images(model_name: str) -> tuple[np.ndarray, np.ndarray]:
    """The test split the model `model_name` was measured on: uint8 images (N, H, W, C), labels (N,)."""
    if model_name == DIGITS_MODEL:
        return load_digit_split("mnist", "test")
    dataset = _objects_dataset(model_name)
    if dataset is not None:
        return load_object_split(dataset, "test")
    raise InputError(f"No test images for the model '{model_name}'. Models: {', '.join(IMAGE_MODELS)}.")


def spatial_layers(model: keras.Model) -> list[str]:
    """Names of the layers from the first convolution on whose output is a feature map (N, H, W, C)."""
    names, seen_conv = [], False
    for layer in model.layers:
        seen_conv = seen_conv or isinstance(layer, layers.Conv2D)
        if seen_conv and len(layer.output.shape) == 4 and not isinstance(layer, layers.Dropout):
            names.append(layer.name)
    if not names:
        raise InputError(f"The model '{model.name}' has no convolution layer to look inside.")
    return names


def first_layer_filters(model: keras.Model) -> np.ndarray:
    """The kernels of the first Conv2D layer as images: (filters, kernel_h, kernel_w, in_channels)."""
    conv = model.get_layer(spatial_layers(model)[0])
    kernel = keras.ops.convert_to_numpy(conv.kernel)  # (kh, kw, in, out)
    return np.transpose(kernel, (3, 0, 1, 2))


def feature_maps(model: keras.Model, image: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """The outputs (H, W, C) of the layers `names` for one image shaped like the model's input."""
    expected = tuple(model.input_shape[1:])
    if tuple(np.shape(image)) != expected:
        raise InputError(f"The model takes images of shape {expected}, got {np.shape(image)}.")
    probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
    outputs = probe(np.asarray(image, np.float32)[None], training=False)  # eager: no tracing for one image
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return {name: keras.ops.convert_to_numpy(output)[0] for name, output in zip(names, outputs)}


def tile(images: np.ndarray, columns: int = 8, scale: int = 1, pad: int = 1) -> np.ndarray:
    """Lay out images (N, h, w) or (N, h, w, channels) in a grid, each stretched to [0, 1], enlarged `scale` times.

    Three channels are shown in colour, any other number as their mean. Returns a float array in [0, 1]
    of (rows * (h*scale + pad) - pad, columns * (w*scale + pad) - pad[, 3]); the gaps are white.
    """
    images = np.asarray(images, np.float64)
    if images.ndim == 4 and images.shape[-1] != 3:
        images = images.mean(-1)
    low = images.min(axis=tuple(range(1, images.ndim)), keepdims=True)
    high = images.max(axis=tuple(range(1, images.ndim)), keepdims=True)
    images = (images - low) / np.maximum(high - low, 1e-12)
    images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    count, h, w = images.shape[:3]
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    grid = np.ones((rows * (h + pad) - pad, columns * (w + pad) - pad, *images.shape[3:]))
    for index, picture in enumerate(images):
        top, left = (index // columns) * (h + pad), (index % columns) * (w + pad)
        grid[top : top + h, left : left + w] = picture
    return grid

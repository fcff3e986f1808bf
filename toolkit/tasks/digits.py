"""Digits: MNIST classification with the course's three networks.

- `mlp`: a multilayer perceptron on the 784 pixels.
- `lenet5`: LeCun et al. 1998 (tanh, average-pool "subsampling", 120/84 dense layers).
- `cnn`: a modern network (BatchNorm, ReLU, dropout).

All three train on randomly shifted and rotated digits (`augment=false` turns that off).

Every model takes raw pixels 0-255, shape (N, 28, 28, 1), and returns class probabilities (N, 10);
the scaling to [0, 1] is the model's first layer, so callers never normalise.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers
from omegaconf import DictConfig

from toolkit.classification import classification_report, compile_classifier
from toolkit.config import RunConfig
from toolkit.data.idx import load_idx_split
from toolkit.data.tfds_source import source_info
from toolkit.errors import InputError
from toolkit.images import require_known_channels
from toolkit.tasks.base import Data, Evaluation, Task

IMAGE_SHAPE = (28, 28, 1)
CLASSES = [str(d) for d in range(10)]


@dataclass
class DigitsConfig(RunConfig):
    model: str = "cnn"
    epochs: int = 15
    batch_size: int = 128
    learning_rate: float = 2e-3
    validation_size: int = 5000  # held out from the end of the 60k training images
    dropout: float = 0.25  # dropout before the classifier (mlp: after each hidden layer)
    augment: bool = True  # shifts up to 10% and rotations up to 10 degrees (LeCun 1998's "distortions")


def load_split(config: DictConfig, split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_idx_split("digits", "mnist", split, config.data_dir, config.source)
    return images[: config.limit], labels[: config.limit]


def _inputs(config: DictConfig) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Raw pixels in, scaled to [0, 1]; with `augment`, small random shifts and rotations while training."""
    inputs = keras.Input(IMAGE_SHAPE, name="pixels")
    x = layers.Rescaling(1 / 255)(inputs)
    if config.augment:
        x = layers.RandomTranslation(0.1, 0.1, fill_mode="constant")(x)
        x = layers.RandomRotation(10 / 360, fill_mode="constant")(x)
    return inputs, x


def build_mlp(config: DictConfig) -> keras.Model:
    inputs, x = _inputs(config)
    x = layers.Flatten()(x)
    for units in (512, 256):
        x = layers.Dense(units, activation="relu")(x)
        x = layers.Dropout(config.dropout)(x)
    outputs = layers.Dense(10, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="mlp")


def build_lenet5(config: DictConfig) -> keras.Model:
    """LeNet-5: the 28x28 digit is padded to 32x32 as in the paper; C1-S2-C3-S4-C5(F)-F6-output."""
    inputs, x = _inputs(config)
    x = layers.ZeroPadding2D(2)(x)
    x = layers.Conv2D(6, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(16, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="tanh")(x)
    x = layers.Dense(84, activation="tanh")(x)
    outputs = layers.Dense(10, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="lenet5")


def build_cnn(config: DictConfig) -> keras.Model:
    """Two conv blocks (32, 64 filters) with BatchNorm and dropout, then a dense layer."""
    inputs, x = _inputs(config)
    for filters in (32, 64):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(config.dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(2 * config.dropout)(x)
    outputs = layers.Dense(10, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="cnn")


def prepare_drawing(image: np.ndarray) -> np.ndarray:
    """Turn a drawing or photo of one digit into an MNIST-style (28, 28, 1) array, 0-255.

    MNIST digits are white on black, scaled to fit 20x20 and centred by their centre of mass in 28x28;
    a user's image gets the same treatment so the model sees what it was trained on.
    """
    gray = np.asarray(image, dtype=np.float32)
    require_known_channels(gray)
    if gray.ndim == 3:
        if gray.shape[-1] == 4:  # transparent pixels count as background
            gray = gray[..., :3] * (gray[..., 3:] / 255.0)
        gray = gray[..., :3].mean(-1) if gray.shape[-1] >= 3 else gray[..., 0]
    if gray.ndim != 2 or min(gray.shape) < 8:
        raise InputError(f"Expected a 2-D image of at least 8x8 pixels, got shape {np.shape(image)}.")
    if np.median(gray) > 127:  # dark ink on light paper: invert to MNIST's white on black
        gray = 255 - gray
    gray = np.clip(gray - np.median(gray), 0, None)
    if gray.max() < 30:
        raise InputError("The image looks empty: draw or upload a digit with clear strokes.")
    rows, cols = np.nonzero(gray > 0.2 * gray.max())
    gray = gray[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = 20 / max(gray.shape)
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    digit = np.asarray(keras.utils.array_to_img(gray[..., None], scale=False).resize(size, resample=2), np.float32)
    digit *= 255 / max(digit.max(), 1)
    canvas = np.zeros((28, 28), np.float32)
    top, left = (28 - digit.shape[0]) // 2, (28 - digit.shape[1]) // 2
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    ys, xs = np.indices(canvas.shape)
    mass = canvas.sum()
    dy, dx = round(14 - (ys * canvas).sum() / mass), round(14 - (xs * canvas).sum() / mass)
    canvas = np.roll(canvas, (dy, dx), axis=(0, 1))
    return np.clip(canvas, 0, 255)[..., None]


class Digits(Task):
    name = "digits"
    summary = "MNIST handwritten digits: MLP, LeNet-5 and a modern CNN"
    Config = DigitsConfig
    models = {"mlp": build_mlp, "lenet5": build_lenet5, "cnn": build_cnn}
    metric = "test_error_pct"
    metric_label = "test error (%)"
    higher_is_better = False
    contract = "input: raw pixels 0-255, (N, 28, 28, 1), uint8 or float; output: class probabilities (N, 10)"

    def data(self, config: DictConfig) -> Data:
        images, labels = load_split(config, "train")
        val = min(config.validation_size, len(images) // 5)
        train, held_out = (images[:-val], labels[:-val]), (images[-val:], labels[-val:])
        test_size = len(load_split(config, "test")[1])
        info = {"name": "MNIST", "train": len(train[0]), "validation": val, "test": test_size}
        info |= source_info(config.source, "mnist", config.data_dir)
        return Data(train, held_out, info)

    def compile(self, model: keras.Model, config: DictConfig, steps_per_epoch: int) -> None:
        compile_classifier(model, config, steps_per_epoch)

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        images, labels = load_split(config, "test")
        return classification_report(model, images, labels, CLASSES)


TASK = Digits()

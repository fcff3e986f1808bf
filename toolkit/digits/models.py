"""Digits networks: an MLP, LeNet-5 and a modern CNN.

Every model takes raw pixels 0-255, (N, 28, 28, 1) uint8 or float, and returns class probabilities (N, classes)
in float32. The scaling to [0, 1] is the model's first layer; with `augment`, random shifts of up to 10 % and
rotations of up to 10 degrees follow it while training (LeCun 1998's "distortions"; off at inference).
"""

from __future__ import annotations

import keras
from keras import layers

IMAGE_SHAPE = (28, 28, 1)
CLASSES = 10


def _inputs(augment: bool) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Raw pixels in, scaled to [0, 1]; with `augment`, small random shifts and rotations while training."""
    inputs = keras.Input(IMAGE_SHAPE, name="pixels")
    x = layers.Rescaling(1 / 255)(inputs)
    if augment:
        x = layers.RandomTranslation(0.1, 0.1, fill_mode="constant")(x)
        x = layers.RandomRotation(10 / 360, fill_mode="constant")(x)
    return inputs, x


def build_mlp(dropout: float = 0.25, augment: bool = True, classes: int = CLASSES) -> keras.Model:
    """Flatten, two hidden ReLU layers (512, 256 units) each followed by `dropout`, softmax."""
    inputs, x = _inputs(augment)
    x = layers.Flatten()(x)
    for units in (512, 256):
        x = layers.Dense(units, activation="relu")(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="mlp")


def build_lenet5(augment: bool = True, classes: int = CLASSES) -> keras.Model:
    """LeNet-5: the 28x28 digit is padded to 32x32 as in the paper; C1-S2-C3-S4-C5(F)-F6-output."""
    inputs, x = _inputs(augment)
    x = layers.ZeroPadding2D(2)(x)
    x = layers.Conv2D(6, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Conv2D(16, 5, activation="tanh")(x)
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="tanh")(x)
    x = layers.Dense(84, activation="tanh")(x)
    outputs = layers.Dense(classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="lenet5")


def build_cnn(dropout: float = 0.25, augment: bool = True, classes: int = CLASSES) -> keras.Model:
    """Two conv blocks (32, 64 filters) with BatchNorm and `dropout`, then a dense layer (dropout doubled)."""
    inputs, x = _inputs(augment)
    for filters in (32, 64):
        for _ in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(2 * dropout)(x)
    outputs = layers.Dense(classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="cnn")

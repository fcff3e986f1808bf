"""Layers of the fast training path, shared by the tasks: backend-agnostic (`keras.ops`) and registered.

- `PatchWhitening`: a fixed first convolution that decorrelates the pixels of each small patch
  (Page's ResNet-9 notes, Jordan's airbench). Its filters come from the training images, not from SGD, so the
  network starts from well-conditioned features and needs no normalisation at full resolution.
- `TestTimeFlips` + `MeanOverFlips`: test-time augmentation inside the model. At inference the batch is doubled
  with mirrored copies and the two halves' logits are averaged; in training both layers do nothing. A shipped
  model therefore gives the same (augmented) predictions to `evaluate`, `pretrained.load` and the page.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops


@keras.saving.register_keras_serializable(package="toolkit")
class PatchWhitening(layers.Layer):
    """A `patch` x `patch` 'valid' convolution whose filters whiten the patches of the training images.

    The kernel is not trained (set by `adapt`); the bias is. Output channels: 2 x patch^2 x channels
    (each whitening filter and its negation, so a following ReLU loses nothing).
    Input (N, H, W, C) -> (N, H - patch + 1, W - patch + 1, 2 patch^2 C).
    """

    def __init__(self, patch: int = 2, epsilon: float = 5e-4, **kwargs):
        super().__init__(**kwargs)
        self.patch, self.epsilon = patch, epsilon

    def build(self, input_shape):
        depth = self.patch * self.patch * input_shape[-1]
        shape = (self.patch, self.patch, input_shape[-1], 2 * depth)
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer="glorot_uniform", trainable=False)
        self.bias = self.add_weight(name="bias", shape=(2 * depth,), initializer="zeros")

    def adapt(self, images: np.ndarray) -> None:
        """Set the filters from images (N, H, W, C), already as the layer sees them (e.g. normalised)."""
        if not self.built:
            self.build(images.shape)
        images = np.asarray(images, np.float64)
        windows = np.lib.stride_tricks.sliding_window_view(images, (self.patch, self.patch), axis=(1, 2))
        patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, self.kernel.shape[-1] // 2)  # (P, patch*patch*C)
        covariance = patches.T @ patches / len(patches)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        filters = eigenvectors / np.sqrt(eigenvalues + self.epsilon)
        filters = np.concatenate([filters, -filters], axis=1).reshape(self.kernel.shape)
        self.kernel.assign(filters.astype("float32"))

    def call(self, inputs):
        kernel = ops.cast(self.kernel, self.compute_dtype)
        return ops.conv(inputs, kernel, padding="valid") + ops.cast(self.bias, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        n, height, width, _ = input_shape
        shrink = lambda size: None if size is None else size - self.patch + 1  # noqa: E731
        return (n, shrink(height), shrink(width), 2 * self.patch * self.patch * input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "patch": self.patch, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="toolkit")
class TestTimeFlips(layers.Layer):
    """At inference, append the left-right mirror of every image to the batch: (N, H, W, C) -> (2N, H, W, C)."""

    def call(self, inputs, training=None):
        if training:
            return inputs
        return ops.concatenate([inputs, ops.flip(inputs, axis=2)], axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="toolkit")
class MeanOverFlips(layers.Layer):
    """At inference, average the rows of each image and of its mirror (the batch `TestTimeFlips` made)."""

    def call(self, inputs, training=None):
        if training:
            return inputs
        half = ops.shape(inputs)[0] // 2
        return (inputs[:half] + inputs[half:]) / 2

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="toolkit")
class SkipInit(layers.Layer):
    """Multiply a residual branch by one learned scalar that starts at 0 (De & Smith 2020, SkipInit).

    A residual network without normalisation then starts as the identity and trains at BatchNorm's learning
    rates; on CPUs it keeps the bfloat16 speed that BatchNorm's element-wise work throws away.
    """

    def build(self, input_shape):
        self.gain = self.add_weight(name="gain", shape=(), initializer="zeros")

    def call(self, inputs):
        return inputs * ops.cast(self.gain, self.compute_dtype)

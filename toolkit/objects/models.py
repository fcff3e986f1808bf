"""Objects networks: airbench (the fast recipe), a small VGG and CIFAR ResNets, built from an `InputStem`.

Every model takes raw pixels 0-255 of shape `stem.shape` and returns class probabilities (N, classes) in float32.
The stem's per-channel standardisation and augmentation (random shifts of up to `shift` pixels, i.e.
pad-and-crop, horizontal flips and, with `cutout`, a blanked square; all off at inference) are layers of the
model, so callers never preprocess.

Every normalisation of airbench runs after a pooling, at a quarter of the resolution or less, and its activation
is ReLU by default: on CPUs BatchNorm is slow in bfloat16 (bench/results/fast_path.md; airbench's is
`LowPrecisionBatchNorm`, which normalises in bfloat16), and so is GELU (`activation="gelu"`, airbench's own).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

from toolkit.config import require_choice
from toolkit.errors import ConfigError
from toolkit.layers import (
    BoostedBias,
    Cutout,
    LowPrecisionBatchNorm,
    MeanOverFlips,
    PartialIdentity,
    PatchWhitening,
    SkipInit,
    TestTimeFlips,
)

CLASSES = 10


@dataclass(frozen=True)
class InputStem:
    """What every network does to raw pixels before its first trained layer: standardise, then augment (training)."""

    shape: tuple[int, int, int]  # (H, W, C) of one raw image
    mean: Sequence[float]  # per-channel statistics of the training images, 0-255
    std: Sequence[float]
    shift: int = 2  # random shifts of up to this many pixels (pad-and-crop); 0 = off
    shift_fill: str = "constant"  # what a shift uncovers: constant (the mean colour) | reflect (mirror)
    cutout: int = 0  # side (pixels) of the random square blanked in every training image; 0 = off
    float32: bool = False  # run these layers in float32 whatever the dtype policy

    @property
    def dtype(self) -> str | None:
        """The dtype of the layers before the first trained convolution: float32 on request, else the policy's."""
        return "float32" if self.float32 else None

    def build(self) -> tuple[keras.KerasTensor, keras.KerasTensor]:
        """Raw pixels in; normalised, augmented (training only) images out."""
        require_choice("shift_fill", self.shift_fill, ("constant", "reflect"))
        if self.cutout and not 0 < self.cutout < self.shape[0]:
            raise ConfigError(f"cutout={self.cutout}: the square's side is 0 (off) to {self.shape[0] - 1} pixels.")
        inputs = keras.Input(self.shape, name="pixels")
        variance = np.square(self.std).tolist()
        x = layers.Normalization(mean=list(self.mean), variance=variance, name="normalise", dtype=self.dtype)(inputs)
        if self.shift:
            factor = self.shift / self.shape[0]
            x = layers.RandomTranslation(
                factor, factor, fill_mode=self.shift_fill, interpolation="nearest", name="shift", dtype=self.dtype
            )(x)
        x = layers.RandomFlip("horizontal", dtype=self.dtype)(x)  # garments and CIFAR-10 objects keep their class
        if self.cutout:
            x = Cutout(self.cutout, name="cutout", dtype=self.dtype)(x)
        return inputs, x


def _classifier_head(x: keras.KerasTensor, dropout: float, classes: int) -> keras.KerasTensor:
    """Global average pooling, dropout and a softmax layer (what `toolkit.grad_cam` explains)."""
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(classes, activation="softmax", dtype="float32", name="probabilities")(x)


def _conv_bn_relu(
    x: keras.KerasTensor, filters: int, strides: int = 1, relu: bool = True, norm: str = "batch"
) -> keras.KerasTensor:
    """3x3 convolution, BatchNorm (or a bias when `norm="none"`), ReLU."""
    batch_norm = norm == "batch"
    x = layers.Conv2D(filters, 3, strides, padding="same", use_bias=not batch_norm, kernel_initializer="he_normal")(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
    return layers.ReLU()(x) if relu else x


def build_vgg_small(stem: InputStem, width: int = 32, dropout: float = 0.2, classes: int = CLASSES) -> keras.Model:
    """Three VGG blocks of `width`, 2x, 4x filters (conv-BN-ReLU twice, max-pool, dropout), pooling, softmax."""
    inputs, x = stem.build()
    for block in range(3):
        for _ in range(2):
            x = _conv_bn_relu(x, width * 2**block)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(dropout)(x)
    return keras.Model(inputs, _classifier_head(x, dropout, classes), name="vgg_small")


@keras.saving.register_keras_serializable(package="toolkit")
class ZeroPadShortcut(layers.Layer):
    """He et al.'s shortcut "option A": subsample by `strides` and zero-pad the channels; no parameters."""

    def __init__(self, filters: int, strides: int, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides = filters, strides

    def call(self, x):
        x = x[:, :: self.strides, :: self.strides, :]
        extra = self.filters - x.shape[-1]
        return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        down = lambda size: None if size is None else -(-size // self.strides)  # noqa: E731
        return (n, down(h), down(w), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


def build_resnet(stem: InputStem, depth: int = 20, norm: str = "batch", classes: int = CLASSES) -> keras.Model:
    """CIFAR ResNet of `depth` = 6n + 2 layers: stem, 3 stages of n basic blocks, pooling, softmax.

    `norm="none"` drops BatchNorm for SkipInit: each residual branch is scaled by a learned scalar starting at 0.
    """
    if depth < 8 or (depth - 2) % 6:
        raise ConfigError(f"resnet depth must be 6n + 2 (20, 32, 44, 56, 110), got depth={depth}.")
    require_choice("norm", norm, ("batch", "none"))
    blocks = (depth - 2) // 6
    inputs, x = stem.build()
    x = _conv_bn_relu(x, 16, norm=norm)
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            shortcut = x if strides == 1 else ZeroPadShortcut(filters, strides)(x)
            y = _conv_bn_relu(x, filters, strides, norm=norm)
            y = _conv_bn_relu(y, filters, relu=False, norm=norm)
            if norm == "none":
                y = SkipInit()(y)
            x = layers.ReLU()(layers.Add()([shortcut, y]))
    return keras.Model(inputs, _classifier_head(x, 0.0, classes), name=f"resnet{depth}")


def build_airbench(
    stem: InputStem,
    widths: Sequence[int] = (64, 256, 256),
    bias_boost: float = 1.0,
    bn_momentum: float = 0.9,
    activation: str = "relu",
    classes: int = CLASSES,
) -> keras.Model:
    """Patch whitening, three conv-pool-norm blocks of `widths` filters, global max pooling, linear, softmax.

    `bias_boost`: BatchNorm biases learn this many times faster (`BoostedBias`); `bn_momentum`: the share of
    BatchNorm's running statistics kept per step. The whitening filters are set from the training images by
    `adapt_whitening` before training.
    """
    if bias_boost <= 0 or not 0 <= bn_momentum < 1:
        raise ConfigError(f"bias_boost={bias_boost} must be > 0, bn_momentum={bn_momentum} in [0, 1).")
    require_choice("activation", activation, ("relu", "gelu"))
    inputs, x = stem.build()
    x = TestTimeFlips(translate=True, name="test_time_flips", dtype=stem.dtype)(x)
    x = layers.Activation(activation)(PatchWhitening(name="whitening", dtype=stem.dtype)(x))

    def norm_activation(x):
        if bias_boost == 1:
            x = LowPrecisionBatchNorm(momentum=bn_momentum, scale=False)(x)
        else:
            x = LowPrecisionBatchNorm(momentum=bn_momentum, center=False, scale=False)(x)
            x = BoostedBias(bias_boost)(x)
        return layers.Activation(activation)(x)

    for width in widths:
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=PartialIdentity())(x)
        x = norm_activation(layers.MaxPooling2D(2)(x))
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=PartialIdentity())(x)
        x = norm_activation(x)
    x = layers.GlobalMaxPooling2D(name="pool")(x)
    logits = layers.Dense(classes, use_bias=False, name="logits")(x)
    logits = layers.Rescaling(1 / 9)(logits)  # airbench's fixed logit scale: a slower-moving head
    logits = MeanOverFlips(translate=True, name="mean_over_flips")(logits)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name="airbench")


def whitening_layer(model: keras.Model) -> PatchWhitening | None:
    """The model's patch-whitening layer (airbench's), or None."""
    return next((layer for layer in model.layers if isinstance(layer, PatchWhitening)), None)


def adapt_whitening(model: keras.Model, images: np.ndarray, count: int = 5000) -> None:
    """Set a model's patch-whitening filters from (the first `count` of) its training images, raw pixels 0-255.

    The images are normalised in NumPy with the model's own statistics: no backend computation, so every
    process of a multi-process job does the same work alone. Models without patch whitening are left as they are.
    """
    whitening = whitening_layer(model)
    if whitening is not None:
        normalise = model.get_layer("normalise")
        mean, variance = np.asarray(normalise.input_mean), np.asarray(normalise.input_variance)
        whitening.adapt((images[:count] - mean) / np.sqrt(variance))


class FreezeWhiteningBias(keras.callbacks.Callback):
    """airbench94's schedule for its whitening bias: trained in the first `epochs` epochs, frozen from then on.

    Frozen (`PatchWhitening.bias_frozen`: no gradient reaches it), nothing before the first block's convolution
    trains, so the retraced step skips that convolution's input gradient: 5 % of a bfloat16 step on these CPUs
    (python -m bench.airbench_step --profile). The bias stays among the trained weights, which JAX's optimiser
    step needs fixed: on TensorFlow the optimiser skips it, as airbench's PyTorch one does; on JAX it takes zero
    gradients, so its momentum runs out over a few steps (weight decay spares biases). A run resumed past
    `epochs` freezes before its first step. The switch belongs to the run, not to the model: it is off again at
    the end, and is never saved.
    """

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_begin(self, epoch, logs=None):
        whitening = whitening_layer(self.model)
        if epoch >= self.epochs and not whitening.bias_frozen:
            whitening.bias_frozen = True
            # TensorFlow's optimiser then warns of the bias's missing gradient, which is the point here
            warnings.filterwarnings(
                "ignore", re.escape(f"Gradients do not exist for variables ['{whitening.bias.path}']")
            )
            self.model.make_train_function(force=True)  # the step was traced with the bias trained

    def on_train_end(self, logs=None):
        whitening_layer(self.model).bias_frozen = False

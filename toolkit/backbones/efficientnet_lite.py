"""EfficientNet-Lite0 (Tan & Le 2019, the "lite" variant for mobile accelerators) as a Keras functional model.

Lite0 is EfficientNet-B0's layout without squeeze-and-excitation and with ReLU6 instead of swish. The network
is described by data (`LITE0_STAGES`), as in keras-hub's `EfficientNetBackbone`; layer names follow
keras.applications (`stem_conv`, `block6a_expand_conv`, `top_conv`, ...) so `fine_tune_from="block6a"` reads
naturally. The model takes raw RGB pixels 0-255 (any size >= 32) and scales them itself.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import keras
from keras import layers

BN_EPSILON = 1e-3  # the TensorFlow reference (and the PyTorch port of its weights) use 1e-3
STEM_FILTERS = 32
TOP_FILTERS = 1280


@dataclass(frozen=True)
class Stage:
    """One stage of MBConv blocks: the first block may stride; the rest keep the shape and add a residual."""

    kernel_size: int
    strides: int
    expand_ratio: int
    filters: int
    repeats: int


LITE0_STAGES = (
    Stage(3, 1, 1, 16, 1),
    Stage(3, 2, 6, 24, 2),
    Stage(5, 2, 6, 40, 2),
    Stage(3, 2, 6, 80, 3),
    Stage(5, 1, 6, 112, 3),
    Stage(5, 2, 6, 192, 4),
    Stage(3, 1, 6, 320, 1),
)


def block_names(stages: tuple[Stage, ...] = LITE0_STAGES) -> list[str]:
    """Block prefixes in network order: block1a, block2a, block2b, ... (16 for Lite0)."""
    return [f"block{i + 1}{string.ascii_lowercase[j]}" for i, s in enumerate(stages) for j in range(s.repeats)]


def _conv_bn(x, filters: int, kernel_size: int, strides: int, name: str, activation: bool = True):
    x = layers.Conv2D(filters, kernel_size, strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu6")(x) if activation else x


def mbconv_block(x, stage: Stage, strides: int, name: str):
    """Inverted residual: 1x1 expand, kxk depthwise, 1x1 linear projection, identity shortcut when shapes match."""
    inputs, channels = x, x.shape[-1]
    if stage.expand_ratio != 1:
        x = _conv_bn(x, channels * stage.expand_ratio, 1, 1, f"{name}_expand")
    x = layers.DepthwiseConv2D(stage.kernel_size, strides, padding="same", use_bias=False, name=f"{name}_dwconv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu6")(x)
    x = _conv_bn(x, stage.filters, 1, 1, f"{name}_project", activation=False)
    if strides == 1 and channels == stage.filters:
        x = layers.Add(name=f"{name}_add")([x, inputs])
    return x


def build_efficientnet_lite0(
    input_shape: tuple[int | None, int | None, int] = (None, None, 3),
    include_top: bool = True,
    classes: int = 1000,
    stages: tuple[Stage, ...] = LITE0_STAGES,
    name: str = "efficientnet_lite0",
) -> keras.Model:
    """Pixels 0-255 (N, H, W, 3) -> ImageNet logits (N, 1000), or features (N, H/32, W/32, 1280) without top.

    The weights' training pipeline normalised with mean 127, std 128 (TF EfficientNet-Lite `MEAN_RGB`,
    `STDDEV_RGB`); the first layer does the same so callers never normalise.
    """
    inputs = keras.Input(input_shape, name="pixels")
    x = layers.Rescaling(1 / 128, offset=-127 / 128, name="normalize")(inputs)
    x = _conv_bn(x, STEM_FILTERS, 3, 2, "stem")
    names = iter(block_names(stages))
    for stage in stages:
        for repeat in range(stage.repeats):
            x = mbconv_block(x, stage, stage.strides if repeat == 0 else 1, next(names))
    x = _conv_bn(x, TOP_FILTERS, 1, 1, "top")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, name="predictions")(x)  # logits: the PyTorch head has no softmax
    return keras.Model(inputs, x, name=name)

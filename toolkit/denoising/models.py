"""Denoising networks: DnCNN, FFDNet and a convolutional autoencoder, in `keras.ops` only.

- `build_dncnn`: Zhang et al., "Beyond a Gaussian Denoiser" (TIP 2017): 3x3 conv layers of `filters` channels
  (BatchNorm optional); the network predicts the noise and the model subtracts it (residual learning).
- `build_ffdnet`: Zhang, Zuo and Zhang, "FFDNet" (TIP 2018): the image is split into its four half-resolution
  sub-images (pixel-unshuffle), the noise level is appended as a constant map, a plain conv stack runs at half
  resolution (4x fewer pixels, as large a receptive field) and pixel-shuffle puts the result back. Here the stack
  predicts the noise of the sub-images (residual, zero-initialised output), which converges faster on CPUs.
  `body=unet` puts a small U-Net there instead: three levels (filters, 2x, 4x channels at 1, 1/2 and 1/4 of the
  sub-images' resolution), two conv+ReLU layers per level each way, stride-2 convolutions down, transposed ones up,
  skips added (DRUNet's shape, Zhang et al., TPAMI 2021, without its residual blocks). With 48 filters: 0.45x the
  plain stack's FLOPs per pixel, 2.8x its weights, a receptive field 109 pixels wide (the plain one's: 63), and
  it learns faster per CPU second (`python -m bench.ffdnet_race`).
- `build_dae`: a convolutional denoising autoencoder (two stride-2 stages down, two up) that predicts the clean
  image directly: the lecture notes' model, for comparison.

Images are grayscale float in [0, 1], (N, H, W, 1), any H and W. FFDNet's second input is the noise level as
(N, 1) on the same scale (sigma / 255).
"""

from __future__ import annotations

import keras
from keras import layers, ops
from omegaconf import DictConfig


@keras.saving.register_keras_serializable(package="toolkit")
class ReflectPadToMultiple(layers.Layer):
    """Pad (N, H, W, C) at the bottom and right by reflection so H and W are multiples of `multiple`."""

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        self.multiple = multiple

    def call(self, x):
        height, width = ops.shape(x)[1], ops.shape(x)[2]
        pad = [[0, 0], [0, (-height) % self.multiple], [0, (-width) % self.multiple], [0, 0]]
        return ops.pad(x, pad, mode="reflect")

    def compute_output_shape(self, input_shape):
        def up(n):
            return None if n is None else n + (-n) % self.multiple

        return (input_shape[0], up(input_shape[1]), up(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="toolkit")
class CropLike(layers.Layer):
    """Crop (N, H', W', C) to the height and width of a reference tensor (N, H, W, *), from the top left."""

    def call(self, x, reference):
        shape = ops.shape(reference)
        return x[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, x_shape, reference_shape):
        return (x_shape[0], reference_shape[1], reference_shape[2], x_shape[3])


class _PixelRearrangement(layers.Layer):
    """Moves pixels between space and channels by `factor` in each direction; no weights."""

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="toolkit")
class PixelUnshuffle(_PixelRearrangement):
    """(N, H, W, C) -> (N, H/f, W/f, f*f*C): each f x f block of pixels becomes one pixel of f*f*C channels.

    H and W must be multiples of `factor` (pad first). Channel order: row offset, column offset, channel.
    """

    def call(self, x):
        f = self.factor
        shape = ops.shape(x)
        x = ops.reshape(x, (-1, shape[1] // f, f, shape[2] // f, f, shape[3]))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, shape[1] // f, shape[2] // f, f * f * shape[3]))

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        f = self.factor
        return (batch, None if height is None else height // f, None if width is None else width // f, channels * f * f)


@keras.saving.register_keras_serializable(package="toolkit")
class PixelShuffle(_PixelRearrangement):
    """The inverse of `PixelUnshuffle`: (N, h, w, f*f*C) -> (N, h*f, w*f, C)."""

    def call(self, x):
        f = self.factor
        shape = ops.shape(x)
        channels = shape[3] // (f * f)
        x = ops.reshape(x, (-1, shape[1], shape[2], f, f, channels))
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (-1, shape[1] * f, shape[2] * f, channels))

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        f = self.factor
        return (
            batch,
            None if height is None else height * f,
            None if width is None else width * f,
            channels // (f * f),
        )


@keras.saving.register_keras_serializable(package="toolkit")
class AppendNoiseMap(layers.Layer):
    """Append the noise level (N, 1) as one more channel, constant over the image, to features (N, h, w, C)."""

    def call(self, features, sigma):
        level = ops.cast(ops.reshape(sigma, (-1, 1, 1, 1)), features.dtype)
        return ops.concatenate([features, ops.ones_like(features[..., :1]) * level], axis=-1)

    def compute_output_shape(self, features_shape, sigma_shape):
        return (*features_shape[:3], features_shape[3] + 1)


@keras.saving.register_keras_serializable(package="toolkit")
def patch_psnr(clean, estimate):
    """PSNR (dB) of a batch of [0, 1] patches, from their mean squared error: a training-log figure."""
    mse = ops.mean(ops.square(ops.cast(clean, "float32") - ops.cast(estimate, "float32")))
    return -10.0 * ops.log10(ops.maximum(mse, 1e-10))


def _conv_stack(x, depth: int, filters: int, batch_norm: bool, out_channels: int):
    """Conv+ReLU, (depth - 2) x Conv(+BN)+ReLU, then a zero-initialised float32 Conv to `out_channels`.

    Zero output weights make the residual models start from the identity (output = input).
    """
    x = layers.Conv2D(filters, 3, padding="same", activation="relu", kernel_initializer="orthogonal")(x)
    for _ in range(depth - 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, kernel_initializer="orthogonal")(x)
        if batch_norm:
            x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    return layers.Conv2D(out_channels, 3, padding="same", kernel_initializer="zeros", dtype="float32", name="noise")(x)


def _unet_body(x, filters: int, out_channels: int):
    """Three levels (filters, 2 filters, 4 filters), two conv+ReLU each way; zero-initialised float32 output conv.

    The input's height and width must be multiples of 4 (two stride-2 steps).
    """

    def conv(width: int, strides: int = 1):
        return layers.Conv2D(width, 3, strides, padding="same", activation="relu", kernel_initializer="orthogonal")

    skips = []
    for level, width in enumerate((filters, 2 * filters, 4 * filters)):
        if level:
            x = conv(width, strides=2)(x)
        for _ in range(2):
            x = conv(width)(x)
        skips.append(x)
    for width, skip in zip((2 * filters, filters), skips[-2::-1]):
        x = layers.Conv2DTranspose(width, 2, strides=2, kernel_initializer="orthogonal")(x)
        x = layers.Add()([x, skip])
        for _ in range(2):
            x = conv(width)(x)
    return layers.Conv2D(out_channels, 3, padding="same", kernel_initializer="zeros", dtype="float32", name="noise")(x)


def build_dncnn(config: DictConfig) -> keras.Model:
    """DnCNN: the conv stack predicts the noise; the output is input minus noise.

    `batch_norm=false` drops BatchNorm (a bias instead): on CPUs the network then trains ~5x faster in bfloat16.
    """
    noisy = keras.Input((None, None, 1), name="noisy")
    noise = _conv_stack(noisy, config.depth, config.filters, config.batch_norm, 1)
    clean = layers.Subtract(dtype="float32", name="clean")([noisy, noise])
    return keras.Model(noisy, clean, name="dncnn")


def build_ffdnet(config: DictConfig) -> keras.Model:
    """FFDNet: inputs (noisy (N, H, W, 1), sigma (N, 1) on the [0, 1] scale) -> clean (N, H, W, 1).

    `config.body`: "plain" (the paper's stack of `depth` layers) or "unet" (`_unet_body`; `depth` unused).
    """
    noisy = keras.Input((None, None, 1), name="noisy")
    sigma = keras.Input((1,), name="sigma")
    unet = config.body == "unet"
    padded = ReflectPadToMultiple(8 if unet else 2, dtype="float32")(noisy)
    features = AppendNoiseMap()(PixelUnshuffle(2)(padded), sigma)
    if unet:
        noise = _unet_body(features, config.filters, 4)
    else:
        noise = _conv_stack(features, config.depth, config.filters, config.batch_norm, 4)
    noise = PixelShuffle(2, dtype="float32")(noise)
    clean = layers.Subtract(dtype="float32")([padded, noise])
    clean = CropLike(dtype="float32", name="clean")(clean, noisy)
    return keras.Model([noisy, sigma], clean, name="ffdnet")


def build_dae(config: DictConfig) -> keras.Model:
    """Encoder: 2 stride-2 conv stages (filters/2, filters); decoder: 2 transposed-conv stages; sigmoid out."""
    noisy = keras.Input((None, None, 1), name="noisy")
    x = ReflectPadToMultiple(4)(noisy)
    for filters in (config.filters // 2, config.filters):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    for filters in (config.filters, config.filters // 2):
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(1, 3, padding="same", activation="sigmoid", dtype="float32")(x)
    clean = CropLike(dtype="float32", name="clean")(x, noisy)
    return keras.Model(noisy, clean, name="dae")


def takes_noise_level(model: keras.Model) -> bool:
    """Whether the model is told the noise level (FFDNet) rather than blind to it (DnCNN, the autoencoder)."""
    return len(model.inputs) == 2


BUILDERS = {"dncnn": build_dncnn, "ffdnet": build_ffdnet, "dae": build_dae}

"""Layers of the fast training path, shared by the tasks: backend-agnostic (`keras.ops`) and registered.

- `PatchWhitening`: a fixed first convolution that decorrelates the pixels of each small patch
  (Page's ResNet-9 notes, Jordan's airbench). Its filters come from the training images, not from SGD, so the
  network starts from well-conditioned features and needs no normalisation at full resolution.
- `TestTimeFlips` + `MeanOverFlips`: test-time augmentation inside the model. At inference the batch is doubled
  with mirrored copies (and, with `translate`, tripled again with one-pixel moves) and the views' logits are
  averaged; in training both layers do nothing. A shipped model therefore gives the same (augmented)
  predictions to `evaluate`, `pretrained.load` and the page.
- `BoostedBias`: a per-channel bias that SGD moves `boost` times faster than the other weights (airbench gives
  its BatchNorm biases 64x the learning rate), written as a reparametrisation so any optimizer and backend do it.
- `LowPrecisionBatchNorm`: BatchNormalization whose full-size passes run in the layer's compute dtype (bfloat16
  under mixed precision), with float32 statistics and a hand-written gradient, where Keras' own works on a float32
  copy of the batch and differentiates through its statistics pass by pass.
- `Cutout`: training-only augmentation that blanks a random square (airbench96 and ResNet-9 use it for longer runs;
  at 20 CIFAR-10 epochs here it cost 0.4 points).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops


@keras.saving.register_keras_serializable(package="toolkit")
class PatchWhitening(layers.Layer):
    """A `patch` x `patch` 'valid' convolution whose filters whiten the patches of the training images.

    The kernel is not trained (set by `adapt`); the bias is, unless `bias_frozen` (a training schedule's switch,
    not saved: `toolkit.objects.models.FreezeWhiteningBias`). Output channels: 2 x patch^2 x channels
    (each whitening filter and its negation, so a following ReLU loses nothing).
    Input (N, H, W, C) -> (N, H - patch + 1, W - patch + 1, 2 patch^2 C).
    """

    def __init__(self, patch: int = 2, epsilon: float = 5e-4, **kwargs):
        super().__init__(**kwargs)
        self.patch, self.epsilon = patch, epsilon
        self.bias_frozen = False

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
        bias = ops.stop_gradient(self.bias) if self.bias_frozen else self.bias
        return ops.conv(inputs, kernel, padding="valid") + ops.cast(bias, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        n, height, width, _ = input_shape
        shrink = lambda size: None if size is None else size - self.patch + 1  # noqa: E731
        return (n, shrink(height), shrink(width), 2 * self.patch * self.patch * input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "patch": self.patch, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="toolkit")
class TestTimeFlips(layers.Layer):
    """At inference, append the left-right mirror of every image to the batch: (N, H, W, C) -> (2N, H, W, C).

    With `translate`, also each image moved one pixel down-right and one pixel up-left (reflected border), and
    their mirrors: (6N, H, W, C), airbench's multi-crop test-time augmentation.
    """

    def __init__(self, translate: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.translate = translate

    def call(self, inputs, training=None):
        if training:
            return inputs
        views = [inputs]
        if self.translate:
            padded = ops.pad(inputs, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")
            views += [padded[:, :-2, :-2], padded[:, 2:, 2:]]
        return ops.concatenate([x for view in views for x in (view, ops.flip(view, axis=2))], axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "translate": self.translate}


@keras.saving.register_keras_serializable(package="toolkit")
class MeanOverFlips(layers.Layer):
    """At inference, average the rows of each image's views (the batch `TestTimeFlips` made).

    With `translate`, the image and its mirror weigh half, the four moved views the other half (as in airbench).
    """

    def __init__(self, translate: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.translate = translate

    def call(self, inputs, training=None):
        if training:
            return inputs
        weights = (0.25, 0.25, 0.125, 0.125, 0.125, 0.125) if self.translate else (0.5, 0.5)
        views = ops.split(inputs, len(weights), axis=0)
        return sum(weight * view for weight, view in zip(weights, views))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "translate": self.translate}


@keras.saving.register_keras_serializable(package="toolkit")
class Cutout(layers.Layer):
    """In training, set one random `size` x `size` square of every image to 0 (DeVries & Taylor 2017).

    After standardisation 0 is the mean pixel. The square lies wholly inside the image, at whole-pixel places
    (`keras.layers.RandomErasing` places it at fractional ones and sometimes blanks one row fewer).
    """

    def __init__(self, size: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.size, self.seed = size, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        height, width = inputs.shape[1], inputs.shape[2]
        corner = (ops.shape(inputs)[0], 1, 1, 1)
        top = keras.random.randint(corner, 0, height - self.size + 1, seed=self.seed_generator)
        left = keras.random.randint(corner, 0, width - self.size + 1, seed=self.seed_generator)
        rows, columns = ops.arange(height)[None, :, None, None], ops.arange(width)[None, None, :, None]
        inside = (rows >= top) & (rows < top + self.size) & (columns >= left) & (columns < left + self.size)
        return ops.where(inside, ops.zeros_like(inputs), inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "seed": self.seed}


@keras.saving.register_keras_serializable(package="toolkit")
class LowPrecisionBatchNorm(layers.BatchNormalization):
    """`BatchNormalization` with the same weights, settings and statistics, but cheaper under mixed precision.

    Keras' layer casts the whole batch to float32, normalises it there and casts back, and autodiff then adds a
    dozen more full-size passes for the gradient through the batch statistics. In training, over the last axis,
    this layer makes every full-size pass in the compute dtype (bfloat16 under mixed precision) and as few as it
    can: per-channel sums as a (1, M) x (M, C) product (one read, float32 accumulation), and BatchNorm's
    closed-form gradient instead of autodiff's. An airbench training step is 5 % faster than with Keras' layer
    on these CPUs (`python -m bench.airbench_step`). At inference, or over another axis, it folds the statistics
    per channel in float32 and applies them in the compute dtype. Masks and renorm use Keras' path.
    """

    def call(self, inputs, training=None, mask=None):
        if mask is not None or self.renorm or self.synchronized:
            return super().call(inputs, training=training, mask=mask)
        axis = self.axis % len(inputs.shape)
        if training and self.trainable and axis == len(inputs.shape) - 1:
            return self._normalise_batch(inputs)
        axes = [i for i in range(len(inputs.shape)) if i != axis]
        if training and self.trainable:
            wide = ops.cast(inputs, "float32")
            mean = ops.mean(wide, axis=axes)
            variance = ops.maximum(ops.mean(ops.square(wide), axis=axes) - ops.square(mean), 0.0)
            self._update_moving_statistics(mean, variance)
        else:
            mean, variance = ops.cast(self.moving_mean, "float32"), ops.cast(self.moving_variance, "float32")
        scale = ops.rsqrt(variance + self.epsilon)
        if self.scale:
            scale = scale * ops.cast(self.gamma, "float32")
        shift = -mean * scale
        if self.center:
            shift = shift + ops.cast(self.beta, "float32")
        shape = [1] * len(inputs.shape)
        shape[axis] = inputs.shape[axis]
        scale, shift = ops.reshape(scale, shape), ops.reshape(shift, shape)
        return inputs * ops.cast(scale, inputs.dtype) + ops.cast(shift, inputs.dtype)

    def _update_moving_statistics(self, mean, variance):
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))

    def _normalise_batch(self, inputs):
        """Training over the last axis: normalise by the batch's statistics, with a hand-written gradient."""
        channels = inputs.shape[-1]
        gamma = ops.cast(self.gamma, "float32") if self.scale else ops.ones((channels,), "float32")
        beta = ops.cast(self.beta, "float32") if self.center else ops.zeros((channels,), "float32")

        @ops.custom_gradient
        def normalise(x, gamma, beta):
            rows = ops.reshape(x, (-1, channels))  # (M, C): every position of every image, per channel
            ones = ops.ones((1, ops.shape(rows)[0]), x.dtype)
            count = ops.cast(ops.shape(rows)[0], "float32")

            def channel_sum(values):  # one read, float32 accumulation even for bfloat16 values
                return ops.cast(ops.matmul(ones, values)[0], "float32")

            # the product rounds its sums to the compute dtype: centre on that rounded mean, then add back what the
            # centred rows still sum to, so the statistics are float32-exact (no E[x^2] - E[x]^2 cancellation)
            rounded_mean = ops.cast(ops.cast(channel_sum(rows) / count, x.dtype), "float32")
            centred = rows - ops.cast(rounded_mean, x.dtype)
            offset = channel_sum(centred) / count
            mean = rounded_mean + offset
            variance = ops.maximum(channel_sum(ops.square(centred)) / count - ops.square(offset), 0.0)
            inverse_std = ops.rsqrt(variance + self.epsilon)
            scale = gamma * inverse_std
            y = centred * ops.cast(scale, x.dtype) + ops.cast(beta - offset * scale, x.dtype)

            def grad(*upstreams, upstream=None):
                dy = upstream if upstream is not None else upstreams[0]
                if isinstance(dy, (tuple, list)):  # JAX hands all the outputs' cotangents as one tuple
                    dy = dy[0]
                dy = ops.reshape(dy, (-1, channels))
                d_beta = channel_sum(dy)
                d_gamma = inverse_std * (channel_sum(dy * centred) - offset * d_beta)  # sum of dy x normalised x
                # dx = scale (dy - mean(dy) - x_hat mean(dy x_hat)), x_hat = (centred - offset) inverse_std
                d_centred = -scale * inverse_std * d_gamma / count
                dx = dy * ops.cast(scale, dy.dtype) + centred * ops.cast(d_centred, dy.dtype)
                dx = dx - ops.cast(scale * d_beta / count + offset * d_centred, dy.dtype)
                return ops.reshape(dx, ops.shape(x)), d_gamma, d_beta

            return (ops.reshape(y, ops.shape(x)), mean, variance), grad

        outputs, mean, variance = normalise(inputs, gamma, beta)
        self._update_moving_statistics(mean, variance)
        return outputs


@keras.saving.register_keras_serializable(package="toolkit")
class BoostedBias(layers.Layer):
    """Add a per-channel bias b = sqrt(boost) x v, with v the stored weight.

    SGD's step on v is sqrt(boost) times larger, and b moves sqrt(boost) times that: `boost` times the step a
    plain bias would take. Placed after a `BatchNormalization(center=False)` it is airbench's fast BatchNorm bias.
    """

    def __init__(self, boost: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.boost = boost

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(input_shape[-1],), initializer="zeros")

    def call(self, inputs):
        return inputs + ops.cast(self.bias * np.sqrt(self.boost), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "boost": self.boost}


@keras.saving.register_keras_serializable(package="toolkit")
class PartialIdentity(keras.initializers.Initializer):
    """Convolution kernels (h, w, in, out) whose first min(in, out) filters pass one input channel through.

    Airbench's "dirac" initialisation: every block starts close to the identity, which saves it about 3 of 21
    epochs to 94 % on CIFAR-10; the remaining filters start as `HeNormal`.
    """

    def __init__(self, seed: int | None = None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        height, width, channels_in, channels_out = shape
        kernel = ops.convert_to_numpy(keras.initializers.HeNormal(self.seed)(shape, "float32"))
        shared = min(channels_in, channels_out)
        kernel[..., :shared] = 0
        kernel[height // 2, width // 2, np.arange(shared), np.arange(shared)] = 1
        return ops.convert_to_tensor(kernel, dtype=dtype)

    def get_config(self):
        return {"seed": self.seed}


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

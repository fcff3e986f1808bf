"""DCGAN (Radford et al., ICLR 2016) as one Keras model that `fit` trains on real images alone.

The generator maps z ~ N(0, I) (N, latent_dim) to images (N, H, W, C) in [-1, 1] (tanh); the
discriminator maps such images to logits (N, 1) (high = real). H = W = 4 * 2**k (32 or 64).

Backend-agnostic training without a per-backend `train_step`: `call` runs one adversarial pass and
returns logits, `compute_loss` turns them into the discriminator's plus the generator's loss, and the
stock `fit` takes the gradient of that sum with ONE Adam (2e-4, beta1 0.5) over both networks. Adam
is per-parameter, so this is the paper's two identical Adams, updated simultaneously (as in the
TensorFlow DCGAN tutorial). Each loss reaches only its own network: the discriminator sees the fake
batch through `stop_gradient`, and the generator's loss runs the discriminator on frozen
(`stop_gradient`) weights via `stateless_call`. Randomness comes from a tracked SeedGenerator, so the
JAX trainer threads its state like any other variable.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from toolkit.errors import ConfigError
from toolkit.precision import policy_scope

NORMS = ("batch", "lowest", "pixel", "none")


@keras.saving.register_keras_serializable(package="toolkit")
class PixelNorm(layers.Layer):
    """Scale each pixel's feature vector to unit root-mean-square (Karras et al. 2018): no batch statistics."""

    def __init__(self, epsilon: float = 1e-8, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        return inputs * ops.rsqrt(ops.mean(ops.square(inputs), axis=-1, keepdims=True) + self.epsilon)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def build_generator(
    latent_dim: int, image_shape: tuple[int, int, int], filters: int, norm: str = "batch"
) -> keras.Model:
    """z (N, latent_dim) -> images (N, H, W, C) in [-1, 1]: dense to 4x4, then stride-2 transposed convs.

    `norm` after the dense layer and each hidden transposed conv: "batch" (BatchNorm everywhere, the paper's and
    the shipped grey models'), "lowest" (BatchNorm at 4x4 only), "pixel" (PixelNorm) or "none".
    """
    if norm not in NORMS:
        raise ConfigError(f"Unknown generator norm '{norm}'; choose one of {', '.join(NORMS)}.")
    height, _, channels = image_shape
    ups = (height // 4).bit_length() - 1  # 4 -> 32 takes 3 upsamplings, 4 -> 64 takes 4
    width = filters * 2 ** (ups - 1)

    def normalise(x, lowest: bool = False):
        if norm == "batch" or (norm == "lowest" and lowest):
            return layers.BatchNormalization()(x)
        return PixelNorm()(x) if norm == "pixel" else x

    z = keras.Input((latent_dim,), name="z")
    x = layers.Dense(4 * 4 * width, use_bias=norm not in ("batch", "lowest"))(z)  # BatchNorm has its own shift
    x = layers.ReLU()(normalise(x, lowest=True))
    x = layers.Reshape((4, 4, width))(x)
    for i in range(ups - 1):
        x = layers.Conv2DTranspose(width // 2 ** (i + 1), 4, strides=2, padding="same", use_bias=norm != "batch")(x)
        x = layers.ReLU()(normalise(x))
    # float32 under mixed precision: exact images for the search's losses, and no faster in bfloat16 on CPUs
    images = layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="tanh", dtype="float32")(x)
    return keras.Model(z, images, name="generator")


def build_discriminator(image_shape: tuple[int, int, int], filters: int) -> keras.Model:
    """Images (N, H, W, C) in [-1, 1] -> logits (N, 1): stride-2 convs with LeakyReLU(0.2).

    No BatchNorm (as in the keras-io DCGAN): the frozen pass for the generator's loss then has no
    batch statistics to keep apart from the discriminator's own passes.
    """
    height = image_shape[0]
    downs = (height // 4).bit_length() - 1
    images = keras.Input(image_shape, name="images")
    x = images
    for i in range(downs):
        x = layers.Conv2D(filters * 2**i, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.2)(x)
    logits = layers.Dense(1, dtype="float32")(x)  # float32 logits under mixed precision
    return keras.Model(images, logits, name="discriminator")


@keras.saving.register_keras_serializable(package="toolkit")
class DCGAN(keras.Model):
    """Generator + discriminator; `fit(x=pixels)` trains both on real images (N, H, W, C), pixels 0-255.

    `call(pixels)` returns the logits of one adversarial pass (used by `fit`):
    {"real": D(x), "fake": D(stop_gradient(G(z))), "fooled": D_frozen(G(z))}, each (N, 1).
    Use `generate(n)` or `generator` / `discriminator` directly for inference.

    `norm` is the generator's normalisation (see `build_generator`; files without it are "batch"). Both networks
    compute in the model's dtype policy (`dtype=`, or the global one when built), saved with it and restored on
    loading; their outputs are float32.
    """

    def __init__(self, latent_dim=100, image_shape=(32, 32, 1), filters=32, seed=None, norm="batch", **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.image_shape, self.filters, self.norm = latent_dim, tuple(image_shape), filters, norm
        with policy_scope(self.dtype_policy):  # the networks compute as trained, also once loaded
            self.generator = build_generator(latent_dim, self.image_shape, filters, norm)
            self.discriminator = build_discriminator(self.image_shape, filters)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.real_score_tracker = keras.metrics.Mean(name="d_real")  # mean D(x) on real images
        self.fake_score_tracker = keras.metrics.Mean(name="d_fake")  # mean D(G(z))
        self.build((None, *self.image_shape))

    def build(self, input_shape):
        self.built = True  # both networks are functional models, built in __init__

    def call(self, pixels, training=False):
        real = ops.cast(pixels, "float32") / 127.5 - 1.0
        z = keras.random.normal((ops.shape(real)[0], self.latent_dim), seed=self.seed_generator)
        fake = self.generator(z, training=training)
        frozen = [ops.stop_gradient(v.value) for v in self.discriminator.trainable_variables]
        fooled, _ = self.discriminator.stateless_call(
            frozen, [v.value for v in self.discriminator.non_trainable_variables], fake, training=training
        )
        return {
            "real": self.discriminator(real, training=training),
            "fake": self.discriminator(ops.stop_gradient(fake), training=training),
            "fooled": fooled,
        }

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        d_loss, g_loss = self.adversarial_losses(y_pred)
        return d_loss + g_loss

    def adversarial_losses(self, logits):
        """Binary cross-entropy from logits: D wants real -> 1, fake -> 0; G (non-saturating) wants fooled -> 1."""
        d_loss = ops.mean(ops.softplus(-logits["real"])) + ops.mean(ops.softplus(logits["fake"]))
        g_loss = ops.mean(ops.softplus(-logits["fooled"]))
        return d_loss, g_loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        d_loss, g_loss = self.adversarial_losses(y_pred)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        self.real_score_tracker.update_state(ops.sigmoid(y_pred["real"]))
        self.fake_score_tracker.update_state(ops.sigmoid(y_pred["fake"]))
        return self.get_metrics_result()

    def generate(self, n: int, seed: int = 0):
        """`n` samples as float images (n, H, W, C) in [0, 1] (numpy); the same seed gives the same images."""
        z = keras.random.normal((n, self.latent_dim), seed=seed)
        return ops.convert_to_numpy(self.generator(z, training=False)) * 0.5 + 0.5

    def get_config(self):
        return {
            **super().get_config(),
            "latent_dim": self.latent_dim,
            "image_shape": list(self.image_shape),
            "filters": self.filters,
            "norm": self.norm,
        }

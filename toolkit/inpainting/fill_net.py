"""A fill network: (image with a hole, mask) -> the fill in one forward pass (Context Encoders, Pathak et al.,
CVPR 2016), as a U-Net (Ronneberger et al. 2015) so the known pixels reach the output at full resolution.

The generator maps the masked image (N, H, W, C) in [-1, 1] (0 in the hole) and the mask (N, H, W, 1), 1 = known,
to an image (N, H, W, C) in [-1, 1] (tanh) of which only the hole is used: `fill` pastes it there. The context
discriminator sees a whole image, filled or real, with its mask and scores patches: logits (N, H/8, W/8, 1).

Training runs as the DCGAN's (toolkit.inpainting.dcgan): `call` does one pass and returns the output and the
logits, `compute_loss` adds the reconstruction loss (L1 or L2 over the hole, plus `known_weight` times over the
known pixels), `adversarial_weight` times the generator's non-saturating loss, and the discriminator's loss; the
stock `fit` takes one Adam over both networks, and each adversarial loss reaches only its own network (the fake
through `stop_gradient`, the generator's through the discriminator's frozen weights). The adversarial losses count
each patch by its share of the hole: a patch with no hole is the same in the real and the filled image.

No BatchNorm: on CPUs it costs more than bfloat16 gains (bench/results/inpainting_fill_net_speed.md), and a
model that fills one image for the page should not depend on batch statistics.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from toolkit.errors import ConfigError, InputError
from toolkit.inpainting.masks import check_mask
from toolkit.precision import policy_scope

RECONSTRUCTIONS = ("l1", "l2")


def level_widths(image_shape: tuple[int, int, int], filters: int) -> list[int]:
    """Channels at full resolution and at each halving down to 4x4: filters, 2 filters, then 4 filters."""
    levels = (min(image_shape[:2]) // 4).bit_length() - 1  # 32 -> 3 halvings, 64 -> 4
    return [filters * min(2**i, 4) for i in range(levels + 1)]


def _conv(x, channels: int, kernel: int, strides: int = 1, dilation: int = 1, gated: bool = False, norm=False):
    """Conv + ReLU; gated (Yu et al., ICCV 2019): ReLU(features) * sigmoid(gate), a learnt soft mask per channel."""

    def conv(activation=None):
        y = layers.Conv2D(channels, kernel, strides, "same", dilation_rate=dilation, use_bias=not norm)(x)
        y = layers.BatchNormalization()(y) if norm else y
        return layers.Activation(activation)(y) if activation else y

    if not gated:
        return conv("relu")
    return layers.Multiply()([conv("relu"), conv("sigmoid")])


def build_fill_generator(
    image_shape: tuple[int, int, int], filters: int = 32, gated: bool = False, batch_norm: bool = False
) -> keras.Model:
    """[masked image (N, H, W, C) in [-1, 1], mask (N, H, W, 1)] -> image (N, H, W, C) in [-1, 1].

    Encoder: a 3x3 conv at full size, then 4x4 stride-2 convs down to 4x4; two 3x3 convs there (the first
    dilated), whose receptive field spans the image; decoder: 4x4 stride-2 transposed convs back up, each joined
    by the encoder's map of its size (U-Net skips) and a 3x3 conv. About 0.2 GFLOP per 32x32 image at filters=32.
    `batch_norm` (after every conv) is only for the speed benchmark.
    """
    height, width, channels = image_shape
    widths = level_widths(image_shape, filters)
    image = keras.Input(image_shape, name="masked_image")
    mask = keras.Input((height, width, 1), name="mask")
    x = _conv(layers.Concatenate()([image, mask]), widths[0], 3, gated=gated, norm=batch_norm)
    skips = [x]
    for channels_here in widths[1:]:
        x = _conv(x, channels_here, 4, strides=2, gated=gated, norm=batch_norm)
        skips.append(x)
    x = _conv(x, widths[-1], 3, dilation=2, gated=gated, norm=batch_norm)
    x = _conv(x, widths[-1], 3, gated=gated, norm=batch_norm)
    for channels_here, skip in zip(reversed(widths[:-1]), reversed(skips[:-1])):
        x = layers.Conv2DTranspose(channels_here, 4, strides=2, padding="same", activation="relu")(x)
        x = _conv(layers.Concatenate()([x, skip]), channels_here, 3, gated=gated, norm=batch_norm)
    # float32 under mixed precision: the fill is compared with pixels to the last bit
    output = layers.Conv2D(channels, 3, padding="same", activation="tanh", dtype="float32", name="fill")(x)
    return keras.Model([image, mask], output, name="fill_generator")


def build_context_discriminator(image_shape: tuple[int, int, int], filters: int = 32) -> keras.Model:
    """[image (N, H, W, C) in [-1, 1], mask (N, H, W, 1)] -> patch logits (N, H/8, W/8, 1), high = real.

    Three 4x4 stride-2 convs with LeakyReLU(0.2) and a 3x3 conv: each logit sees most of a 32x32 image, so it
    judges the fill in its context. The mask tells it where to look. No BatchNorm (see the module's docstring).
    """
    height, width, _ = image_shape
    image = keras.Input(image_shape, name="image")
    mask = keras.Input((height, width, 1), name="mask")
    x = layers.Concatenate()([image, mask])
    for i in range(3):
        x = layers.Conv2D(filters * 2**i, 4, strides=2, padding="same")(x)
        x = layers.LeakyReLU(0.2)(x)
    logits = layers.Conv2D(1, 3, padding="same", dtype="float32")(x)  # float32 logits under mixed precision
    return keras.Model([image, mask], logits, name="context_discriminator")


@keras.saving.register_keras_serializable(package="toolkit")
class FillNet(keras.Model):
    """Fill generator + context discriminator; `fit(x={"pixels": (N, H, W, C) 0-255, "mask": (N, H, W) 1 = known})`
    trains both (batches from toolkit.inpainting.data.MaskedBatches). Use `fill(images, masks)` to inpaint.

    `call(x)` returns {"output": G(masked, mask), "real": D(x, mask), "fake": D(stop_gradient(filled), mask),
    "fooled": D_frozen(filled, mask)}, the output (N, H, W, C) in [-1, 1] and the logits (N, H/8, W/8, 1).
    Both networks compute in the model's dtype policy, saved with it; their outputs are float32. `batch_norm`
    (BatchNorm in the generator) is there for the speed benchmark: training does not offer it.
    """

    def __init__(
        self,
        image_shape=(32, 32, 3),
        filters=32,
        gated=False,
        adversarial_weight=0.001,
        known_weight=0.1,
        reconstruction="l1",
        batch_norm=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if reconstruction not in RECONSTRUCTIONS:
            raise ConfigError(f"reconstruction={reconstruction}: choose {' or '.join(RECONSTRUCTIONS)}.")
        self.image_shape, self.filters, self.gated = tuple(image_shape), filters, gated
        self.adversarial_weight, self.known_weight = adversarial_weight, known_weight
        self.reconstruction, self.batch_norm = reconstruction, batch_norm
        with policy_scope(self.dtype_policy):  # the networks compute as trained, also once loaded
            self.generator = build_fill_generator(self.image_shape, filters, gated, batch_norm)
            self.discriminator = build_context_discriminator(self.image_shape, filters)
        self.patch = self.image_shape[0] // self.discriminator.output_shape[1]  # pixels per logit's side
        self.hole_tracker = keras.metrics.Mean(name="hole_error")  # the reconstruction loss in the hole alone
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_adv")  # the generator's adversarial loss
        self.real_score_tracker = keras.metrics.Mean(name="d_real")  # mean D(real) over all patches
        self.fake_score_tracker = keras.metrics.Mean(name="d_fake")  # mean D(filled) over all patches
        self.build(None)

    def build(self, input_shape):
        self.built = True  # both networks are functional models, built in __init__

    @staticmethod
    def _inputs(x):
        """The batch {"pixels": 0-255, "mask": (N, H, W) or (N, H, W, 1)} -> real in [-1, 1], mask (N, H, W, 1)."""
        real = ops.cast(x["pixels"], "float32") / 127.5 - 1.0
        mask = ops.cast(x["mask"], "float32")
        return real, ops.expand_dims(mask, -1) if len(mask.shape) == 3 else mask

    def call(self, x, training=False):
        real, mask = self._inputs(x)
        output = self.generator([real * mask, mask], training=training)
        filled = mask * real + (1.0 - mask) * output
        frozen = [ops.stop_gradient(v.value) for v in self.discriminator.trainable_variables]
        fooled, _ = self.discriminator.stateless_call(
            frozen, [v.value for v in self.discriminator.non_trainable_variables], [filled, mask], training=training
        )
        return {
            "output": output,
            "real": self.discriminator([real, mask], training=training),
            "fake": self.discriminator([ops.stop_gradient(filled), mask], training=training),
            "fooled": fooled,
        }

    def losses_of(self, x, y_pred) -> dict:
        """{"hole", "known": reconstruction errors, "d": discriminator's loss, "g_adv": generator's adversarial loss}.

        Each error is a mean over the pixels (and channels) it covers; the adversarial losses are binary
        cross-entropies over the patches, each patch weighed by its share of the hole.
        """
        real, mask = self._inputs(x)
        difference = y_pred["output"] - real
        error = ops.abs(difference) if self.reconstruction == "l1" else ops.square(difference)
        hole = 1.0 - mask
        hole_error = ops.sum(error * hole) / ops.maximum(ops.sum(hole) * self.image_shape[2], 1.0)
        known_error = ops.sum(error * mask) / ops.maximum(ops.sum(mask) * self.image_shape[2], 1.0)
        share = ops.average_pool(hole, self.patch, strides=self.patch)  # (N, H/8, W/8, 1)
        patches = ops.maximum(ops.sum(share), 1e-6)

        def weighted(values):
            return ops.sum(share * values) / patches

        return {
            "hole": hole_error,
            "known": known_error,
            "d": weighted(ops.softplus(-y_pred["real"])) + weighted(ops.softplus(y_pred["fake"])),
            "g_adv": weighted(ops.softplus(-y_pred["fooled"])),
        }

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        parts = self.losses_of(x, y_pred)
        generator = parts["hole"] + self.known_weight * parts["known"] + self.adversarial_weight * parts["g_adv"]
        return generator + parts["d"]

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        parts = self.losses_of(x, y_pred)
        self.hole_tracker.update_state(parts["hole"])
        self.d_loss_tracker.update_state(parts["d"])
        self.g_loss_tracker.update_state(parts["g_adv"])
        self.real_score_tracker.update_state(ops.mean(ops.sigmoid(y_pred["real"])))
        self.fake_score_tracker.update_state(ops.mean(ops.sigmoid(y_pred["fake"])))
        return self.get_metrics_result()

    def fill(self, images, masks, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Images (N, H, W, C) float in [0, 1] and masks (N, H, W), 1 = known -> (filled, output), numpy float32
        in [0, 1]: the network's output pasted into the holes (known pixels exact), and its whole output."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1:] != self.image_shape:
            shape = ", ".join(map(str, self.image_shape))
            raise InputError(f"Expected images (N, {shape}), got {images.shape}.")
        masks = np.stack([check_mask(mask, self.image_shape) for mask in masks])[..., None]
        outputs = []
        for start in range(0, len(images), batch_size):
            real = images[start : start + batch_size] * 2 - 1
            mask = masks[start : start + batch_size]
            outputs.append(ops.convert_to_numpy(self.generator([real * mask, mask], training=False)))
        output = np.clip(np.concatenate(outputs) * 0.5 + 0.5, 0, 1)
        return masks * images + (1 - masks) * output, output

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": list(self.image_shape),
            "filters": self.filters,
            "gated": self.gated,
            "adversarial_weight": self.adversarial_weight,
            "known_weight": self.known_weight,
            "reconstruction": self.reconstruction,
            "batch_norm": self.batch_norm,
        }

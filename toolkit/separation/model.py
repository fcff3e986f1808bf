"""Huang et al. (ISMIR 2014): a deep recurrent network whose output layer is a soft time-frequency mask.

The network reads mixture magnitude frames (batch, frames, bins), predicts two non-negative spectra
y1, y2 per frame, and `SoftMask` turns them into a mask m = |y1| / (|y1| + |y2| + eps) applied to the
mixture: vocals = m * X, accompaniment = (1 - m) * X. Training minimises the discriminative objective
||v^ - v||^2 + ||a^ - a||^2 - gamma (||v^ - a||^2 + ||a^ - v||^2): close to its own source, far from the other.

Variants: `drnn` (the paper's DRNN-k: dense ReLU layers, the recurrent connection at layer k), `srnn`
(every hidden layer recurrent) and `bigru` (two bidirectional GRU layers, a stronger modern mask network).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from toolkit.separation.stft import N_FFT

EPSILON = 1e-8


@keras.saving.register_keras_serializable(package="toolkit")
class LogCompression(layers.Layer):
    """log(1 + x): magnitudes span orders of magnitude; the network sees them compressed."""

    def call(self, x):
        return ops.log1p(ops.maximum(x, 0.0))


@keras.saving.register_keras_serializable(package="toolkit")
class SoftMask(layers.Layer):
    """[y1, y2, mixture] (each (..., bins)) -> (..., bins, 2): vocals and accompaniment magnitudes.

    The two estimates always add up to the mixture, which is why the paper calls it a joint mask layer.
    Networks build it with dtype="float32": under mixed_bfloat16 the mask and its product with the mixture are
    then computed in float32 (bfloat16 keeps 3 significant digits of the mixture) and the output is float32.
    """

    def __init__(self, epsilon: float = EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, inputs):
        y1, y2, mixture = inputs
        y1, y2 = ops.abs(y1), ops.abs(y2)
        mask = y1 / (y1 + y2 + self.epsilon)
        # float32 whatever the layer's policy: files saved before the layer was float32 (trained/separation.keras)
        # compute in bfloat16 as they did, so their stems are unchanged, and return float32 like new ones
        return ops.cast(ops.stack([mask * mixture, (1.0 - mask) * mixture], axis=-1), "float32")

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="toolkit")
def discriminative_loss(y_true, y_pred, gamma: float = 0.05):
    """Per-example mean over (frames, bins) of the paper's objective; y: (batch, frames, bins, 2)."""
    v, a = y_true[..., 0], y_true[..., 1]
    v_hat, a_hat = y_pred[..., 0], y_pred[..., 1]
    own = ops.square(v_hat - v) + ops.square(a_hat - a)
    cross = ops.square(v_hat - a) + ops.square(a_hat - v)
    return ops.mean(own - gamma * cross, axis=(1, 2))


@keras.saving.register_keras_serializable(package="toolkit")
class DiscriminativeLoss(keras.losses.Loss):
    """`discriminative_loss` as a Loss object that remembers gamma (0 gives the plain joint MSE)."""

    def __init__(self, gamma: float = 0.05, name: str = "discriminative_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.gamma = gamma

    def call(self, y_true, y_pred):
        return discriminative_loss(y_true, y_pred, self.gamma)

    def get_config(self):
        return {**super().get_config(), "gamma": self.gamma}


def _inputs(bins: int) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    mixture = keras.Input((None, bins), name="magnitude")
    return mixture, LogCompression(name="log_compression")(mixture)


def _heads(x, mixture, bins: int, name: str) -> keras.Model:
    y1 = layers.Dense(bins, activation="softplus", name="y1")(x)
    y2 = layers.Dense(bins, activation="softplus", name="y2")(x)
    return keras.Model(mixture, SoftMask(name="soft_mask", dtype="float32")([y1, y2, mixture]), name=name)


def build_drnn(
    hidden: int = 1000,
    recurrent_layers: tuple[int, ...] = (2,),
    layers_count: int = 3,
    context: int = 0,
    bins: int = N_FFT // 2 + 1,
    name: str = "drnn",
) -> keras.Model:
    """DRNN: `layers_count` ReLU layers of `hidden` units; those in `recurrent_layers` (1-based) are recurrent.

    `context` frames on each side feed the first layer (a 1-D convolution over time is exactly a dense layer
    on the stacked frames). Input (batch, frames, bins) magnitudes; output (batch, frames, bins, 2).
    """
    mixture, x = _inputs(bins)
    for k in range(1, layers_count + 1):
        if k == 1 and context:
            x = layers.Conv1D(hidden, 2 * context + 1, padding="same", activation="relu", name="layer1_context")(x)
            if k in recurrent_layers:
                x = layers.SimpleRNN(hidden, activation="relu", return_sequences=True, name="layer1_recurrent")(x)
        elif k in recurrent_layers:
            x = layers.SimpleRNN(hidden, activation="relu", return_sequences=True, name=f"layer{k}_recurrent")(x)
        else:
            x = layers.Dense(hidden, activation="relu", name=f"layer{k}")(x)
    return _heads(x, mixture, bins, name)


def build_bigru(hidden: int = 256, layers_count: int = 2, bins: int = N_FFT // 2 + 1) -> keras.Model:
    """A bidirectional GRU mask network (not in the paper): each frame sees past and future context."""
    mixture, x = _inputs(bins)
    x = layers.Dense(hidden, activation="relu", name="layer1")(x)
    for k in range(layers_count):
        x = layers.Bidirectional(layers.GRU(hidden // 2, return_sequences=True), name=f"bigru{k + 1}")(x)
    return _heads(x, mixture, bins, "bigru")

"""Weight initialisation: how large the random starting weights of a layer should be.

A layer computes z = x W with W of shape (fan_in, fan_out). If the weights have variance v and the inputs
are independent, var(z) = fan_in * v * E[x^2]; the schemes choose v so this stays of order one.

- small random: a fixed std of 0.01, the old default; signals shrink by about 100x / sqrt(fan_in) per layer.
- Xavier/Glorot (Glorot & Bengio 2010): var = 2 / (fan_in + fan_out); keeps tanh/sigmoid nets balanced.
- He (He et al. 2015): var = 2 / fan_in; the factor 2 makes up for ReLU zeroing half of its inputs.
"""

from __future__ import annotations

import numpy as np

from toolkit.errors import InputError

SMALL_RANDOM_STD = 0.01
SCHEMES = ("small random", "xavier", "he")


def weight_std(scheme: str, fan_in: int, fan_out: int) -> float:
    """Standard deviation of the zero-mean normal weights of a (fan_in, fan_out) layer."""
    if scheme == "small random":
        return SMALL_RANDOM_STD
    if scheme == "xavier":
        return float(np.sqrt(2 / (fan_in + fan_out)))
    if scheme == "he":
        return float(np.sqrt(2 / fan_in))
    raise InputError(f"Unknown initialisation '{scheme}'. Choose one of: {', '.join(SCHEMES)}.")


def init_weights(scheme: str, fan_in: int, fan_out: int, rng: np.random.Generator) -> np.ndarray:
    """Weights (fan_in, fan_out) drawn from N(0, weight_std^2)."""
    return rng.normal(0.0, weight_std(scheme, fan_in, fan_out), size=(fan_in, fan_out))

"""Activation functions and their derivatives, in numpy, as the lecture writes them.

Every function maps an array of pre-activations `z` (any shape) to an array of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from toolkit.errors import InputError

LEAKY_SLOPE = 0.01


def sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of a negative number only, so large |z| neither overflows nor warns
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_derivative(z: np.ndarray) -> np.ndarray:
    s = sigmoid(z)
    return s * (1 - s)


def tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z)


def tanh_derivative(z: np.ndarray) -> np.ndarray:
    return 1 - np.tanh(z) ** 2


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)


def relu_derivative(z: np.ndarray) -> np.ndarray:
    return (z > 0).astype(np.float64)  # the subgradient 0 at z = 0, as frameworks use


def leaky_relu(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, z, LEAKY_SLOPE * z)


def leaky_relu_derivative(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, 1.0, LEAKY_SLOPE)


def softplus(z: np.ndarray) -> np.ndarray:
    return np.logaddexp(0, z)  # log(1 + e^z) without overflow


def softplus_derivative(z: np.ndarray) -> np.ndarray:
    return sigmoid(z)


def identity(z: np.ndarray) -> np.ndarray:
    return np.asarray(z, dtype=np.float64)


def identity_derivative(z: np.ndarray) -> np.ndarray:
    return np.ones_like(z, dtype=np.float64)


@dataclass(frozen=True)
class Activation:
    name: str
    function: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray], np.ndarray]
    formula: str  # LaTeX, for the page


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("sigmoid", sigmoid, sigmoid_derivative, r"\sigma(z) = \frac{1}{1 + e^{-z}}"),
        Activation("tanh", tanh, tanh_derivative, r"\tanh(z) = \frac{e^{z} - e^{-z}}{e^{z} + e^{-z}}"),
        Activation("relu", relu, relu_derivative, r"\mathrm{ReLU}(z) = \max(0, z)"),
        Activation("leaky_relu", leaky_relu, leaky_relu_derivative, rf"\max({LEAKY_SLOPE}\,z, z)"),
        Activation("softplus", softplus, softplus_derivative, r"\mathrm{softplus}(z) = \log(1 + e^{z})"),
        Activation("linear", identity, identity_derivative, r"z"),
    )
}


def get(name: str) -> Activation:
    """The activation called `name` (one of `ACTIVATIONS`)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise InputError(f"Unknown activation '{name}'. Choose one of: {', '.join(ACTIVATIONS)}.") from None

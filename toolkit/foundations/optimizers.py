"""Softmax and cross-entropy; gradient descent, momentum and Adam on 2-D loss surfaces.

The update rules are written out in numpy exactly as Keras implements them (`keras.optimizers.SGD`,
`SGD(momentum=...)`, `Adam`), so the paths drawn on the page are the paths a Keras model's weights would take.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from toolkit.errors import InputError

OPTIMIZERS = ("sgd", "momentum", "adam")


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Probabilities over the last axis; subtracting the max changes nothing but avoids overflow."""
    if temperature <= 0:
        raise InputError(f"The softmax temperature must be positive, got {temperature}.")
    z = np.asarray(logits, dtype=np.float64) / temperature
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def cross_entropy(logits: np.ndarray, label: int) -> float:
    """-log softmax(logits)[label], computed with log-sum-exp (finite even for extreme logits)."""
    z = np.asarray(logits, dtype=np.float64)
    return float(np.logaddexp.reduce(z) - z[label])


def cross_entropy_gradient(logits: np.ndarray, label: int) -> np.ndarray:
    """d cross_entropy / d logits = softmax(logits) - one_hot(label)."""
    gradient = softmax(logits)
    gradient[label] -= 1
    return gradient


@dataclass(frozen=True)
class Surface:
    """A loss f(w) of two weights w = (x, y), with its gradient, a start point and the region to plot."""

    name: str
    loss: Callable[[np.ndarray, np.ndarray], np.ndarray]  # elementwise over arrays x, y
    gradient: Callable[[float, float], np.ndarray]  # (2,)
    start: tuple[float, float]
    bounds: tuple[tuple[float, float], tuple[float, float]]
    learning_rates: dict[str, float] = field(default_factory=dict)  # a rate that works, per optimizer


SURFACES = {
    s.name: s
    for s in (
        Surface(  # condition number 100: plain gradient descent zig-zags across the valley, creeps along it
            "ravine",
            lambda x, y: 0.02 * x**2 + 2 * y**2,
            lambda x, y: np.array([0.04 * x, 4 * y]),
            (-9.0, 2.0),
            ((-10, 10), (-3, 3)),
            {"sgd": 0.45, "momentum": 0.05, "adam": 0.1},
        ),
        Surface(  # Rosenbrock's banana: easy to find the valley, slow to follow it to the minimum at (1, 1)
            "rosenbrock",
            lambda x, y: (1 - x) ** 2 + 100 * (y - x**2) ** 2,
            lambda x, y: np.array([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)]),
            (-1.5, 2.0),
            ((-2, 2), (-1, 3)),
            {"sgd": 1e-3, "momentum": 1e-3, "adam": 0.2},
        ),
        Surface(  # Himmelblau: four minima of equal depth; which one an optimizer reaches depends on its path
            "himmelblau",
            lambda x, y: (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2,
            lambda x, y: np.array(
                [
                    4 * x * (x**2 + y - 11) + 2 * (x + y**2 - 7),
                    2 * (x**2 + y - 11) + 4 * y * (x + y**2 - 7),
                ]
            ),
            (-0.5, -0.5),
            ((-5, 5), (-5, 5)),
            {"sgd": 0.01, "momentum": 0.002, "adam": 0.1},
        ),
    )
}


def trajectory(
    surface: Surface,
    optimizer: str,
    learning_rate: float,
    steps: int,
    momentum: float = 0.9,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> np.ndarray:
    """The points (steps + 1, 2) visited from `surface.start`; stops early if the loss blows up."""
    if optimizer not in OPTIMIZERS:
        raise InputError(f"Unknown optimizer '{optimizer}'. Choose one of: {', '.join(OPTIMIZERS)}.")
    w = np.array(surface.start, dtype=np.float64)
    velocity, m, v = np.zeros(2), np.zeros(2), np.zeros(2)
    path = [w.copy()]
    for step in range(1, steps + 1):
        g = surface.gradient(*w)
        if optimizer == "sgd":
            w = w - learning_rate * g
        elif optimizer == "momentum":  # velocity accumulates past gradients
            velocity = momentum * velocity - learning_rate * g
            w = w + velocity
        else:  # Adam: per-weight steps scaled by running gradient statistics, bias-corrected
            m += (1 - beta_1) * (g - m)
            v += (1 - beta_2) * (g**2 - v)
            alpha = learning_rate * np.sqrt(1 - beta_2**step) / (1 - beta_1**step)
            w = w - alpha * m / (np.sqrt(v) + epsilon)
        if not np.all(np.isfinite(w)) or np.abs(w).max() > 1e6:
            break  # diverged: the learning rate is too large for this surface
        path.append(w.copy())
    return np.array(path)

"""The perceptron (Rosenblatt 1958), its limit (XOR; Minsky & Papert 1969) and the MLP that overcomes it.

Data sets are 2-D points x (N, 2) float with labels y (N,) in {0, 1}.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from toolkit.errors import InputError
from toolkit.foundations.network import MLP

LOGIC_GATES = {"AND": (0, 0, 0, 1), "OR": (0, 1, 1, 1), "XOR": (0, 1, 1, 0)}
DATA_SETS = (*LOGIC_GATES, "two moons", "circles")


def make_data(name: str, n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A toy 2-D data set: a logic gate's truth table (4 points) or `n` noisy points of two moons or circles."""
    rng = np.random.default_rng(seed)
    if name in LOGIC_GATES:
        x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
        return x, np.array(LOGIC_GATES[name])
    y = np.arange(n) % 2
    angle = rng.uniform(0, np.pi, n)
    if name == "two moons":  # upper moon centred at 0, lower moon shifted right and down
        x = np.stack([np.cos(angle) + y, np.sin(angle) * (1 - 2 * y) + 0.5 * y], axis=1)
    elif name == "circles":  # inner circle (label 1) of radius 0.5 inside a unit circle
        angle = 2 * angle
        x = np.stack([np.cos(angle), np.sin(angle)], axis=1) * np.where(y, 0.5, 1.0)[:, None]
    else:
        raise InputError(f"Unknown data set '{name}'. Choose one of: {', '.join(DATA_SETS)}.")
    return x + rng.normal(0, noise, x.shape), y


@dataclass
class Perceptron:
    """A threshold unit: predicts 1 where x . w + b > 0."""

    weights: np.ndarray = field(default_factory=lambda: np.zeros(2))
    bias: float = 0.0

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (x @ self.weights + self.bias > 0).astype(int)

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int, learning_rate: float = 1.0) -> np.ndarray:
        """The perceptron rule, w += lr (y - y_hat) x for each example in turn; returns mistakes per epoch.

        On linearly separable data it stops making mistakes after finitely many updates (Novikoff 1962);
        on XOR no line separates the classes, so every epoch has at least one mistake.
        """
        mistakes = np.zeros(epochs, dtype=int)
        for epoch in range(epochs):
            for xi, yi in zip(x, y):
                error = yi - int(xi @ self.weights + self.bias > 0)
                if error:
                    self.weights = self.weights + learning_rate * error * xi
                    self.bias += learning_rate * error
                    mistakes[epoch] += 1
        return mistakes


def solve_xor(
    hidden: int = 2, activation: str = "tanh", learning_rate: float = 0.5, epochs: int = 3000, seed: int = 0
) -> tuple[MLP, np.ndarray]:
    """A 2-hidden-1 network trained by backprop on XOR; returns the network and its loss curve."""
    x, y = make_data("XOR")
    net = MLP.create([2, hidden, 1], activation, "xavier", seed)
    return net, net.fit(x, y, learning_rate, epochs)


def accuracy(predicted: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted) == y))


def decision_grid(
    x: np.ndarray, resolution: int = 120, margin: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grid covering the data: (xx, yy) each (resolution, resolution) and the points (resolution^2, 2)."""
    low, high = x.min(0) - margin, x.max(0) + margin
    xx, yy = np.meshgrid(np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution))
    return xx, yy, np.stack([xx.ravel(), yy.ravel()], axis=1)

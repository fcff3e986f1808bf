"""How signals and gradients travel through a deep network at initialisation.

One forward and one backward pass of a random batch through `depth` hidden layers of `width` units shows
the two classic failures: activations that collapse to zero or saturate (bad initialisation), and
gradients that shrink layer by layer towards the input (sigmoid's derivative is at most 1/4).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.foundations.network import MLP


@dataclass
class Propagation:
    activations: list[np.ndarray]  # outputs of hidden layers 1..depth, each (batch, width)
    activation_std: np.ndarray  # (depth,)
    weight_gradients: list[np.ndarray]  # dL/dW of hidden layers 1..depth, each (fan_in, width)
    gradient_norm: np.ndarray  # (depth,) Frobenius norms of those


def propagate(
    activation: str = "tanh",
    scheme: str = "xavier",
    depth: int = 10,
    width: int = 256,
    batch: int = 512,
    seed: int = 0,
) -> Propagation:
    """Statistics of one pass of a standard-normal batch with random 0/1 labels, layer by layer."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, width))
    y = rng.integers(0, 2, batch)
    net = MLP.create([width] * (depth + 1) + [1], activation, scheme, seed)
    grads = net.gradients(x, y)
    hidden = grads.trace.inputs[1:]  # inputs of layers 1.. are the outputs of hidden layers
    return Propagation(
        activations=hidden,
        activation_std=np.array([h.std() for h in hidden]),
        weight_gradients=grads.weights[:depth],
        gradient_norm=np.array([np.linalg.norm(g) for g in grads.weights[:depth]]),
    )

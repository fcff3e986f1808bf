"""A fully connected network in numpy with backpropagation written out, for the foundations pages.

Hidden layers use one activation; the output is a single sigmoid unit trained with binary cross-entropy,
so dL/dz at the output is simply (p - y) / N. Inputs are (N, features) float arrays, labels (N,) in {0, 1}.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.errors import InputError
from toolkit.foundations import activations
from toolkit.foundations.initialisation import init_weights


@dataclass
class Trace:
    """What one forward pass computed: `inputs[l]` feeds layer l, `pre[l]` = inputs[l] @ W_l + b_l."""

    inputs: list[np.ndarray]
    pre: list[np.ndarray]
    output: np.ndarray  # (N,) probabilities


@dataclass
class Gradients:
    loss: float
    weights: list[np.ndarray]  # dL/dW_l, same shapes as the weights
    biases: list[np.ndarray]
    trace: Trace


@dataclass
class MLP:
    weights: list[np.ndarray]  # W_l: (fan_in, fan_out)
    biases: list[np.ndarray]  # b_l: (fan_out,)
    activation: str = "tanh"

    @classmethod
    def create(cls, sizes: list[int], activation: str = "tanh", scheme: str = "xavier", seed: int = 0) -> MLP:
        """A network with layer widths `sizes` (inputs first, 1 output last), zero biases."""
        if len(sizes) < 2 or sizes[-1] != 1 or min(sizes) < 1:
            raise InputError(f"Layer sizes must be [inputs, hidden..., 1] with positive widths, got {sizes}.")
        activations.get(activation)
        rng = np.random.default_rng(seed)
        weights = [init_weights(scheme, a, b, rng) for a, b in zip(sizes[:-1], sizes[1:])]
        return cls(weights, [np.zeros(b) for b in sizes[1:]], activation)

    def forward(self, x: np.ndarray) -> Trace:
        f = activations.get(self.activation).function
        inputs, pre = [], []
        a = np.asarray(x, dtype=np.float64)
        for layer, (w, b) in enumerate(zip(self.weights, self.biases)):
            inputs.append(a)
            pre.append(a @ w + b)
            a = f(pre[-1]) if layer < len(self.weights) - 1 else activations.sigmoid(pre[-1])
        return Trace(inputs, pre, a[:, 0])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(y = 1 | x), shape (N,)."""
        return self.forward(x).output

    def gradients(self, x: np.ndarray, y: np.ndarray) -> Gradients:
        """Binary cross-entropy and its gradient with respect to every weight and bias."""
        trace = self.forward(x)
        y = np.asarray(y, dtype=np.float64)
        z_out = trace.pre[-1][:, 0]
        loss = float(np.mean(activations.softplus(z_out) - y * z_out))  # BCE computed from the logit
        derivative = activations.get(self.activation).derivative
        delta = (trace.output - y)[:, None] / len(y)  # dL/dz of the output layer
        grad_w, grad_b = [], []
        for layer in reversed(range(len(self.weights))):
            grad_w.append(trace.inputs[layer].T @ delta)
            grad_b.append(delta.sum(0))
            if layer:
                delta = (delta @ self.weights[layer].T) * derivative(trace.pre[layer - 1])
        return Gradients(loss, grad_w[::-1], grad_b[::-1], trace)

    def fit(self, x: np.ndarray, y: np.ndarray, learning_rate: float, epochs: int) -> np.ndarray:
        """Full-batch gradient descent for `epochs` steps; returns the loss before each step, (epochs,)."""
        losses = np.empty(epochs)
        for epoch in range(epochs):
            grads = self.gradients(x, y)
            losses[epoch] = grads.loss
            for param, grad in zip(self.weights + self.biases, grads.weights + grads.biases):
                param -= learning_rate * grad
        return losses

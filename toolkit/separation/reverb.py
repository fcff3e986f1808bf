"""A small room: the reverb that the synthesised singer and the example song's stems each get."""

from __future__ import annotations

import numpy as np
from scipy import signal


def room(stem: np.ndarray, sr: int, rng: np.random.Generator, wet: float = 0.25, decay: float = 0.08) -> np.ndarray:
    """`stem` (n,) or (n, channels) plus a small room: noise decaying with time constant `decay` (s), different
    in each channel, so a stereo mix is wide."""
    t = np.arange(int(5 * decay * sr)) / sr
    envelope = np.exp(-t / decay).reshape((-1,) + (1,) * (stem.ndim - 1))
    response = rng.standard_normal((len(t), *stem.shape[1:])) * envelope
    response /= np.sqrt(np.sum(response**2, axis=0))
    return stem + wet * signal.fftconvolve(stem, response, axes=0)[: len(stem)]

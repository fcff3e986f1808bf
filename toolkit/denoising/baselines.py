"""The classic denoisers measured beside the networks: BM3D and non-local means.

Both take a noisy grayscale image, float (H, W) on the [0, 1] scale, and the noise level `sigma` on
the 0-255 scale (the convention of the denoising tables). BM3D costs seconds per image, so figures
on a fixed image set are cached in a JSON file keyed by method, image, sigma and seed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
from skimage.restoration import denoise_nl_means

from toolkit import saving


def bm3d_denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """BM3D (Dabov et al. 2007) with its default profile, the reference implementation's `bm3d` package."""
    import bm3d  # imported here: it is slow to import and only evaluation needs it

    return np.asarray(bm3d.bm3d(noisy, sigma_psd=sigma / 255), np.float32)


def nlm_denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """scikit-image's non-local means with the settings of its documentation (h = 0.8 sigma, 5x5 patches)."""
    s = sigma / 255
    return np.asarray(
        denoise_nl_means(noisy, h=0.8 * s, sigma=s, patch_size=5, patch_distance=6, fast_mode=True), np.float32
    )


BASELINES: dict[str, tuple[str, Callable[[np.ndarray, float], np.ndarray]]] = {
    "bm3d": ("BM3D", bm3d_denoise),
    "nlm": ("NLM (scikit-image)", nlm_denoise),
}


class FigureCache:
    """(PSNR, SSIM) pairs of baseline runs, one JSON file per image set, sigma and seed.

    An entry's key holds a hash of the clean pixels, so an edited image is never answered from the cache.
    A `path` of None keeps nothing (tests, one-off runs).
    """

    def __init__(self, path: Path | None):
        self.path = path
        self.entries: dict[str, list[float]] = {}
        if path is not None and path.exists():
            try:
                self.entries = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                self.entries = {}  # a damaged cache is recomputed, never trusted

    @staticmethod
    def key(method: str, name: str, clean: np.ndarray) -> str:
        return f"{method}/{name}/{hashlib.sha1(np.ascontiguousarray(clean).tobytes()).hexdigest()[:16]}"

    def get(self, key: str) -> tuple[float, float] | None:
        value = self.entries.get(key)
        return (value[0], value[1]) if value else None

    def put(self, key: str, figures: tuple[float, float]) -> None:
        self.entries[key] = list(figures)
        if self.path is not None:
            saving.write_json(self.entries, self.path)

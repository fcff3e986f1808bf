"""PSNR and SSIM as the denoising literature reports them: on 8-bit images, clipped and rounded.

DnCNN's test script converts both images with `im2uint8` before measuring, so an estimate outside
[0, 1] is clipped and every figure is on the 0-255 scale (data range 255).
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] (values outside are clipped) -> uint8 in [0, 255]."""
    return np.round(np.clip(np.asarray(image, np.float64), 0.0, 1.0) * 255).astype(np.uint8)


def psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB between two float images in [0, 1] of the same shape ((H, W) or (H, W, 3))."""
    error = to_uint8(clean).astype(np.float64) - to_uint8(estimate).astype(np.float64)
    mse = float(np.mean(error**2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim(clean: np.ndarray, estimate: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5) of two images in [0, 1].

    Grayscale (H, W), or colour (H, W, 3): the mean of the three channels' SSIM.
    """
    clean = np.asarray(clean)
    return float(
        structural_similarity(
            to_uint8(clean),
            to_uint8(estimate),
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            channel_axis=-1 if clean.ndim == 3 else None,
        )
    )

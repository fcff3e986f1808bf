"""Classic inpainting baselines and the scores every method is measured with.

Images are float (H, W, C) in [0, 1], grey (C = 1) or colour (C = 3); masks (H, W) with 1 = known, 0 = hole.
Every method fills each channel (OpenCV and scikit-image take the colour image whole), and SSIM is the mean of
the per-channel SSIMs.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import structural_similarity
from skimage.restoration import inpaint_biharmonic

from toolkit.inpainting.blend import poisson_blend


def _opencv(image: np.ndarray, mask: np.ndarray, flags: int) -> np.ndarray:
    pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
    hole = (mask < 0.5).astype(np.uint8)
    filled = cv2.inpaint(pixels if pixels.shape[-1] == 3 else pixels[..., 0], hole, inpaintRadius=3, flags=flags)
    filled = filled.reshape(image.shape) / 255.0
    return np.where(mask[..., None] > 0.5, image, filled).astype(np.float32)  # known pixels stay exact, not 8-bit


def telea(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV's fast marching method (Telea 2004)."""
    return _opencv(image, mask, cv2.INPAINT_TELEA)


def navier_stokes(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """OpenCV's fluid-dynamics method (Bertalmio et al. 2001)."""
    return _opencv(image, mask, cv2.INPAINT_NS)


def biharmonic(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """scikit-image's biharmonic inpainting (smooth continuation of the boundary)."""
    return inpaint_biharmonic(image, mask < 0.5, channel_axis=-1).astype(np.float32)


def harmonic(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The smoothest membrane through the hole's border (Laplace's equation): Poisson blending of a flat source.

    What the GAN's Poisson blend gives when G(z) adds nothing, so the GAN's own share is its lead over this.
    """
    return poisson_blend(np.zeros_like(image), image, mask)


def mean_fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The hole filled with the mean colour of the known pixels: the floor every method must clear."""
    known = mask[..., None] > 0.5
    mean = (image * known).sum(axis=(0, 1)) / known.sum()
    return np.where(known, image, mean).astype(np.float32)


CLASSIC_METHODS = {  # the evaluation's name of each method -> the method
    "telea": telea,
    "navier_stokes": navier_stokes,
    "biharmonic": biharmonic,
    "harmonic": harmonic,
    "mean_fill": mean_fill,
}


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio (dB, peak 1) over all pixels or the (H, W) boolean region `where`."""
    error = (np.asarray(a, np.float64) - b) ** 2
    mse = error[where].mean() if where is not None else error.mean()
    return float(10 * np.log10(1.0 / max(mse, 1e-10)))


def ssim(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    """Structural similarity (7x7 windows), averaged over all pixels or over the (H, W) region `where`."""
    _, full = structural_similarity(a, b, data_range=1.0, channel_axis=-1, win_size=7, full=True)
    full = full.mean(axis=-1)
    return float(full[where].mean() if where is not None else full.mean())

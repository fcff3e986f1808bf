"""Noise and denoising of whole images: what evaluation, the app and the benchmark share.

Images are grayscale float (H, W) on the [0, 1] scale; noise levels `sigma` are on the 0-255 scale. Colour
photos (H, W, 3) are denoised one channel at a time by the grayscale models (`denoise_channels`).
Large images are cut into tiles with a margin wider than the network's receptive field, so the
result equals a single pass while memory stays bounded.
"""

from __future__ import annotations

import zlib

import keras
import numpy as np
from skimage.restoration import estimate_sigma

from toolkit.denoising.models import takes_noise_level
from toolkit.errors import InputError

TILE = 512  # pixels per tile side, before the margin
MARGIN = 64  # > the receptive field's half-width (17 DnCNN-17, 26 autoencoder, 31 FFDNet-15, 54 FFDNet's U-Net body),
# and a multiple of 8, so tiles keep the U-Net's stride-2 grid when the tile size is one too


def noise_rng(seed: int, sigma: float, name: str) -> np.random.Generator:
    """The fixed noise of one test image: the same for every model, baseline and run."""
    return np.random.default_rng([seed, round(sigma * 100), zlib.crc32(name.encode())])


def add_noise(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive white Gaussian noise of standard deviation sigma/255; not clipped, as in the published protocol."""
    return (clean + rng.standard_normal(clean.shape) * (sigma / 255)).astype(np.float32)


def denoise(
    model: keras.Model,
    noisy: np.ndarray,
    sigma: float | None = None,
    ensemble: bool = False,
    tile: int = TILE,
    margin: int = MARGIN,
) -> np.ndarray:
    """The model's clean estimate of a noisy (H, W) image in [0, 1], clipped to [0, 1], float32 (H, W).

    `sigma` (0-255 scale) is what a model with a noise-level input (FFDNet) is told: a higher level smooths more.
    None estimates it from the image (`estimate_noise_sigma`). Blind models (DnCNN, the autoencoder) ignore it.
    `ensemble=True` averages the estimates of the image's 8 rotations and mirror images (the geometric
    self-ensemble of EDSR and KAIR's test mode x8): 8 times the work for about 0.1 dB.
    """
    noisy = np.asarray(noisy, np.float32)
    if noisy.ndim != 2 or min(noisy.shape) < 1:
        raise InputError(f"Expected a grayscale image (H, W), got shape {noisy.shape}.")
    if sigma is None and takes_noise_level(model):
        sigma = estimate_noise_sigma(noisy)
    if not ensemble:
        return denoise_tiles(model, noisy, sigma, tile, margin)
    estimates = [from_dihedral(denoise_tiles(model, to_dihedral(noisy, k), sigma, tile, margin), k) for k in range(8)]
    return np.mean(estimates, axis=0)


def to_dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """The k-th of an image's 8 rotations (by 90 degrees times k % 4) and mirror images (k >= 4)."""
    image = np.rot90(image, k % 4)
    return np.ascontiguousarray(image[:, ::-1] if k >= 4 else image)


def from_dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """Undo `to_dihedral(., k)`."""
    image = image[:, ::-1] if k >= 4 else image
    return np.ascontiguousarray(np.rot90(image, -(k % 4)))


def denoise_tiles(model: keras.Model, noisy: np.ndarray, sigma: float | None, tile: int, margin: int) -> np.ndarray:
    """One pass of the model over (H, W), tile by tile with a margin, so the result equals a pass on the whole."""
    told = takes_noise_level(model)
    height, width = noisy.shape
    out = np.empty_like(noisy)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            t0, l0 = max(top - margin, 0), max(left - margin, 0)
            b1, r1 = min(top + tile + margin, height), min(left + tile + margin, width)
            piece = noisy[None, t0:b1, l0:r1, None]
            inputs = [piece, np.full((1, 1), sigma / 255, np.float32)] if told else piece
            patch = keras.ops.convert_to_numpy(model.predict_on_batch(inputs))[0, ..., 0]
            bottom, right = min(top + tile, height), min(left + tile, width)
            out[top:bottom, left:right] = patch[top - t0 : bottom - t0, left - l0 : right - l0]
    return np.clip(out, 0.0, 1.0)


def denoise_channels(
    model: keras.Model, noisy: np.ndarray, sigma: float | None = None, ensemble: bool = False
) -> np.ndarray:
    """`denoise` of a grayscale (H, W) image, or of each channel of a colour (H, W, 3) one (the models are grey).

    With `sigma=None` a model told the noise level gets one estimate for the whole image.
    """
    noisy = np.asarray(noisy, np.float32)
    if sigma is None and takes_noise_level(model):
        sigma = estimate_noise_sigma(noisy)
    if noisy.ndim == 3 and noisy.shape[-1] == 3:
        return np.stack([denoise(model, noisy[..., c], sigma, ensemble) for c in range(3)], axis=-1)
    return denoise(model, noisy, sigma, ensemble)


def denoise_image(
    model: keras.Model, image: np.ndarray, sigma: float | None = None, ensemble: bool = False
) -> np.ndarray:
    """Denoise a picture as it comes: grey (H, W) or colour (H, W, 3), uint8, uint16 or float in [0, 1].

    `sigma` is the noise level on the 0-255 scale whatever the bit depth (what the denoising tables quote); None
    estimates it; `ensemble` as in `denoise`. Returns the same shape and dtype, on the same scale.
    """
    image = np.asarray(image)
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[-1] == 3)):
        raise InputError(f"Expected a grey (H, W) or colour (H, W, 3) image, got shape {image.shape}.")
    if image.dtype.kind in "ui":
        if image.dtype.itemsize > 2:
            raise InputError(f"Integer images up to 16 bits are supported, not {image.dtype}.")
        top = float(np.iinfo(image.dtype).max)
    elif image.dtype.kind == "f":
        top = 1.0
    else:
        raise InputError(f"Cannot denoise an image of type {image.dtype}.")
    clean = denoise_channels(model, image.astype(np.float32) / top, sigma, ensemble)
    if image.dtype.kind == "f":
        return clean.astype(image.dtype)
    return np.round(clean * top).astype(image.dtype)


def estimate_noise_sigma(noisy: np.ndarray) -> float:
    """The noise level of an image on the 0-255 scale: scikit-image's wavelet (median absolute deviation) estimate.

    Reliable for white Gaussian noise above ~5; on a clean photo it reads a few levels (fine texture looks like noise).
    """
    noisy = np.asarray(noisy, np.float32)
    channel_axis = -1 if noisy.ndim == 3 else None
    return float(estimate_sigma(noisy, channel_axis=channel_axis, average_sigmas=True)) * 255

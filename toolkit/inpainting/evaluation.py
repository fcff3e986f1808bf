"""The evaluation: fill held-out images with the GAN and with the classic methods, and score every fill.

Scores: PSNR (dB) and SSIM of the whole image and of the hole alone, and the discriminator's realism score D(x).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from toolkit.inpainting.classic import CLASSIC_METHODS, psnr, ssim
from toolkit.inpainting.data import GREY
from toolkit.inpainting.dcgan import DCGAN
from toolkit.inpainting.search import SearchSettings, inpaint

OURS = "GAN + Poisson (ours)"


def default_search_steps(dataset: str) -> int:
    """Adam steps of the evaluation's latent search: 1000 for the grey sets, 400 in colour. On Fashion-MNIST the
    hole's PSNR barely moves after 250 steps, and 256 CIFAR-10 images then take at most about 8 minutes on 2 shared
    CPU cores."""
    return 1000 if dataset in GREY else 400


def default_image_count(dataset: str) -> int:
    """Held-out images the evaluation fills: 256 for cifar10, 64 otherwise."""
    return 256 if dataset == "cifar10" else 64


def compare_methods(
    gan: DCGAN,
    images: np.ndarray,
    masks: np.ndarray,
    settings: SearchSettings,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Fill every image with every method; rows of PSNR/SSIM (whole image and hole) and the filled images.

    Images (N, H, W, C) in [0, 1], grey or colour; masks (N, H, W), 1 = known. SSIM is the mean over the channels.
    """
    ours = inpaint(gan, images, masks, settings, progress)
    filled = {OURS: ours.blended, "GAN overlay": ours.overlay}
    for title, method in CLASSIC_METHODS.items():
        filled[title] = np.stack([method(image, mask) for image, mask in zip(images, masks)])
    rows, holes = [], masks < 0.5
    for title, results in filled.items():
        realism = keras.ops.sigmoid(gan.discriminator.predict(results * 2 - 1, verbose=0))
        rows.append(
            {
                "method": title,
                "images": len(images),
                "PSNR": np.mean([psnr(r, x) for r, x in zip(results, images)]),
                "PSNR hole": np.mean([psnr(r, x, h) for r, x, h in zip(results, images, holes)]),
                "SSIM": np.mean([ssim(r, x) for r, x in zip(results, images)]),
                "SSIM hole": np.mean([ssim(r, x, h) for r, x, h in zip(results, images, holes)]),
                "D(x)": float(keras.ops.mean(realism)),  # the discriminator's realism score, 1 = real
            }
        )
    return rows, {"masked": ours.masked, "GAN fill": ours.generated, **filled}

"""The evaluation: fill held-out images with the learnt models (a fill network, the DCGAN's latent search) and with
the classic methods, and score every fill.

Scores: PSNR (dB) and SSIM of the whole image and of the hole alone and, when a DCGAN takes part, its
discriminator's realism score D(x). Each row names its method as `METHOD_TITLES` does (its keys).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from toolkit.inpainting.classic import CLASSIC_METHODS, psnr, ssim
from toolkit.inpainting.data import GREY
from toolkit.inpainting.dcgan import DCGAN
from toolkit.inpainting.fill_net import FillNet
from toolkit.inpainting.predict import inpaint, method_of
from toolkit.inpainting.search import SearchSettings

METHOD_TITLES = {  # the method's name in the evaluation's rows -> how figures and the page title it
    "fill_net": "fill network",
    "latent_search": "GAN + Poisson",
    "latent_search_overlay": "GAN overlay",
    "telea": "Telea",
    "navier_stokes": "Navier-Stokes",
    "biharmonic": "biharmonic",
    "harmonic": "harmonic",
    "mean_fill": "mean fill",
}


def default_search_steps(dataset: str) -> int:
    """Adam steps of the evaluation's latent search: 1000 for the grey sets, 400 in colour. On Fashion-MNIST the
    hole's PSNR barely moves after 250 steps, and 256 CIFAR-10 images then take at most about 8 minutes on 2 shared
    CPU cores."""
    return 1000 if dataset in GREY else 400


def default_image_count(dataset: str) -> int:
    """Held-out images the evaluation fills: 256 for cifar10, 64 otherwise."""
    return 256 if dataset == "cifar10" else 64


def compare_methods(
    models: list[FillNet | DCGAN],
    images: np.ndarray,
    masks: np.ndarray,
    settings: SearchSettings,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Fill every image with each model (a FillNet, a DCGAN or both) and every classic method; rows of PSNR/SSIM
    (whole image and hole), the learnt methods first, and the images {"masked", "GAN fill" (G(z*)), method: filled}.

    Images (N, H, W, C) in [0, 1], grey or colour; masks (N, H, W), 1 = known. SSIM is the mean over the channels.
    """
    filled: dict[str, np.ndarray] = {}
    pictures: dict[str, np.ndarray] = {}
    for model in models:
        result = inpaint(model, images, masks, settings, progress)
        method = method_of(model)
        filled[method] = result.filled
        pictures["masked"] = result.masked
        if method == "latent_search":
            filled["latent_search_overlay"] = result.overlay
            pictures["GAN fill"] = result.generated
    for name, method in CLASSIC_METHODS.items():
        filled[name] = np.stack([method(image, mask) for image, mask in zip(images, masks)])
    gan = next((model for model in models if isinstance(model, DCGAN)), None)
    rows, holes = [], masks < 0.5
    for name, results in filled.items():
        row = {
            "method": name,
            "images": len(images),
            "PSNR": np.mean([psnr(r, x) for r, x in zip(results, images)]),
            "PSNR hole": np.mean([psnr(r, x, h) for r, x, h in zip(results, images, holes)]),
            "SSIM": np.mean([ssim(r, x) for r, x in zip(results, images)]),
            "SSIM hole": np.mean([ssim(r, x, h) for r, x, h in zip(results, images, holes)]),
        }
        if gan is not None:  # the DCGAN's discriminator's realism score, 1 = real
            logits = gan.discriminator.predict(results * 2 - 1, verbose=0)
            row["D(x)"] = float(keras.ops.mean(keras.ops.sigmoid(logits)))
        rows.append(row)
    return rows, {**pictures, **filled}


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table: figures with 2 decimals, 4 below 1 (as the command line prints them)."""

    def cell(value) -> str:
        if isinstance(value, float | np.floating):
            return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"
        return str(value)

    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(column, "")) for column in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"

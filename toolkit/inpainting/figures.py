"""Pictures: a grid per training epoch (a DCGAN's samples, a fill network's fills), and the method comparison figure
of the evaluation."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from toolkit.inpainting.masks import TRAINING_MIX, make_mask


def tile(images: np.ndarray, columns: int) -> np.ndarray:
    """Images (N, H, W, C) in [0, 1] -> one uint8 mosaic (rows*H, columns*W, C) with a 1-pixel gap."""
    n, height, width, channels = images.shape
    rows = math.ceil(n / columns)
    grid = np.ones((rows * (height + 1) - 1, columns * (width + 1) - 1, channels), np.float32)
    for i, image in enumerate(images):
        top, left = (i // columns) * (height + 1), (i % columns) * (width + 1)
        grid[top : top + height, left : left + width] = image
    return np.round(np.clip(grid, 0, 1) * 255).astype(np.uint8)


def save_png(pixels: np.ndarray, path: str | Path, scale: int = 1) -> Path:
    """uint8 (H, W, 1 or 3) -> PNG, enlarged `scale` times with nearest-neighbour pixels."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    image.resize((image.width * scale, image.height * scale), Image.NEAREST).save(path)
    return path


class SampleGrid(keras.callbacks.Callback):
    """After each epoch, write `samples_<epoch>.png` (an 8x8 grid from a fixed z) so a user can watch G learn."""

    def __init__(self, folder: str | Path, count: int = 64, seed: int = 1234):
        super().__init__()
        self.folder, self.count, self.seed = Path(folder), count, seed

    def on_epoch_end(self, epoch, logs=None):
        samples = self.model.generate(self.count, seed=self.seed)
        save_png(tile(samples, 8), self.folder / f"samples_{epoch + 1:03d}.png", scale=2)


class FillGrid(keras.callbacks.Callback):
    """After each epoch, write `fills_<epoch>.png` so a user can watch a fill network learn: fixed images, each with
    a mask of one of the training kinds, in three rows: masked, filled, original."""

    def __init__(self, folder: str | Path, images: np.ndarray, seed: int = 1234):
        super().__init__()
        self.folder = Path(folder)
        self.images = np.asarray(images[: len(TRAINING_MIX)], np.float32) / 255
        kinds = list(TRAINING_MIX)
        height, width = self.images.shape[1:3]
        self.masks = np.stack([make_mask(kinds[i], height, width, seed + i) for i in range(len(self.images))])

    def on_epoch_end(self, epoch, logs=None):
        filled, _ = self.model.fill(self.images, self.masks)
        known = self.masks[..., None]
        rows = np.concatenate([known * self.images + (1 - known) * 0.5, filled, self.images])
        save_png(tile(rows, len(self.images)), self.folder / f"fills_{epoch + 1:03d}.png", scale=3)


def comparison_figure(columns: dict[str, np.ndarray], path: str | Path, rows: int = 8) -> Path:
    """One row per image, one column per method: {title: images (N, H, W, C) in [0, 1]} -> PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = min(rows, *(len(v) for v in columns.values()))
    fig, axes = plt.subplots(rows, len(columns), figsize=(1.4 * len(columns), 1.4 * rows), squeeze=False)
    for j, (title, images) in enumerate(columns.items()):
        axes[0, j].set_title(title, fontsize=8)
        for i in range(rows):
            image = np.clip(images[i], 0, 1)
            axes[i, j].imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
            axes[i, j].axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

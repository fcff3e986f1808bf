"""Denoising data: grayscale PNG folders (Train400, BSD68) and a sampler of noisy training patches."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np

from toolkit.data.image_folder import read_image
from toolkit.data.paths import require_files
from toolkit.errors import DataNotFoundError, InputError

# (folder under the data directory, first file of the official release): the loaders accept any *.png beside it
IMAGE_SETS = {"train400": ("denoising/train400", "test_001.png"), "bsd68": ("denoising/bsd68", "test001.png")}


def read_gray(path: Path) -> np.ndarray:
    """One image file as grayscale float32 (H, W) in [0, 1]."""
    return read_image(path, mode="L").astype(np.float32) / 255


def load_image_set(name: str, data_dir: str | None = None, limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """(file name, float32 (H, W) in [0, 1]) of every PNG of an image set ("train400", "bsd68"), sorted by name."""
    folder, first = IMAGE_SETS[name]
    root = require_files("denoising", folder, [first], data_dir)
    paths = sorted(root.glob("*.png"))[:limit]
    if not paths:
        raise DataNotFoundError(f"{root} holds no PNG images.")
    return [(p.name, read_gray(p)) for p in paths]


class PatchSampler(keras.utils.PyDataset):
    """Batches of (noisy, clean) patches, float32 (B, P, P, 1), from a list of grayscale images.

    Each patch comes from a random image and place, in one of the 8 flip/rotation orientations, with fresh
    Gaussian noise of level `sigma` (0-255 scale) or, when `sigma` is None, a level drawn per patch uniformly
    from `sigma_range`. `noise_level_input=True` gives ((noisy, sigma / 255 as (B, 1)), clean), the inputs of a
    model told the noise level (FFDNet). Batches are a function of (seed, epoch, index), so a resumed run sees the
    same data; `fixed=True` gives the same batches every epoch (validation).
    """

    def __init__(
        self,
        images: list[np.ndarray],
        sigma: float | None,
        patches: int,
        batch_size: int,
        patch_size: int,
        seed: int = 0,
        fixed: bool = False,
        sigma_range: tuple[float, float] = (0.0, 55.0),
        noise_level_input: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        small = [im.shape for im in images if min(im.shape) < patch_size]
        if small:
            raise InputError(f"Training images must be at least {patch_size}x{patch_size}; got {small[0]}.")
        self.images, self.sigma, self.patches, self.sigma_range = images, sigma, patches, sigma_range
        self.corners = np.array([im.shape for im in images]) - patch_size + 1  # places a patch can start, per image
        self.batch_size, self.patch_size, self.seed, self.fixed = batch_size, patch_size, seed, fixed
        self.noise_level_input = noise_level_input
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(self.patches / self.batch_size)

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, 0 if self.fixed else self.epoch, index])
        count = min(self.batch_size, self.patches - index * self.batch_size)
        size = self.patch_size
        # every random choice drawn at once: per-patch generator calls made batches CPU-bound next to a GPU
        which = rng.integers(len(self.images), size=count)
        tops, lefts = rng.integers(self.corners[which]).T
        turns, flips = rng.integers(4, size=count), rng.integers(2, size=count).astype(bool)
        clean = np.empty((count, size, size), np.float32)
        for i, (k, top, left) in enumerate(zip(which, tops, lefts)):
            clean[i] = self.images[k][top : top + size, left : left + size]
        for turn in (1, 2, 3):
            clean[turns == turn] = np.rot90(clean[turns == turn], k=turn, axes=(1, 2))
        clean[flips] = clean[flips, :, ::-1]
        sigma = np.full(count, self.sigma) if self.sigma is not None else rng.uniform(*self.sigma_range, size=count)
        level = (sigma / 255).astype(np.float32)
        noisy = clean + rng.standard_normal(clean.shape, np.float32) * level[:, None, None]
        if self.noise_level_input:
            return (noisy[..., None], level[:, None]), clean[..., None]
        return noisy[..., None], clean[..., None]

"""Denoising: additive white Gaussian noise removed by DnCNN and by a convolutional autoencoder.

- `dncnn`: Zhang et al., "Beyond a Gaussian Denoiser" (TIP 2017): 17 3x3 conv layers of 64 channels with
  BatchNorm; the network predicts the noise and the model subtracts it (residual learning).
- `dae`: a convolutional denoising autoencoder (two stride-2 stages down, two up) that predicts the clean
  image directly: the lecture notes' model, for comparison.

Training draws random patches from Train400 with flips/rotations and fresh noise: `sigma=25` one level,
`sigma=blind` a level drawn uniformly from [0, 55] per patch (DnCNN-B). Evaluation measures PSNR/SSIM
on BSD68 with fixed-seed noise, beside the noisy input, BM3D and non-local means run in the same command.

Every model takes a noisy grayscale image as float in [0, 1], (N, H, W, 1), any H and W, and returns the
clean estimate (N, H, W, 1) on the same scale (clip it to [0, 1] for display).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers, ops
from omegaconf import DictConfig

from toolkit.config import RunConfig
from toolkit.data.image_folder import read_image
from toolkit.data.paths import REPO_ROOT, require_files
from toolkit.denoising.baselines import BASELINES, FigureCache
from toolkit.denoising.inference import add_noise, denoise, noise_rng
from toolkit.denoising.quality import psnr, ssim
from toolkit.errors import ConfigError, DataNotFoundError, InputError
from toolkit.task import Data, Evaluation, Task

BLIND_RANGE = (0.0, 55.0)  # DnCNN-B's training noise levels (0-255 scale)
BLIND_TEST_SIGMAS = (15.0, 25.0, 50.0)  # the published table's columns
# (folder under the data directory, first file of the official release): the loaders accept any *.png beside it
IMAGE_SETS = {"train400": ("denoising/train400", "test_001.png"), "bsd68": ("denoising/bsd68", "test001.png")}
CACHE_DIR = REPO_ROOT / ".cache" / "denoising"


@dataclass
class DenoisingConfig(RunConfig):
    model: str = "dncnn"
    sigma: str = "25"  # training noise level on the 0-255 scale, or "blind" (uniform in [0, 55] per patch)
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 2e-3  # Adam, cosine-decayed over the run
    patch_size: int = 40  # side of the square training patches (DnCNN: 40 for sigma 25)
    patches_per_epoch: int = 3200  # random noisy patches drawn from Train400 per epoch
    validation_images: int = 20  # held out from the end of Train400; patches with fixed noise
    depth: int = 17  # dncnn: number of conv layers
    filters: int = 64  # channels of the hidden layers
    batch_norm: bool = True  # dncnn: BatchNorm in the hidden layers; false trains much faster in bfloat16 on CPUs
    baselines: str = "bm3d,nlm"  # evaluate: classic denoisers measured beside the model; "none" for none
    test_seed: int = 0  # evaluate: seed of the fixed test noise
    cache: bool = True  # evaluate: keep baseline figures in .cache/denoising/ (BM3D takes seconds per image)


def training_sigma(config: DictConfig) -> float | None:
    """The fixed training noise level, or None for a blind model."""
    if str(config.sigma) == "blind":
        return None
    try:
        sigma = float(config.sigma)
    except ValueError:
        raise ConfigError(f"sigma is a noise level on the 0-255 scale or 'blind', not '{config.sigma}'.") from None
    if not 0 <= sigma <= 255:
        raise ConfigError(f"sigma={sigma} is outside the 0-255 scale.")
    return sigma


# --- Data: grayscale PNG folders and a patch sampler -------------------------------------------------


def read_gray(path: Path) -> np.ndarray:
    """One image file as grayscale float32 (H, W) in [0, 1]."""
    return read_image(path, mode="L").astype(np.float32) / 255


def load_image_set(name: str, config: DictConfig, limit: int | None = None) -> list[tuple[str, np.ndarray]]:
    """(file name, float32 (H, W) in [0, 1]) of every PNG of an image set, sorted by name."""
    folder, first = IMAGE_SETS[name]
    root = require_files("denoising", folder, [first], config.data_dir)
    paths = sorted(root.glob("*.png"))[:limit]
    if not paths:
        raise DataNotFoundError(f"{root} holds no PNG images.")
    return [(p.name, read_gray(p)) for p in paths]


class PatchSampler(keras.utils.PyDataset):
    """Batches of (noisy, clean) patches, float32 (B, P, P, 1), from a list of grayscale images.

    Each patch comes from a random image and place, in one of the 8 flip/rotation orientations, with
    fresh Gaussian noise of level `sigma` (0-255 scale) or, when `sigma` is None, a level drawn per
    patch from BLIND_RANGE. Batches are a function of (seed, epoch, index), so a resumed run sees the
    same data; `fixed=True` gives the same batches every epoch (validation).
    """

    def __init__(self, images, sigma, patches, batch_size, patch_size, seed=0, fixed=False, **kwargs):
        super().__init__(**kwargs)
        small = [im.shape for im in images if min(im.shape) < patch_size]
        if small:
            raise InputError(f"Training images must be at least {patch_size}x{patch_size}; got {small[0]}.")
        self.images, self.sigma, self.patches = images, sigma, patches
        self.corners = np.array([im.shape for im in images]) - patch_size + 1  # places a patch can start, per image
        self.batch_size, self.patch_size, self.seed, self.fixed = batch_size, patch_size, seed, fixed
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(self.patches / self.batch_size)

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
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
        sigma = np.full(count, self.sigma) if self.sigma is not None else rng.uniform(*BLIND_RANGE, size=count)
        noisy = clean + rng.standard_normal(clean.shape, np.float32) * (sigma[:, None, None] / 255).astype(np.float32)
        return noisy[..., None], clean[..., None]


# --- Models ---------------------------------------------------------------------------------------------


def build_dncnn(config: DictConfig) -> keras.Model:
    """Conv+ReLU, (depth - 2) x Conv+BN+ReLU, Conv -> the noise; the output is input minus noise.

    `batch_norm=false` drops BatchNorm (a bias instead): on CPUs the network then trains ~5x faster in bfloat16.
    """
    noisy = keras.Input((None, None, 1), name="noisy")
    x = layers.Conv2D(config.filters, 3, padding="same", activation="relu", kernel_initializer="orthogonal")(noisy)
    for _ in range(config.depth - 2):
        x = layers.Conv2D(
            config.filters, 3, padding="same", use_bias=not config.batch_norm, kernel_initializer="orthogonal"
        )(x)
        if config.batch_norm:
            x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    # zero-initialised, so training starts from the identity (output = input): short CPU runs gain most
    noise = layers.Conv2D(1, 3, padding="same", kernel_initializer="zeros", dtype="float32", name="noise")(x)
    clean = layers.Subtract(dtype="float32", name="clean")([noisy, noise])
    return keras.Model(noisy, clean, name="dncnn")


@keras.saving.register_keras_serializable(package="toolkit")
class ReflectPadToMultiple(layers.Layer):
    """Pad (N, H, W, C) at the bottom and right by reflection so H and W are multiples of `multiple`."""

    def __init__(self, multiple: int, **kwargs):
        super().__init__(**kwargs)
        self.multiple = multiple

    def call(self, x):
        height, width = ops.shape(x)[1], ops.shape(x)[2]
        pad = [[0, 0], [0, (-height) % self.multiple], [0, (-width) % self.multiple], [0, 0]]
        return ops.pad(x, pad, mode="reflect")

    def compute_output_shape(self, input_shape):
        def up(n):
            return None if n is None else n + (-n) % self.multiple

        return (input_shape[0], up(input_shape[1]), up(input_shape[2]), input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


@keras.saving.register_keras_serializable(package="toolkit")
class CropLike(layers.Layer):
    """Crop (N, H', W', C) to the height and width of a reference tensor (N, H, W, *), from the top left."""

    def call(self, x, reference):
        shape = ops.shape(reference)
        return x[:, : shape[1], : shape[2], :]

    def compute_output_shape(self, x_shape, reference_shape):
        return (x_shape[0], reference_shape[1], reference_shape[2], x_shape[3])


def build_dae(config: DictConfig) -> keras.Model:
    """Encoder: 2 stride-2 conv stages (filters/2, filters); decoder: 2 transposed-conv stages; sigmoid out."""
    noisy = keras.Input((None, None, 1), name="noisy")
    x = ReflectPadToMultiple(4)(noisy)
    for filters in (config.filters // 2, config.filters):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    for filters in (config.filters, config.filters // 2):
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = layers.Conv2D(1, 3, padding="same", activation="sigmoid", dtype="float32")(x)
    clean = CropLike(dtype="float32", name="clean")(x, noisy)
    return keras.Model(noisy, clean, name="dae")


@keras.saving.register_keras_serializable(package="toolkit")
def patch_psnr(clean, estimate):
    """PSNR (dB) of a batch of [0, 1] patches, from their mean squared error: a training-log figure."""
    mse = ops.mean(ops.square(ops.cast(clean, "float32") - ops.cast(estimate, "float32")))
    return -10.0 * ops.log10(ops.maximum(mse, 1e-10))


# --- Evaluation -----------------------------------------------------------------------------------------


def measure(images, sigma, seed, denoisers, cache: FigureCache) -> dict[str, list[tuple[float, float]]]:
    """Per-image (PSNR, SSIM) of each denoiser on `images` with fixed noise: {label: [(dB, ssim), ...]}.

    `denoisers` maps a label to (cache key or None, function(noisy, sigma) -> estimate); keyed ones use the cache.
    """
    figures: dict[str, list[tuple[float, float]]] = {label: [] for label in denoisers}
    for name, clean in images:
        noisy = add_noise(clean, sigma, noise_rng(seed, sigma, name))
        for label, (key, run) in denoisers.items():
            cached = cache.get(FigureCache.key(key, name, clean)) if key else None
            if cached is None:
                estimate = run(noisy, sigma)
                cached = (psnr(clean, estimate), ssim(clean, estimate))
                if key:
                    cache.put(FigureCache.key(key, name, clean), cached)
            figures[label].append(cached)
    return figures


def baseline_names(config: DictConfig) -> list[str]:
    names = [] if config.baselines in ("", "none") else [n.strip() for n in config.baselines.split(",")]
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ConfigError(
            f"Unknown baseline {unknown}; baselines= takes a comma list of {', '.join(BASELINES)} or 'none'."
        )
    return names


class Denoising(Task):
    name = "denoising"
    summary = "Gaussian denoising of grayscale images: DnCNN and a denoising autoencoder vs BM3D and NLM on BSD68"
    Config = DenoisingConfig
    models = {"dncnn": build_dncnn, "dae": build_dae}
    metric = "psnr"
    metric_label = "BSD68 PSNR (dB)"
    contract = (
        "input: noisy grayscale image, float in [0, 1], (N, H, W, 1), any H and W; "
        "output: clean estimate (N, H, W, 1) on the same scale (clip to [0, 1]); noise level in the card"
    )

    def artifact(self, config: DictConfig) -> str:
        """`denoising` for DnCNN at sigma 25; e.g. `denoising_blind`, `denoising_dae`, `denoising_sigma50`."""
        sigma = training_sigma(config)
        parts = [self.name] + ([config.model] if config.model != "dncnn" else [])
        parts += [] if sigma == 25 else ["blind" if sigma is None else f"sigma{sigma:g}"]
        return "_".join(parts)

    def data(self, config: DictConfig) -> Data:
        images = [image for _, image in load_image_set("train400", config, config.limit)]
        held_out = min(config.validation_images, len(images) // 5)
        train, val = images[: len(images) - held_out], images[len(images) - held_out :]
        sigma = training_sigma(config)
        size, batch = config.patch_size, config.batch_size
        # workers=2: a thread draws the next batch (numpy releases the GIL) while the backend trains on this one
        train_set = PatchSampler(train, sigma, config.patches_per_epoch, batch, size, config.seed, workers=2)
        val_set = PatchSampler(val, sigma, 8 * batch, batch, size, config.seed + 1, fixed=True) if val else None
        info = {
            "name": "Train400 patches; test BSD68",
            "train_images": len(train),
            "validation_images": len(val),
            "patch_size": size,
            "patches_per_epoch": config.patches_per_epoch,
            "sigma": str(config.sigma),
        }
        return Data(train_set, val_set, info)

    def compile(self, model: keras.Model, config: DictConfig, steps_per_epoch: int) -> None:
        schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.epochs * steps_per_epoch)
        model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse", metrics=[patch_psnr])

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        images = load_image_set("bsd68", config, config.limit)
        sigma = training_sigma(config)
        denoisers = {
            "noisy input": (None, lambda noisy, _: noisy),
            model.name: (None, lambda noisy, _: denoise(model, noisy)),
        }
        for name in baseline_names(config):
            label, run = BASELINES[name]
            denoisers[label] = (name, run)
        metrics: dict[str, float] = {"test_images": len(images)}
        rows, details = [], {"images": [name for name, _ in images], "per_image_psnr": {}}
        for level in BLIND_TEST_SIGMAS if sigma is None else (sigma,):
            path = CACHE_DIR / f"bsd68-sigma{level:g}-seed{config.test_seed}.json" if config.cache else None
            figures = measure(images, level, config.test_seed, denoisers, FigureCache(path))
            for label, pairs in figures.items():
                mean_psnr, mean_ssim = (float(np.mean(column)) for column in zip(*pairs))
                rows.append({"sigma": f"{level:g}", "method": label, "PSNR (dB)": mean_psnr, "SSIM": mean_ssim})
                prefix = "" if label == model.name else f"{label.split()[0].lower()}_"
                metrics[f"{prefix}psnr_{level:g}"], metrics[f"{prefix}ssim_{level:g}"] = mean_psnr, mean_ssim
            details["per_image_psnr"][f"{level:g}"] = [round(p, 3) for p, _ in figures[model.name]]
        headline = 25 if sigma is None else sigma
        metrics["psnr"], metrics["ssim"] = metrics[f"psnr_{headline:g}"], metrics[f"ssim_{headline:g}"]
        return Evaluation(metrics, rows, details)


TASK = Denoising()

"""Inpainting: semantic image inpainting with a DCGAN (Yeh et al., CVPR 2017), against classic methods.

1. Train a DCGAN (Radford et al. 2016) on one kind of image: `dataset=fashion_mnist|mnist|cifar10|flower_photos`
   (the 28x28 sets are padded to 32x32; the flower photos are centre-cropped square and resized to 64x64).
   On CPUs with AVX-512 BF16 `precision=auto` trains in mixed_bfloat16, 1.3-1.4x faster than float32; the
   generator keeps BatchNorm (`norm=batch`): it costs about 5 % of a step there, and generators without it
   lose the game (bench/results/inpainting_speed.md).
2. To fill a hole, search the generator's latent space for the z whose G(z) best matches the known
   pixels (contextual loss) while looking real to the discriminator (prior loss), then Poisson-blend
   G(z) into the hole (toolkit.inpainting).
3. Evaluate on fixed held-out test images and masks: PSNR/SSIM of the whole image and of the hole for
   this method and for OpenCV Telea / Navier-Stokes, scikit-image biharmonic and mean fill.

The shipped model (one file per dataset) holds both networks; see DCGAN for its contract.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from omegaconf import DictConfig, OmegaConf
from PIL import Image

from toolkit.config import RunConfig
from toolkit.data.cifar import load_cifar10
from toolkit.data.idx import load_idx_split
from toolkit.data.image_folder import fit_image, load_image_folder
from toolkit.data.paths import require_files
from toolkit.data.tfds_source import FLOWER_PHOTOS_CLASSES, load_tfds_flowers, reads_tfds, source_info
from toolkit.errors import ConfigError, InputError
from toolkit.images import require_known_channels
from toolkit.inpainting.classic import CLASSIC_METHODS, psnr, ssim
from toolkit.inpainting.dcgan import DCGAN
from toolkit.inpainting.figures import SampleGrid, comparison_figure
from toolkit.inpainting.masks import make_mask
from toolkit.inpainting.search import SearchSettings, inpaint
from toolkit.tasks.base import Data, Evaluation, Task

IMAGE_SHAPES = {
    "fashion_mnist": (32, 32, 1),
    "mnist": (32, 32, 1),
    "cifar10": (32, 32, 3),
    "flower_photos": (64, 64, 3),
}
GREY = ("fashion_mnist", "mnist")
OURS = "GAN + Poisson (ours)"


@dataclass
class InpaintingConfig(RunConfig):
    model: str = "dcgan"
    dataset: str = "fashion_mnist"  # mnist | fashion_mnist | cifar10 | flower_photos: what the DCGAN learns to draw
    epochs: int = 9
    batch_size: int = 64
    learning_rate: float = 2e-4  # Adam with beta1 0.5, as in the DCGAN paper
    latent_dim: int = 100  # length of the latent code z the generator draws from
    filters: int = 32  # discriminator's first layer; the generator mirrors it
    norm: str = "batch"  # generator normalisation: batch (the paper's) | lowest (4x4 only) | pixel | none
    mask: str = "center"  # evaluation mask: center, random, left, right, blocks
    images: int | None = None  # held-out test images in the evaluation; default 256 for cifar10, 64 otherwise
    steps: int | None = None  # Adam steps of the latent search; default 1000 for the grey sets, 400 in colour
    starts: int = 4  # starting z per image
    average: int = 1  # fills of this many best starts are averaged: higher PSNR/SSIM, softer (1 = the best only)
    search_learning_rate: float = 0.03  # Adam rate of the latent search
    prior_weight: float = 0.003  # weight of the perceptual (discriminator) loss against the contextual loss
    figure: str | None = None  # evaluation figure; default <run_dir or runs/inpainting>/<artifact>_<mask>.png


def load_images(config: DictConfig, split: str) -> np.ndarray:
    """uint8 images (N, H, W, C) of `split` ("train" or "test") in the model's size, at most `limit`.

    From the files or, with `source=tfds`, tensorflow-datasets; the flower photos are cut the same way from either.
    """
    name, root, source = config.dataset, config.data_dir, config.source
    if name in GREY:
        images, _ = load_idx_split("inpainting", name.replace("_", "-"), split, root, source)
        images = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    elif name == "cifar10":
        images, _ = load_cifar10("inpainting", split, root, source)
    elif name == "flower_photos":
        classes, files = FLOWER_PHOTOS_CLASSES, "flower_photos/<class>/*.jpg"
        if reads_tfds(source):
            images, _ = load_tfds_flowers("inpainting", classes, (64, 64), files, root)
        else:
            base = require_files("inpainting", "flower_photos", classes, root)
            images, _, _ = load_image_folder(base, image_size=(64, 64), classes=classes)
        held_out = np.arange(len(images)) % 10 == 0  # every tenth photo is a test image
        images = images[held_out] if split == "test" else images[~held_out]
    else:
        raise ConfigError(f"Unknown dataset '{name}'; choose one of {', '.join(IMAGE_SHAPES)}.")
    return images[: config.limit]


def held_out_images(dataset: str, count: int, data_dir: str | None = None) -> np.ndarray:
    """The first `count` held-out test images of `dataset`, float (N, H, W, C) in [0, 1]: the evaluation's images."""
    config = OmegaConf.structured(InpaintingConfig(dataset=dataset, data_dir=data_dir, limit=count))
    return load_images(config, "test").astype(np.float32) / 255


def prepare_image(pixels: np.ndarray, dataset: str) -> np.ndarray:
    """A user's uint8 image (H, W) or (H, W, 3) -> float (h, w, c) in [0, 1], sized and coloured like `dataset`.

    The toolkit's resize policy (`fit_image`: centre crop to the aspect ratio, then bilinear) as in training;
    for the 28x28 sets to 28x28, then padded to 32x32.
    """
    pixels = np.asarray(pixels)
    if pixels.ndim not in (2, 3) or min(pixels.shape[:2]) < 8:
        raise InputError(f"Expected an image of at least 8x8 pixels, got shape {pixels.shape}.")
    require_known_channels(pixels)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    height, width, channels = IMAGE_SHAPES[dataset]
    padding = 2 if dataset in GREY else 0
    image = Image.fromarray(pixels.astype(np.uint8)).convert("L" if channels == 1 else "RGB")
    image = fit_image(image, (height - 2 * padding, width - 2 * padding))
    array = np.asarray(image, np.float32).reshape(height - 2 * padding, width - 2 * padding, channels) / 255
    return np.pad(array, ((padding, padding), (padding, padding), (0, 0)))


def search_settings(config: DictConfig) -> SearchSettings:
    """The evaluation's latent search. In colour 400 steps by default: on Fashion-MNIST the hole's PSNR barely moves
    after 250 steps, and 256 CIFAR-10 images then take at most about 8 minutes on 2 shared CPU cores."""
    steps = config.steps or (1000 if config.dataset in GREY else 400)
    try:
        return SearchSettings(
            steps, config.starts, config.search_learning_rate, config.prior_weight, config.seed, config.average
        )
    except InputError as error:
        raise ConfigError(str(error)) from None


def evaluation_image_count(config: DictConfig) -> int:
    """How many held-out images the evaluation fills: `images`, by default 256 for cifar10 and 64 otherwise."""
    count = config.images or (256 if config.dataset == "cifar10" else 64)
    return min(count, config.limit or count)


def build_dcgan(config: DictConfig) -> keras.Model:
    if config.dataset not in IMAGE_SHAPES:
        raise ConfigError(f"Unknown dataset '{config.dataset}'; choose one of {', '.join(IMAGE_SHAPES)}.")
    shape = IMAGE_SHAPES[config.dataset]
    return DCGAN(config.latent_dim, shape, config.filters, seed=config.seed, norm=config.norm, name="dcgan")


def compare_methods(
    gan: DCGAN,
    images: np.ndarray,
    masks: np.ndarray,
    settings: SearchSettings,
    progress: Callable[[int, int], None] | None = None,
):
    """Fill every image with every method; rows of PSNR/SSIM (whole image and hole) and the filled images.

    Images (N, H, W, C) in [0, 1], grey or colour; SSIM is the mean over the channels.
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


class Inpainting(Task):
    name = "inpainting"
    summary = "Semantic inpainting with a DCGAN, latent search and Poisson blending (Yeh et al. 2017)"
    Config = InpaintingConfig
    models = {"dcgan": build_dcgan}
    metric = "hole_psnr"
    metric_label = "PSNR in the hole (dB)"
    contract = (
        "DCGAN: generator z (N, 100) ~ N(0, I) -> images (N, H, W, C) in [-1, 1]; discriminator: such images -> "
        "logits (N, 1). toolkit.inpainting.search.inpaint(gan, images in [0, 1], masks 1=known) fills holes."
    )
    monitor = ""  # GAN losses do not rank models: keep the last epoch

    def artifact(self, config: DictConfig) -> str:
        return f"{self.name}_{config.dataset}"

    def data(self, config: DictConfig) -> Data:
        images = load_images(config, "train")
        info = {"name": config.dataset, "train": len(images), "image_shape": list(images.shape[1:])}
        info |= source_info(config.source, config.dataset, config.data_dir)
        return Data((images, None), None, info)

    def compile(self, model: keras.Model, config: DictConfig, steps_per_epoch: int) -> None:
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate, beta_1=0.5))

    def fit(
        self, model: keras.Model, data: Data, config: DictConfig, callbacks: list[keras.callbacks.Callback]
    ) -> keras.callbacks.History:
        # The per-epoch sample grids go into the run folder, beside the log (the trainer sets config.run_dir).
        return super().fit(model, data, config, [*callbacks, SampleGrid(config.run_dir)])

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        images = held_out_images(config.dataset, evaluation_image_count(config), config.data_dir)
        masks = np.stack([make_mask(config.mask, *images.shape[1:3], seed=i) for i in range(len(images))])
        settings = search_settings(config)

        def progress(step: int, steps: int) -> None:
            if config.verbose and (step % 100 == 0 or step == steps):
                print(f"Latent search on {len(images)} images: step {step} of {steps}", flush=True)

        rows, pictures = compare_methods(model, images, masks, settings, progress)
        folder = Path(config.run_dir or "runs/inpainting")  # a training run keeps its figure with its log
        figure = Path(config.figure or folder / f"{self.artifact(config)}_{config.mask}.png")
        columns = ["masked", "GAN fill", OURS, "Telea", "biharmonic"]
        comparison_figure({**{c: pictures[c] for c in columns}, "original": images}, figure)
        ours, by_method = rows[0], {row["method"]: row for row in rows}
        metrics = {
            "hole_psnr": ours["PSNR hole"],
            "hole_ssim": ours["SSIM hole"],
            "psnr": ours["PSNR"],
            "ssim": ours["SSIM"],
            "telea_hole_psnr": by_method["Telea"]["PSNR hole"],
            "biharmonic_hole_psnr": by_method["biharmonic"]["PSNR hole"],
            "mask": config.mask,
            "test_images": len(images),
        }
        return Evaluation(metrics, rows, {"figure": str(figure), "search": vars(settings)})


TASK = Inpainting()

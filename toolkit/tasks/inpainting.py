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

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from omegaconf import DictConfig

from toolkit.config import RunConfig
from toolkit.data.tfds_source import source_info
from toolkit.errors import ConfigError, InputError
from toolkit.inpainting.data import IMAGE_SHAPES, held_out_images, load_images, require_dataset
from toolkit.inpainting.dcgan import DCGAN
from toolkit.inpainting.evaluation import OURS, compare_methods, default_image_count, default_search_steps
from toolkit.inpainting.figures import SampleGrid, comparison_figure
from toolkit.inpainting.masks import make_mask
from toolkit.inpainting.search import SearchSettings
from toolkit.tasks.base import Data, Evaluation, Task


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


def search_settings(config: DictConfig) -> SearchSettings:
    """The evaluation's latent search: the settings, with `steps` by default as `default_search_steps` says."""
    steps = config.steps or default_search_steps(config.dataset)
    try:
        return SearchSettings(
            steps, config.starts, config.search_learning_rate, config.prior_weight, config.seed, config.average
        )
    except InputError as error:
        raise ConfigError(str(error)) from None


def evaluation_image_count(config: DictConfig) -> int:
    """How many held-out images the evaluation fills: `images`, by default as `default_image_count` says."""
    count = config.images or default_image_count(config.dataset)
    return min(count, config.limit or count)


def build_dcgan(config: DictConfig) -> keras.Model:
    require_dataset(config.dataset)
    shape = IMAGE_SHAPES[config.dataset]
    return DCGAN(config.latent_dim, shape, config.filters, seed=config.seed, norm=config.norm, name="dcgan")


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
        images = load_images(config.dataset, "train", config.data_dir, config.source, config.limit)
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

"""Inpainting: fill a hole with a fill network (Pathak et al., CVPR 2016) or with a DCGAN's latent search (Yeh et al.,
CVPR 2017), against classic methods.

1. `model=dcgan` (the default): train a DCGAN (Radford et al. 2016) on one kind of image:
   `dataset=fashion_mnist|mnist|cifar10|flower_photos` (the 28x28 sets are padded to 32x32; the flower photos are
   centre-cropped square and resized to 64x64). On CPUs with AVX-512 BF16 `precision=auto` trains in
   mixed_bfloat16, 1.3-1.4x faster than float32; the generator keeps BatchNorm (`norm=batch`): it costs about 5 % of
   a step there, and generators without it lose the game (bench/results/inpainting_speed.md). To fill a hole,
   search the generator's latent space for the z whose G(z) best matches the known pixels (contextual loss) while
   looking real to the discriminator (prior loss), then Poisson-blend G(z) into the hole.
2. `model=fill_net`: train a U-Net from (image with a hole, mask) to the fill, with an L1 (or L2) loss on the hole
   and a context discriminator's adversarial loss, on random masks of every kind the page offers (drawn per batch);
   it fills a hole in one forward pass. Shipped as `inpainting_fill_net_<dataset>`.
3. Evaluate on fixed held-out test images and masks: PSNR/SSIM of the whole image and of the hole for the model
   and for OpenCV Telea / Navier-Stokes, scikit-image biharmonic, the harmonic fill and mean fill; a fill network's
   evaluation adds the shipped DCGAN's latent search with `latent_search=true`. The table goes to the terminal,
   to `json=` and, as Markdown, beside the figure.

The shipped models (one file per dataset and kind) hold both of their networks; see DCGAN and FillNet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from omegaconf import DictConfig

from toolkit import pretrained, saving
from toolkit.config import RunConfig, require_choice
from toolkit.data.tfds_source import source_info
from toolkit.errors import ConfigError, InputError
from toolkit.inpainting.data import (
    IMAGE_SHAPES,
    EpochSetter,
    MaskedBatches,
    held_out_images,
    load_images,
    require_dataset,
)
from toolkit.inpainting.dcgan import DCGAN
from toolkit.inpainting.evaluation import (
    METHOD_TITLES,
    compare_methods,
    default_image_count,
    default_search_steps,
    markdown_table,
)
from toolkit.inpainting.figures import FillGrid, SampleGrid, comparison_figure
from toolkit.inpainting.fill_net import RECONSTRUCTIONS, FillNet
from toolkit.inpainting.masks import make_mask
from toolkit.inpainting.predict import method_of
from toolkit.inpainting.search import SearchSettings
from toolkit.tasks.base import Data, Evaluation, Task


@dataclass
class InpaintingConfig(RunConfig):
    model: str = "dcgan"  # dcgan: latent search (Yeh et al.) | fill_net: one forward pass (Pathak et al.)
    dataset: str = "fashion_mnist"  # mnist | fashion_mnist | cifar10 | flower_photos: the images it learns
    epochs: int = 9
    batch_size: int = 64
    learning_rate: float = 2e-4  # Adam with beta1 0.5, as in the DCGAN paper; fill_net: the peak, cosine decay
    latent_dim: int = 100  # dcgan: length of the latent code z the generator draws from
    filters: int = 32  # discriminator's first layer; the DCGAN's generator mirrors it, the fill net's starts with it
    norm: str = "batch"  # dcgan: generator normalisation: batch (the paper's) | lowest (4x4 only) | pixel | none
    gated: bool = False  # fill_net: gated convolutions (Yu et al. 2019): a learnt soft mask, twice the cost
    adversarial_weight: float = 0.001  # fill_net: adversarial loss against the reconstruction's 1 (Pathak: 0.001)
    known_weight: float = 0.1  # fill_net: reconstruction weight of the known pixels (the fill there is discarded)
    reconstruction: str = "l1"  # fill_net: l1 | l2, the error the hole's reconstruction loss averages
    mask: str = "center"  # evaluation mask: center, random, left, right, blocks, strokes
    images: int | None = None  # held-out test images in the evaluation; default 256 for cifar10, 64 otherwise
    steps: int | None = None  # Adam steps of the latent search; default 1000 for the grey sets, 400 in colour
    starts: int = 4  # starting z per image
    average: int = 1  # fills of this many best starts are averaged: higher PSNR/SSIM, softer (1 = the best only)
    search_learning_rate: float = 0.03  # Adam rate of the latent search
    prior_weight: float = 0.003  # weight of the perceptual (discriminator) loss against the contextual loss
    figure: str | None = None  # evaluation figure; default <run_dir or runs/inpainting>/<artifact>_<mask>.png
    latent_search: bool = False  # fill_net's evaluation: also the DCGAN's latent search (minutes, not seconds)
    gan_path: str | None = None  # that DCGAN; default: the shipped inpainting_<dataset>


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


def build_fill_net(config: DictConfig) -> keras.Model:
    require_dataset(config.dataset)
    require_choice("reconstruction", config.reconstruction, RECONSTRUCTIONS)
    return FillNet(
        IMAGE_SHAPES[config.dataset],
        config.filters,
        config.gated,
        config.adversarial_weight,
        config.known_weight,
        config.reconstruction,
        name="fill_net",
    )


def search_partner(model: keras.Model, config: DictConfig) -> list[keras.Model]:
    """The models the evaluation runs: the one measured and, for a fill network with `latent_search=true`, the
    DCGAN of `gan_path` or the shipped one for the data set."""
    if not config.latent_search or isinstance(model, DCGAN):
        return [model]
    gan = saving.load_model(config.gan_path) if config.gan_path else pretrained.load(f"inpainting_{config.dataset}")
    if not isinstance(gan, DCGAN) or gan.image_shape != model.image_shape:
        shape = "x".join(map(str, model.image_shape))
        source = config.gan_path or f"the shipped inpainting_{config.dataset}"
        raise ConfigError(f"latent_search=true needs a DCGAN of {shape} images; {source} is not one.")
    return [model, gan]


class Inpainting(Task):
    name = "inpainting"
    summary = (
        "Inpainting with a fill network (Pathak et al. 2016) or a DCGAN's latent search and Poisson blending "
        "(Yeh et al. 2017)"
    )
    Config = InpaintingConfig
    models = {"dcgan": build_dcgan, "fill_net": build_fill_net}
    metric = "hole_psnr"
    metric_label = "PSNR in the hole (dB)"
    contract = (
        "DCGAN: generator z (N, 100) ~ N(0, I) -> images (N, H, W, C) in [-1, 1]; discriminator: such images -> "
        "logits (N, 1). FillNet: generator [masked image (N, H, W, C) in [-1, 1], mask (N, H, W, 1), 1=known] -> "
        "image in [-1, 1], used in the hole only; discriminator: [image, mask] -> patch logits. "
        "toolkit.inpainting.inpaint(model, images in [0, 1], masks 1=known) fills holes with either."
    )
    monitor = ""  # GAN losses do not rank models: keep the last epoch

    def artifact(self, config: DictConfig) -> str:
        kind = "" if config.model == "dcgan" else f"_{config.model}"  # the DCGAN files keep their names
        return f"{self.name}{kind}_{config.dataset}"

    def data(self, config: DictConfig) -> Data:
        images = load_images(config.dataset, "train", config.data_dir, config.source, config.limit)
        info = {"name": config.dataset, "train": len(images), "image_shape": list(images.shape[1:])}
        info |= source_info(config.source, config.dataset, config.data_dir)
        if config.model == "fill_net":  # fresh masks per batch (a few ms of a step's hundreds)
            return Data(MaskedBatches(images, config.batch_size, config.seed), None, info)
        return Data((images, None), None, info)

    def compile(self, model: keras.Model, config: DictConfig, steps_per_epoch: int) -> None:
        rate = config.learning_rate
        if isinstance(model, FillNet):  # the reconstruction converges further as the rate decays
            rate = keras.optimizers.schedules.CosineDecay(rate, config.epochs * steps_per_epoch, alpha=0.05)
        model.compile(optimizer=keras.optimizers.Adam(rate, beta_1=0.5))

    def fit(
        self, model: keras.Model, data: Data, config: DictConfig, callbacks: list[keras.callbacks.Callback]
    ) -> keras.callbacks.History:
        # The per-epoch pictures go into the run folder, beside the log (the trainer sets config.run_dir).
        if isinstance(model, FillNet):
            batches = getattr(data.train, "batches", data.train)  # in a multi-process job, the job's batches
            extra = [EpochSetter(batches), FillGrid(config.run_dir, batches.images)]
        else:
            extra = [SampleGrid(config.run_dir)]
        return super().fit(model, data, config, [*callbacks, *extra])

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        images = held_out_images(config.dataset, evaluation_image_count(config), config.data_dir)
        masks = np.stack([make_mask(config.mask, *images.shape[1:3], seed=i) for i in range(len(images))])
        settings = search_settings(config)

        def progress(step: int, steps: int) -> None:
            if config.verbose and (step % 100 == 0 or step == steps):
                print(f"Latent search on {len(images)} images: step {step} of {steps}", flush=True)

        models = search_partner(model, config)
        rows, pictures = compare_methods(models, images, masks, settings, progress)
        folder = Path(config.run_dir or "runs/inpainting")  # a training run keeps its figure with its log
        figure = Path(config.figure or folder / f"{self.artifact(config)}_{config.mask}.png")
        columns = ("masked", "fill_net", "GAN fill", "latent_search", "telea", "biharmonic")
        shown = {METHOD_TITLES.get(c, c): pictures[c] for c in columns if c in pictures}
        comparison_figure({**shown, "original": images}, figure)
        saving.write_atomically(figure.with_suffix(".md"), ".tmp", lambda tmp: tmp.write_text(markdown_table(rows)))
        ours, by_method = rows[0], {row["method"]: row for row in rows}
        metrics = {
            "hole_psnr": ours["PSNR hole"],
            "hole_ssim": ours["SSIM hole"],
            "psnr": ours["PSNR"],
            "ssim": ours["SSIM"],
            "telea_hole_psnr": by_method["telea"]["PSNR hole"],
            "biharmonic_hole_psnr": by_method["biharmonic"]["PSNR hole"],
            "mask": config.mask,
            "test_images": len(images),
        }
        if method_of(model) == "fill_net" and "latent_search" in by_method:
            metrics["latent_search_hole_psnr"] = by_method["latent_search"]["PSNR hole"]
        details = {"figure": str(figure), "table": str(figure.with_suffix(".md"))}
        if "latent_search" in by_method:
            details["search"] = vars(settings)
        return Evaluation(metrics, rows, details)


TASK = Inpainting()

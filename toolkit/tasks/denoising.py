"""Denoising task adapter: settings, training data and the BSD68 evaluation of `toolkit.denoising`'s networks.

- `dncnn` (DnCNN), `ffdnet` (FFDNet, told the noise level) and `dae` (a denoising autoencoder): see
  `toolkit.denoising.models`.

Training draws random patches from Train400 with flips/rotations and fresh noise: `sigma=25` one level,
`sigma=blind` a level drawn uniformly from [0, max_sigma] per patch (DnCNN-B; FFDNet always trains this way,
and is told each patch's level). Evaluation measures PSNR/SSIM on BSD68 with fixed-seed noise, beside the noisy
input, BM3D, non-local means and, for FFDNet, the shipped DnCNN models, run in the same command.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from omegaconf import DictConfig

from toolkit import pretrained
from toolkit.config import RunConfig, require_choice
from toolkit.data.paths import REPO_ROOT
from toolkit.denoising.baselines import BASELINES, FigureCache
from toolkit.denoising.data import PatchSampler, load_image_set
from toolkit.denoising.inference import add_noise, denoise, noise_rng
from toolkit.denoising.models import BUILDERS, patch_psnr, takes_noise_level
from toolkit.denoising.quality import psnr, ssim
from toolkit.errors import ConfigError
from toolkit.tasks.base import Data, Evaluation, Task

BLIND_TEST_SIGMAS = (15.0, 25.0, 50.0)  # the published table's columns
DEFAULT_MAX_SIGMA = {"ffdnet": 75.0}  # FFDNet's training range; DnCNN-B's is 55
# shipped DnCNN models measured beside FFDNet: (artifact, the levels it is measured at; None = all)
SHIPPED_DNCNN = {"dncnn": ("denoising", (25.0,)), "dncnn_blind": ("denoising_blind", None)}
CACHE_DIR = REPO_ROOT / ".cache" / "denoising"


@dataclass
class DenoisingConfig(RunConfig):
    model: str = "dncnn"  # dncnn | ffdnet (told the noise level) | dae
    dataset: str = "train400"  # training images (Train400, DnCNN's); the test set is BSD68
    sigma: str = "auto"  # training level on the 0-255 scale, or "blind" (uniform in [0, max_sigma] per patch);
    # auto: 25 for dncnn and dae, blind for ffdnet (which is always told the level)
    max_sigma: float | None = None  # top of the blind training range; default 55 (DnCNN-B), 75 for ffdnet
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 2e-3  # Adam, cosine-decayed over the run
    clip_norm: float = 0.0  # clip each step's gradient to this global norm (0: no clipping); steadies FFDNet without BN
    patch_size: int = 40  # side of the square training patches (DnCNN: 40 for sigma 25)
    patches_per_epoch: int = 3200  # random noisy patches drawn from Train400 per epoch
    validation_images: int = 20  # held out from the end of Train400; patches with fixed noise
    depth: int = 17  # dncnn: number of conv layers
    filters: int = 64  # channels of the hidden layers
    body: str = "plain"  # ffdnet: plain (the paper's conv stack of `depth` layers) | unet (3 levels of `filters`,
    # 2x and 4x channels; `depth` unused): about the same FLOPs, learns faster per CPU second
    batch_norm: bool = True  # dncnn: BatchNorm in the hidden layers; false trains much faster in bfloat16 on CPUs
    baselines: str = "auto"  # evaluate: bm3d, nlm, dncnn, dncnn_blind (shipped models), a comma list or "none";
    # auto: bm3d,nlm, and for ffdnet also the shipped DnCNN models
    test_seed: int = 0  # evaluate: seed of the fixed test noise
    self_ensemble: bool = False  # evaluate: also the model's mean over 8 rotations/mirrors (8x the time)
    cache: bool = True  # evaluate: keep baseline figures in .cache/denoising/ (BM3D takes seconds per image)


def training_sigma(config: DictConfig) -> float | None:
    """The fixed training noise level, or None for a blind model (and for FFDNet, told each patch's level)."""
    if config.model == "ffdnet":
        if str(config.sigma) not in ("auto", "blind"):
            raise ConfigError("model=ffdnet is told each patch's noise level: it trains on sigma=blind only.")
        return None
    if str(config.sigma) == "auto":
        return 25.0
    if str(config.sigma) == "blind":
        return None
    try:
        sigma = float(config.sigma)
    except ValueError:
        raise ConfigError(f"sigma is a noise level on the 0-255 scale or 'blind', not '{config.sigma}'.") from None
    if not 0 <= sigma <= 255:
        raise ConfigError(f"sigma={sigma} is outside the 0-255 scale.")
    return sigma


def blind_range(config: DictConfig) -> tuple[float, float]:
    top = config.max_sigma if config.max_sigma is not None else DEFAULT_MAX_SIGMA.get(config.model, 55.0)
    if not 0 < top <= 255:
        raise ConfigError(f"max_sigma={top} is outside (0, 255].")
    return (0.0, float(top))


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
    if config.baselines == "auto":
        return ["bm3d", "nlm"] + (list(SHIPPED_DNCNN) if config.model == "ffdnet" else [])
    names = [] if config.baselines in ("", "none") else [n.strip() for n in config.baselines.split(",")]
    known = [*BASELINES, *SHIPPED_DNCNN]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"Unknown baseline {unknown}; baselines= takes a comma list of {', '.join(known)} or 'none'.")
    return names


def shipped_dncnns(names: list[str]) -> dict[str, keras.Model]:
    """The shipped DnCNN models among the baselines `names`, each loaded once: {name: model}."""
    shipped = pretrained.list()
    return {
        n: pretrained.load(SHIPPED_DNCNN[n][0]) for n in names if n in SHIPPED_DNCNN and SHIPPED_DNCNN[n][0] in shipped
    }


class Denoising(Task):
    name = "denoising"
    summary = "Gaussian denoising of grayscale images: DnCNN, FFDNet and a denoising autoencoder vs BM3D on BSD68"
    Config = DenoisingConfig
    models = BUILDERS
    metric = "psnr"
    metric_label = "BSD68 PSNR (dB)"
    contract = (
        "input: noisy grayscale image, float in [0, 1], (N, H, W, 1), any H and W (ffdnet: and the noise level, "
        "(N, 1), sigma / 255); output: clean estimate (N, H, W, 1) on the same scale (clip to [0, 1]); "
        "noise level in the card"
    )

    def artifact(self, config: DictConfig) -> str:
        """`denoising` for DnCNN at sigma 25; e.g. `denoising_blind`, `denoising_dae`, `denoising_ffdnet`."""
        sigma = training_sigma(config)
        parts = [self.name] + ([config.model] if config.model != "dncnn" else [])
        if config.model != "ffdnet":
            parts += [] if sigma == 25 else ["blind" if sigma is None else f"sigma{sigma:g}"]
        return "_".join(parts)

    def build(self, config: DictConfig) -> keras.Model:
        require_choice("body", config.body, ("plain", "unet"))
        if config.body == "unet" and (config.model != "ffdnet" or config.batch_norm):
            raise ConfigError("body=unet is an FFDNet body without BatchNorm: model=ffdnet batch_norm=false.")
        return super().build(config)

    def data(self, config: DictConfig) -> Data:
        require_choice("dataset", config.dataset, ["train400"])
        images = [image for _, image in load_image_set(config.dataset, config.data_dir, config.limit)]
        held_out = min(config.validation_images, len(images) // 5)
        train, val = images[: len(images) - held_out], images[len(images) - held_out :]
        sigma, levels = training_sigma(config), blind_range(config)
        size, batch = config.patch_size, config.batch_size
        told = config.model == "ffdnet"
        # workers=2: a thread draws the next batch (numpy releases the GIL) while the backend trains on this one
        sampling = {"sigma_range": levels, "noise_level_input": told}
        train_set = PatchSampler(
            train, sigma, config.patches_per_epoch, batch, size, config.seed, **sampling, workers=2
        )
        val_set = (
            PatchSampler(val, sigma, 8 * batch, batch, size, config.seed + 1, fixed=True, **sampling) if val else None
        )
        info = {
            "name": "Train400 patches; test BSD68",
            "train_images": len(train),
            "validation_images": len(val),
            "patch_size": size,
            "patches_per_epoch": config.patches_per_epoch,
            "sigma": "blind" if sigma is None else f"{sigma:g}",
        }
        if sigma is None:
            info["sigma_range"] = list(levels)
        return Data(train_set, val_set, info)

    def compile(self, model: keras.Model, config: DictConfig, steps_per_epoch: int) -> None:
        schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.epochs * steps_per_epoch)
        clip = {"global_clipnorm": config.clip_norm} if config.clip_norm > 0 else {}
        model.compile(optimizer=keras.optimizers.Adam(schedule, **clip), loss="mse", metrics=[patch_psnr])

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        images = load_image_set("bsd68", config.data_dir, config.limit)
        # a model told the noise level is measured at each test level; a fixed-level one at its own
        sigma = None if takes_noise_level(model) else training_sigma(config)
        names = baseline_names(config)
        dncnns = shipped_dncnns(names)
        metrics: dict[str, float] = {"test_images": len(images)}
        rows, details = [], {"images": [name for name, _ in images], "per_image_psnr": {}}
        for level in BLIND_TEST_SIGMAS if sigma is None else (sigma,):
            denoisers = {
                "noisy input": (None, lambda noisy, _: noisy),
                model.name: (None, lambda noisy, level: denoise(model, noisy, level)),
            }
            prefixes = {"noisy input": "noisy_", model.name: ""}  # of the metric keys in the card
            if config.self_ensemble:
                label = f"{model.name}, self-ensemble x8"
                denoisers[label] = (None, lambda noisy, level: denoise(model, noisy, level, ensemble=True))
                prefixes[label] = "x8_"
            for name in names:
                if name in BASELINES:
                    label, run = BASELINES[name]
                    denoisers[label], prefixes[label] = (name, run), f"{name}_"
                elif name in dncnns and (SHIPPED_DNCNN[name][1] is None or level in SHIPPED_DNCNN[name][1]):
                    artifact, dncnn = SHIPPED_DNCNN[name][0], dncnns[name]  # (the sigma-25 model at 25 only)
                    label = f"DnCNN (trained/{artifact}.keras)"
                    denoisers[label] = (None, lambda noisy, _, dncnn=dncnn: denoise(dncnn, noisy))
                    prefixes[label] = f"{artifact}_"
            path = CACHE_DIR / f"bsd68-sigma{level:g}-seed{config.test_seed}.json" if config.cache else None
            figures = measure(images, level, config.test_seed, denoisers, FigureCache(path))
            for label, pairs in figures.items():
                mean_psnr, mean_ssim = (float(np.mean(column)) for column in zip(*pairs))
                rows.append({"sigma": f"{level:g}", "method": label, "PSNR (dB)": mean_psnr, "SSIM": mean_ssim})
                prefix = prefixes[label]
                metrics[f"{prefix}psnr_{level:g}"], metrics[f"{prefix}ssim_{level:g}"] = mean_psnr, mean_ssim
            details["per_image_psnr"][f"{level:g}"] = [round(p, 3) for p, _ in figures[model.name]]
        headline = 25 if sigma is None else sigma
        metrics["psnr"], metrics["ssim"] = metrics[f"psnr_{headline:g}"], metrics[f"ssim_{headline:g}"]
        return Evaluation(metrics, rows, details)


TASK = Denoising()

"""FFDNet on these CPUs: training patches/s and achieved GFLOP/s by depth, width, BatchNorm and precision; and the
time to denoise a 512x512 image, FFDNet against the shipped DnCNN-10, measured in one run.

python -m bench.ffdnet            ->  bench/results/ffdnet.json and .md (training)
python -m bench.ffdnet inference  ->  bench/results/ffdnet_inference.json and .md

A training step (forward, backward, Adam) on a batch of 64x64 patches, whose 32x32 half-resolution sub-images
the convolutions see. FLOPs are counted from the convolutions alone (2 per multiply-add), a training step as
3x the forward pass; DnCNN-17 without BatchNorm on 40x40 patches is the reference row (1.2 MFLOP per pixel).
"""

from __future__ import annotations

import sys
import time

import keras
import numpy as np
from omegaconf import OmegaConf

from bench.common import best_time, write_results
from toolkit import pretrained, tasks
from toolkit.denoising.data import PatchSampler
from toolkit.denoising.inference import add_noise, denoise
from toolkit.denoising.models import takes_noise_level

VARIANTS = [  # (model, depth, filters, batch_norm, precision, patch)
    ("ffdnet", 15, 64, True, "float32", 64),
    ("ffdnet", 15, 64, True, "mixed_bfloat16", 64),
    ("ffdnet", 15, 64, False, "float32", 64),
    ("ffdnet", 15, 64, False, "mixed_bfloat16", 64),
    ("ffdnet", 12, 96, False, "mixed_bfloat16", 64),
    ("ffdnet", 20, 64, False, "mixed_bfloat16", 64),
    ("ffdnet", 15, 96, False, "mixed_bfloat16", 64),
    ("dncnn", 17, 64, False, "mixed_bfloat16", 40),
]


def forward_flops_per_pixel(model: str, depth: int, filters: int, body: str = "plain") -> float:
    """Convolution FLOPs per image pixel of one forward pass (2 FLOPs a multiply-add)."""
    c = filters
    if model == "ffdnet" and body == "unet":  # per sub-image pixel: level 1, then 1/4 and 1/16 of the pixels
        level1 = 9 * (5 * c + 3 * c * c + 4 * c) + 2 * c * c  # + the 2x2 transposed conv up from level 2
        level2 = 9 * (c * 2 * c + 4 * 4 * c * c) + 4 * c * 2 * c  # stride-2 conv in, transposed conv from 3
        level3 = 9 * (2 * c * 4 * c + 2 * 16 * c * c)
        macs = (level1 + level2 / 4 + level3 / 16) / 4
    elif model == "ffdnet":  # 4 sub-images + the noise map in, 4 out, at a quarter of the pixels
        macs = 9 * (5 * filters + (depth - 2) * filters * filters + filters * 4) / 4
    else:
        macs = 9 * (filters + (depth - 2) * filters * filters + filters)
    return 2 * macs


def step_seconds(model: keras.Model, batch: tuple, warmup: int, steps: int) -> float:
    """Seconds per training step of a compiled model, after `warmup` steps that trace and compile it."""
    for _ in range(warmup):
        model.train_on_batch(*batch)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(*batch)
    return (time.perf_counter() - start) / steps


def measure(model_name, depth, filters, batch_norm, precision, patch, batch_size=64, steps=4) -> dict:
    task = tasks.get("denoising")
    settings = dict(model=model_name, depth=depth, filters=filters, batch_norm=batch_norm, precision=precision)
    config = OmegaConf.structured(task.Config(**settings, batch_size=batch_size, patch_size=patch))
    model = task.build(config)
    task.compile(model, config, steps_per_epoch=steps)
    images = [np.random.default_rng(0).random((180, 180), dtype=np.float32)]
    told = model_name == "ffdnet"
    batch = PatchSampler(images, None, batch_size, batch_size, patch, noise_level_input=told)[0]
    seconds = step_seconds(model, batch, warmup=1, steps=steps)
    patches_per_second = batch_size / seconds
    flops = 3 * forward_flops_per_pixel(model_name, depth, filters) * patch * patch * patches_per_second
    return {
        "network": f"{model_name}-{depth}, {filters} filters",
        "BatchNorm": "yes" if batch_norm else "no",
        "precision": precision,
        "patch": f"{patch}x{patch}",
        "parameters": model.count_params(),
        "forward MFLOP/pixel": forward_flops_per_pixel(model_name, depth, filters) / 1e6,
        "training patches/s": patches_per_second,
        "training Mpixel/s": patch * patch * patches_per_second / 1e6,
        "achieved GFLOP/s": flops / 1e9,
    }


def inference_rows(side: int = 512) -> list[dict]:
    """Seconds to denoise a side x side image (best of 3), the shipped DnCNN against the shipped FFDNet, alone and as
    the mean over 8 rotations and mirrors."""
    models = {
        "shipped DnCNN-10 (trained/denoising.keras)": pretrained.load("denoising"),
        "shipped FFDNet (trained/denoising_ffdnet.keras)": pretrained.load("denoising_ffdnet"),
    }
    noisy = add_noise(np.random.default_rng(0).random((side, side), dtype=np.float32), 25, np.random.default_rng(1))
    rows = []
    for name, model in models.items():
        for ensemble in (False, True) if takes_noise_level(model) else (False,):
            seconds = best_time(lambda model=model, e=ensemble: denoise(model, noisy, 25.0, e), repeats=3)
            rows.append(
                {
                    "model": f"{name}, self-ensemble x8" if ensemble else name,
                    "parameters": model.count_params(),
                    f"seconds per {side}x{side} image": seconds,
                }
            )
    return rows


def main() -> None:
    if sys.argv[1:] == ["inference"]:
        write_results("ffdnet_inference", inference_rows(), notes="2 CPU cores; other jobs may have run beside it.")
        return
    rows = []
    for variant in VARIANTS:
        rows.append(measure(*variant))
        print(rows[-1], flush=True)
    write_results("ffdnet", rows, notes=__doc__.split("\n\n")[2].replace("\n", " "))


if __name__ == "__main__":
    main()

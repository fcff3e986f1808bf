"""FFDNet on these CPUs: training patches/s and achieved GFLOP/s by depth, width, BatchNorm and precision.

python -m bench.ffdnet  ->  bench/results/ffdnet.json and .md

A training step (forward, backward, Adam) on a batch of 64x64 patches, whose 32x32 half-resolution sub-images
the convolutions see. FLOPs are counted from the convolutions alone (2 per multiply-add), a training step as
3x the forward pass; DnCNN-17 without BatchNorm on 40x40 patches is the reference row (1.2 MFLOP per pixel).
"""

from __future__ import annotations

import time

import numpy as np
from omegaconf import OmegaConf

from bench.common import write_results
from toolkit import tasks
from toolkit.denoising.data import PatchSampler

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


def forward_flops_per_pixel(model: str, depth: int, filters: int) -> float:
    """Convolution FLOPs per image pixel of one forward pass (3x3 kernels, 2 FLOPs a multiply-add)."""
    if model == "ffdnet":  # 4 sub-images + the noise map in, 4 out, at a quarter of the pixels
        macs = 9 * (5 * filters + (depth - 2) * filters * filters + filters * 4) / 4
    else:
        macs = 9 * (filters + (depth - 2) * filters * filters + filters)
    return 2 * macs


def measure(model_name, depth, filters, batch_norm, precision, patch, batch_size=64, steps=4) -> dict:
    task = tasks.get("denoising")
    settings = dict(model=model_name, depth=depth, filters=filters, batch_norm=batch_norm, precision=precision)
    config = OmegaConf.structured(task.Config(**settings, batch_size=batch_size, patch_size=patch))
    model = task.build(config)
    task.compile(model, config, steps_per_epoch=steps)
    images = [np.random.default_rng(0).random((180, 180), dtype=np.float32)]
    told = model_name == "ffdnet"
    batch = PatchSampler(images, None, batch_size, batch_size, patch, noise_level_input=told)[0]
    model.train_on_batch(*batch)  # trace and compile the step
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(*batch)
    seconds = (time.perf_counter() - start) / steps
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


def main() -> None:
    rows = []
    for variant in VARIANTS:
        rows.append(measure(*variant))
        print(rows[-1], flush=True)
    write_results("ffdnet", rows, notes=__doc__.split("\n\n")[1].replace("\n", " "))


if __name__ == "__main__":
    main()

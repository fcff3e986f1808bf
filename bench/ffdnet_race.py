"""Which FFDNet body learns most per CPU second: each candidate trains from scratch for the same wall time.

python -m bench.ffdnet_race [--seconds 480] [name ...]  ->  bench/results/ffdnet_race.json and .md

Every candidate takes the task's own recipe (Adam, cosine decay to zero over its steps, batch 64 of 64x64
patches, sigma 0-75, mixed_bfloat16, seed 0); its step count is the budget over its step time, measured first
on a few steps. The score is PSNR at sigma 25 on the 20 Train400 images the trainer holds out, with fixed noise:
a short race, so it ranks how fast each body learns, not where each one ends.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np
from omegaconf import OmegaConf

from bench.common import write_results
from bench.ffdnet import forward_flops_per_pixel, step_seconds
from toolkit import tasks
from toolkit.denoising.data import PatchSampler, load_image_set
from toolkit.denoising.inference import add_noise, denoise, noise_rng
from toolkit.denoising.quality import psnr

CANDIDATES = {  # name: settings; lr 1e-3 without clipping diverged for the plain stack (README)
    "plain-15": dict(body="plain", depth=15, filters=64, batch_norm=False, learning_rate=5e-4, clip_norm=0.1),
    "plain-15, BatchNorm": dict(body="plain", depth=15, filters=64, batch_norm=True, learning_rate=1e-3),
    "unet, 64 filters": dict(body="unet", filters=64, batch_norm=False, learning_rate=1e-3, clip_norm=0.1),
    "unet, 48 filters": dict(body="unet", filters=48, batch_norm=False, learning_rate=1e-3, clip_norm=0.1),
}
HELD_OUT = 20  # the trainer's validation_images default


def race(name: str, seconds: float, train: list[np.ndarray], held_out: list[tuple[str, np.ndarray]]) -> dict:
    task = tasks.get("denoising")
    settings = {"model": "ffdnet", "precision": "mixed_bfloat16", "batch_size": 64, "patch_size": 64, "epochs": 1}
    config = OmegaConf.structured(task.Config(**settings, **CANDIDATES[name]))
    sampling = dict(sigma_range=(0.0, 75.0), noise_level_input=True)
    timed = task.build(config)
    task.compile(timed, config, steps_per_epoch=100)
    sample = PatchSampler(train, None, 64, 64, 64, seed=99, **sampling)[0]
    steps = int(seconds / step_seconds(timed, sample, warmup=2, steps=6))
    keras.utils.set_random_seed(0)
    model = task.build(config)
    task.compile(model, config, steps_per_epoch=steps)
    data = PatchSampler(train, None, 64 * steps, 64, 64, seed=0, workers=2, **sampling)
    start = time.perf_counter()
    history = model.fit(data, epochs=1, verbose=0)
    trained = time.perf_counter() - start
    scores = [psnr(clean, denoise(model, add_noise(clean, 25, noise_rng(7, 25, n)), 25.0)) for n, clean in held_out]
    flops = forward_flops_per_pixel("ffdnet", config.depth, config.filters, config.body)
    return {
        "body": name,
        "parameters": model.count_params(),
        "forward MFLOP/pixel": flops / 1e6,
        "training patches/s": 64 * steps / trained,
        "steps": steps,
        "training seconds": trained,
        "last training loss": history.history["loss"][-1],
        "held-out PSNR, sigma 25 (dB)": float(np.mean(scores)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=list(CANDIDATES), help=f"of {list(CANDIDATES)}")
    parser.add_argument("--seconds", type=float, default=480.0, help="training wall time of each candidate")
    args = parser.parse_args()
    unknown = set(args.names) - set(CANDIDATES)
    if unknown:
        parser.error(f"unknown candidates {sorted(unknown)}; choose from {list(CANDIDATES)}")
    images = load_image_set("train400")
    train, held_out = [image for _, image in images[:-HELD_OUT]], images[-HELD_OUT:]
    rows = []
    for name in args.names:
        rows.append(race(name, args.seconds, train, held_out))
        print(rows[-1], flush=True)
    notes = f"{args.seconds:g} s of training each, one after another on 2 CPU cores. " + __doc__.split("\n\n")[2]
    write_results("ffdnet_race", rows, notes=notes.replace("\n", " "))


if __name__ == "__main__":
    main()

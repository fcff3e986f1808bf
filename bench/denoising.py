"""Denoising: inference time per megapixel (DnCNN vs BM3D vs NLM) and training throughput on this machine.

python -m bench.denoising  ->  bench/results/denoising.json and .md

The image is BSD68's test001 (481x321, 0.154 megapixels) with sigma=25 noise. DnCNN rows: the shipped
model (if trained/denoising.keras exists) and the paper's 17-layer network in float32 and bfloat16
(untrained weights: the cost does not depend on them). Training: patches of 40x40 per second.
"""

import time

import numpy as np
from omegaconf import OmegaConf

from bench.common import best_time, write_results
from toolkit import pretrained, tasks
from toolkit.denoising.baselines import bm3d_denoise, nlm_denoise
from toolkit.denoising.data import PatchSampler, load_image_set
from toolkit.denoising.inference import add_noise, denoise, noise_rng

SIGMA = 25.0
PAPER = {"depth": 17, "filters": 64}


def once(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def paper_dncnn(precision: str):
    task = tasks.get("denoising")
    return task.build(OmegaConf.structured(task.Config(**PAPER, precision=precision)))


def inference_rows(noisy: np.ndarray) -> list[dict]:
    megapixels = noisy.size / 1e6
    denoisers = {
        "BM3D (bm3d package)": (lambda: bm3d_denoise(noisy, SIGMA), 0),  # seconds per call: time it once
        "NLM (scikit-image, fast mode)": (lambda: nlm_denoise(noisy, SIGMA), 3),
    }
    if "denoising" in pretrained.list():
        shipped = pretrained.load("denoising")
        denoisers["shipped DnCNN (trained/denoising.keras)"] = (lambda: denoise(shipped, noisy), 3)
    for precision in ("float32", "mixed_bfloat16"):
        model = paper_dncnn(precision)
        denoisers[f"DnCNN-17, {precision}"] = (lambda model=model: denoise(model, noisy), 3)
    rows = []
    for name, (run, repeats) in denoisers.items():
        seconds = best_time(run, repeats=repeats) if repeats else once(run)
        rows.append({"what": name, "measure": "inference s per megapixel", "value": seconds / megapixels})
    return rows


def training_rows(batch_size: int = 32, steps: int = 3) -> list[dict]:
    rows = []
    shipped = pretrained.card("denoising")["config"] if "denoising" in pretrained.list() else None
    variants = {
        "DnCNN-17, mixed_bfloat16": {**PAPER, "precision": "mixed_bfloat16"},
        "DnCNN-17, float32": {**PAPER, "precision": "float32"},
    }
    if shipped:
        keys = ("depth", "filters", "precision")
        variants[f"shipped recipe (depth {shipped['depth']})"] = {k: shipped[k] for k in keys}
    task = tasks.get("denoising")
    for name, settings in variants.items():
        config = OmegaConf.structured(task.Config(**settings, batch_size=batch_size))
        model = task.build(config)
        task.compile(model, config, steps_per_epoch=steps)
        images = [np.random.default_rng(0).random((180, 180), dtype=np.float32)]
        batch = PatchSampler(images, SIGMA, batch_size, batch_size, config.patch_size)[0]
        model.train_on_batch(*batch)  # compile the step
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(*batch)
        seconds = (time.perf_counter() - start) / steps
        rows.append(
            {"what": name, "measure": f"training 40x40 patches/s (batch {batch_size})", "value": batch_size / seconds}
        )
    return rows


if __name__ == "__main__":
    name, clean = load_image_set("bsd68", limit=1)[0]
    noisy = add_noise(clean, SIGMA, noise_rng(0, SIGMA, name))
    rows = inference_rows(noisy) + training_rows()
    notes = (
        "2 shared CPU cores: other jobs ran beside this one, so figures are lower bounds on speed. "
        f"Image {name} {clean.shape[1]}x{clean.shape[0]}, sigma {SIGMA:g}."
    )
    print(write_results("denoising", rows, notes).read_text())

"""Inpainting: time per inpainted image against batch size, and DCGAN training throughput, on this machine.

python -m bench.inpainting [dataset]  ->  bench/results/inpainting.json and .md

The latent search is timed over `STEPS` steps and scaled to the default 1000 steps x 4 starts; the
weights do not change the time, so an untrained DCGAN of the shipped size is measured.
"""

import sys

import numpy as np
from omegaconf import OmegaConf

from bench.common import best_time, write_results
from toolkit.inpainting.masks import make_mask
from toolkit.inpainting.search import SearchSettings, inpaint
from toolkit.tasks.inpainting import Inpainting, InpaintingConfig

STEPS = 50
BATCH_SIZES = (1, 4, 16, 64)


def main(dataset: str = "fashion_mnist") -> None:
    task = Inpainting()
    config = OmegaConf.structured(InpaintingConfig(dataset=dataset))
    gan = task.build(config)
    task.compile(gan, config, steps_per_epoch=1)
    shape = gan.image_shape
    rng = np.random.default_rng(0)
    rows = []
    for batch in BATCH_SIZES:
        images = rng.random((batch, *shape)).astype(np.float32)
        masks = np.stack([make_mask("center", *shape[:2])] * batch)
        settings = SearchSettings(steps=STEPS, starts=config.starts)
        seconds = best_time(lambda: inpaint(gan, images, masks, settings), repeats=2)  # noqa: B023
        per_image = seconds / batch * config.steps / STEPS
        rows.append(
            {
                "measure": f"inpaint, batch {batch}",
                "images": batch,
                "seconds per image": per_image,
                "images per second": 1 / per_image,
            }
        )
    pixels = rng.integers(0, 256, (64 * 20, *shape)).astype("uint8")
    seconds = best_time(lambda: gan.fit(pixels, batch_size=64, epochs=1, verbose=0), repeats=2)
    rows.append(
        {
            "measure": "DCGAN training, batch 64",
            "images": len(pixels),
            "seconds per image": seconds / len(pixels),
            "images per second": len(pixels) / seconds,
        }
    )
    notes = (
        f"{dataset}, DCGAN filters={config.filters}; inpainting times for {config.steps} Adam steps on z x "
        f"{config.starts} starts per image (measured over {STEPS} steps) plus Poisson blending."
    )
    print(write_results("inpainting", rows, notes))


if __name__ == "__main__":
    main(*sys.argv[1:])

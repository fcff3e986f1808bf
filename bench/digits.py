"""Digits: training throughput and inference latency of each variant on this machine.

python -m bench.digits  ->  bench/results/digits.json and .md
"""

import numpy as np
from omegaconf import OmegaConf

from bench.common import EpochTimer, best_time, write_results
from toolkit import tasks

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (2048, 28, 28, 1)).astype("float32")
LABELS = RNG.integers(0, 10, 2048)


def measure(variant: str) -> dict:
    task = tasks.get("digits")
    config = OmegaConf.structured(task.Config(model=variant, epochs=1))
    model = task.build(config)
    task.compile(model, config, steps_per_epoch=16)
    timer = EpochTimer()
    model.fit(IMAGES, LABELS, batch_size=128, epochs=3, verbose=0, callbacks=[timer])
    train = min(timer.seconds)
    one = best_time(lambda: model(IMAGES[:1], training=False), repeats=20)
    batch = best_time(lambda: model.predict_on_batch(IMAGES[:256]), repeats=5)
    return {
        "variant": variant,
        "parameters": model.count_params(),
        "train samples/s (batch 128)": len(IMAGES) / train,
        "latency 1 image (ms)": 1000 * one,
        "latency batch 256 (ms)": 1000 * batch,
        "inference images/s": 256 / batch,
    }


if __name__ == "__main__":
    rows = [measure(variant) for variant in tasks.get("digits").models]
    print(write_results("digits", rows).read_text())

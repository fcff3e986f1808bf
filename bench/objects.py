"""Objects: parameters, FLOPs, training throughput and inference speed of each network on this machine.

python -m bench.objects  ->  bench/results/objects.json and .md

FLOPs are counted from the layers (2 x multiply-adds of the convolutions and dense layers, one image at
inference); BatchNorm, activations and pooling add about 1% and are left out.
"""

import keras
import numpy as np
from keras import layers
from omegaconf import OmegaConf

from bench.common import best_time, write_results
from toolkit import tasks
from toolkit.objects.data import DATASETS

NETWORKS = [  # (dataset, model, settings)
    ("fashion_mnist", "vgg_small", {}),
    ("fashion_mnist", "resnet", {"depth": 20}),
    ("cifar10", "vgg_small", {}),
    ("cifar10", "resnet", {"depth": 20}),
    ("cifar10", "resnet", {"depth": 56}),
]
TRAIN_IMAGES = 1024


def flops(model: keras.Model) -> int:
    """Forward-pass FLOPs of one image: 2 x multiply-adds of Conv2D and Dense layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            _, height, width, filters = layer.output.shape
            total += height * width * filters * int(np.prod(layer.kernel.shape[:-1]))
        elif isinstance(layer, layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return 2 * total


def measure(dataset: str, variant: str, settings: dict) -> dict:
    task = tasks.get("objects")
    config = OmegaConf.structured(task.Config(dataset=dataset, model=variant, epochs=1, **settings))
    model = task.build(config)
    task.compile(model, config, steps_per_epoch=TRAIN_IMAGES // config.batch_size)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (TRAIN_IMAGES, *DATASETS[dataset].shape)).astype("float32")
    labels = rng.integers(0, 10, TRAIN_IMAGES)
    train = best_time(lambda: model.fit(images, labels, batch_size=config.batch_size, epochs=1, verbose=0), repeats=2)
    batch = best_time(lambda: model.predict_on_batch(images[:256]), repeats=3)
    one = best_time(lambda: model(images[:1], training=False), repeats=10)
    return {
        "data set": DATASETS[dataset].name,
        "model": model.name,
        "parameters": model.count_params(),
        "MFLOPs / image": flops(model) / 1e6,
        f"train samples/s (batch {config.batch_size})": TRAIN_IMAGES / train,
        "inference images/s (batch 256)": 256 / batch,
        "latency 1 image (ms)": 1000 * one,
    }


if __name__ == "__main__":
    rows = [measure(*network) for network in NETWORKS]
    notes = f"2 CPU cores, no other job running; each timed fit is {TRAIN_IMAGES} images, fixed overhead included."
    print(write_results("objects", rows, notes).read_text())

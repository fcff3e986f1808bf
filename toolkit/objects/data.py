"""Objects data: Fashion-MNIST and CIFAR-10 splits as arrays, and what each data set's images are."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toolkit.data.cifar import CIFAR10_CLASSES, load_cifar10
from toolkit.data.idx import load_idx_split
from toolkit.errors import ConfigError


@dataclass(frozen=True)
class DataSet:
    name: str
    shape: tuple[int, int, int]  # (H, W, C) of one raw image
    classes: list[str]
    mean: list[float]  # per-channel statistics of the training images, 0-255
    std: list[float]


DATASETS = {
    "fashion_mnist": DataSet(
        "Fashion-MNIST",
        (28, 28, 1),
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
        [72.94],
        [90.02],
    ),
    "cifar10": DataSet("CIFAR-10", (32, 32, 3), CIFAR10_CLASSES, [125.31, 122.95, 113.87], [62.99, 62.09, 66.70]),
}


def get_dataset(dataset: str) -> DataSet:
    """The description of `dataset` ("fashion_mnist" or "cifar10"); a clear error naming them otherwise."""
    if dataset not in DATASETS:
        raise ConfigError(f"Unknown dataset '{dataset}'. Data sets: {', '.join(DATASETS)}.")
    return DATASETS[dataset]


def load_object_split(
    dataset: str, split: str, data_dir: str | None = None, limit: int | None = None, source: str = "files"
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, H, W, C) and labels int32 (N,) of the train or test split of `dataset`, from `source`.

    `limit` keeps a random subset of N examples (the same one every time): the JPEG copy of CIFAR-10 is sorted by
    class. `source` is "files" (the data directory) or "tfds" (tensorflow-datasets).
    """
    get_dataset(dataset)
    if dataset == "cifar10":
        images, labels = load_cifar10("objects", split, data_dir, source)
    else:
        images, labels = load_idx_split("objects", "fashion-mnist", split, data_dir, source)
    if limit:
        order = np.random.default_rng(0).permutation(len(labels))[:limit]
        images, labels = images[order], labels[order]
    return images, labels

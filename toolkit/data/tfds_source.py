"""Official data sets by name through tensorflow-datasets (`source=tfds`), for users who are online.

The file readers (idx, cifar, the flower folders) call this module when a run sets `source=tfds`: it reads the
official splits with `tfds.load` into the same arrays the files give (uint8 images (N, H, W, C), int32 labels),
so training, evaluation and the cards do not depend on where the data came from. tfds keeps its prepared copy
in `<data dir>/tfds`: it downloads a set the first time and reads that copy, offline, afterwards.
tensorflow_datasets is imported inside the functions, so runs on the files never pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from toolkit.data.image_folder import fit_image
from toolkit.data.paths import data_dir
from toolkit.errors import ConfigError, DataNotFoundError

SOURCES = ("files", "tfds")
# The toolkit's data set names -> the same sets in tensorflow-datasets.
TFDS_NAMES = {"mnist": "mnist", "fashion_mnist": "fashion_mnist", "cifar10": "cifar10", "flower_photos": "tf_flowers"}
# The class folders of flower_photos, which are tf_flowers' label names.
FLOWER_PHOTOS_CLASSES = ("daisy", "dandelion", "roses", "sunflowers", "tulips")


def reads_tfds(source: str) -> bool:
    """True for `source=tfds`, False for `source=files`; any other value stops with the two choices."""
    if source not in SOURCES:
        raise ConfigError(f"Unknown source={source}: choose files (the data directory) or tfds (tensorflow-datasets).")
    return source == "tfds"


def tfds_dir(root: str | os.PathLike | None = None) -> Path:
    """Where tfds keeps its downloads and prepared sets: `<data dir>/tfds`."""
    return data_dir(root) / "tfds"


def load_tfds_split(
    task: str, dataset: str, split: str, files: str, root: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, H, W, C) and labels int32 (N,) of the official `split` of a set of same-size images.

    `files` names the files that `source=files` reads instead, for the message when tfds cannot get the set.
    """
    # Batches then one concatenation: fast, and unlike batch_size=-1 it also runs on tfds.testing.mock_data.
    batches, _ = _load(task, dataset, split, files, root, batch_size=1024)
    images, labels = zip(*batches)
    return np.concatenate(images).astype(np.uint8), np.concatenate(labels).astype(np.int32)


def load_tfds_flowers(
    task: str, classes: Sequence[str], image_size: tuple[int, int], files: str, root: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All tf_flowers photos, resized to `image_size` (height, width): uint8 (N, H, W, 3), int32 labels in `classes`.

    tf_flowers has one split ('train'): the photos come grouped by class, as the class folders list them, so
    the callers cut their own splits from it exactly as they cut the folder.
    """
    examples, info = _load(task, "flower_photos", "train", files, root)
    label_map = [list(classes).index(name) for name in info.features["label"].names]
    images, labels = [], []
    for image, label in examples:
        images.append(np.asarray(fit_image(Image.fromarray(image), image_size), dtype=np.uint8))
        labels.append(label_map[label])
    labels = np.asarray(labels, dtype=np.int32)
    by_class = np.argsort(labels, kind="stable")
    return np.stack(images)[by_class], labels[by_class]


def source_info(source: str, dataset: str, root: str | os.PathLike | None = None) -> dict[str, str]:
    """For a data card: {"source": "tfds mnist 3.0.1"} when `dataset` comes from tfds; {} from the files (default)."""
    if not reads_tfds(source):
        return {}
    import tensorflow_datasets as tfds

    name = TFDS_NAMES[dataset]
    return {"source": f"tfds {name} {tfds.builder(name, data_dir=str(tfds_dir(root))).version}"}


def _load(
    task: str, dataset: str, split: str, files: str, root: str | os.PathLike | None, batch_size: int | None = None
) -> tuple[Any, Any]:
    """(image, label) pairs of `split` as numpy, and the set's tfds info; any failure is one DataNotFoundError."""
    import tensorflow_datasets as tfds

    folder = tfds_dir(root)
    try:
        # download=True costs nothing once the set is prepared: tfds then reads `folder` without going online.
        examples, info = tfds.load(
            TFDS_NAMES[dataset],
            split=split,
            as_supervised=True,
            data_dir=str(folder),
            download=True,
            batch_size=batch_size,
            with_info=True,
        )
    except Exception as err:  # no network, a failed checksum, a half-written folder: the same remedy for each
        cause = (str(err).strip().splitlines() or [""])[0]
        raise DataNotFoundError(
            f"Task '{task}' could not get {TFDS_NAMES[dataset]} from tensorflow-datasets (source=tfds): "
            f"{type(err).__name__}: {cause}\n"
            f"tfds reads a prepared copy in {folder}, or downloads one there, which needs a network connection.\n"
            f"Offline, use the files instead: source=files reads {files} in {data_dir(root)} "
            f"(README, section 'Data')."
        ) from err
    return tfds.as_numpy(examples), info

"""Transfer data: a folder of `<class>/*.jpg` photos (or tf_flowers from tfds) cut into fixed stratified splits.

Photos come back as uint8 (N, S, S, 3), every one fitted to S x S by the toolkit's one resize policy
(`toolkit.data.image_folder.fit_image`: the centre square, resized bilinearly), with int32 labels in the order of
the sorted class folders. The 70/15/15 split is cut per class with a fixed seed, so every run and every evaluation
sees the same test photos.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from toolkit.data.image_folder import list_image_folder, load_image_folder
from toolkit.data.paths import require_files
from toolkit.data.tfds_source import FLOWER_PHOTOS_CLASSES, load_tfds_flowers, reads_tfds
from toolkit.errors import ConfigError, InputError

FLOWERS = list(FLOWER_PHOTOS_CLASSES)
DEFAULT_DATASET = "flower_photos"
SPLIT = (0.70, 0.15, 0.15)  # train / validation / test, per class
SPLIT_NAMES = ("train", "val", "test")
SPLIT_SEED = 0  # fixed apart from the run's `seed`, so every run and every evaluation sees the same test photos
MIN_PHOTOS_PER_CLASS = 6  # with fewer, rounding leaves a class out of the validation or the test split


def photo_folder(dataset: str, data_dir: str | os.PathLike | None = None) -> Path:
    """`<data dir>/<dataset>` (an absolute `dataset` is used as it is); flower_photos must hold its five classes."""
    expected = FLOWERS if dataset == DEFAULT_DATASET else []
    return require_files("transfer", dataset, expected, data_dir)


def reads_tf_flowers(source: str, dataset: str) -> bool:
    """Whether the photos come from tensorflow-datasets (`source=tfds`), which holds the flowers only."""
    if reads_tfds(source) and dataset != DEFAULT_DATASET:
        raise ConfigError(f"source=tfds has tf_flowers only: dataset={dataset} needs source=files.")
    return reads_tfds(source)


def class_names(dataset: str, source: str = "files", data_dir: str | os.PathLike | None = None) -> list[str]:
    """The class names, label order: the sorted class folders (tf_flowers' are the flower folders' names)."""
    if reads_tf_flowers(source, dataset):
        return list(FLOWERS)
    return list_image_folder(photo_folder(dataset, data_dir))[2]


def stratified_split(labels: np.ndarray, fractions=SPLIT, seed: int = SPLIT_SEED) -> list[np.ndarray]:
    """Indices of train / validation / test: each class cut 70/15/15 after a seeded shuffle, then mixed."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cuts = np.round(np.cumsum(fractions)[:-1] * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, cuts)):
            part.extend(chunk)
    return [rng.permutation(np.asarray(part, dtype=int)) for part in parts]


def load_photo_splits(
    dataset: str = DEFAULT_DATASET,
    image_size: int = 224,
    source: str = "files",
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train", "val", "test"}: uint8 photos (N, S, S, 3), S = `image_size`, and int32 labels, each cut to `limit`."""
    size = (image_size, image_size)
    if reads_tf_flowers(source, dataset):
        images, labels = load_tfds_flowers("transfer", FLOWERS, size, "flower_photos/<class>/*.jpg", data_dir)
    else:  # a user's folder may be small; tf_flowers is not
        images, labels, classes = load_image_folder(photo_folder(dataset, data_dir), image_size=size)
        require_photos_per_class(labels, classes, dataset)
    splits = dict(zip(SPLIT_NAMES, stratified_split(labels)))
    return {name: (images[idx[:limit]], labels[idx[:limit]]) for name, idx in splits.items()}


def require_photos_per_class(labels: np.ndarray, classes: list[str], dataset: str) -> None:
    """Stop before training when a class is too small for the 70/15/15 split to hold any of it out (under 6)."""
    counts = np.bincount(labels, minlength=len(classes))
    small = {name: int(n) for name, n in zip(classes, counts) if n < MIN_PHOTOS_PER_CLASS}
    if small:
        raise InputError(
            f"{dataset}: each class needs at least {MIN_PHOTOS_PER_CLASS} photos, so that 15 % of it can be held out "
            f"for validation and 15 % for the test; too few in {small}. Add photos or leave those classes out."
        )


def split_photo_paths(
    split: str = "test", dataset: str = DEFAULT_DATASET, data_dir: str | os.PathLike | None = None
) -> list[tuple[str, str]]:
    """(file, class name) of one split ("train", "val", "test") of a photo folder, without decoding any photo."""
    paths, labels, classes = list_image_folder(photo_folder(dataset, data_dir))
    return [(str(paths[i]), classes[labels[i]]) for i in stratified_split(labels)[SPLIT_NAMES.index(split)]]


def first_per_class(labels: np.ndarray, count: int | None) -> np.ndarray:
    """Indices of the first `count` examples of each class (all with None): a label budget."""
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:count] for c in np.unique(labels)]))

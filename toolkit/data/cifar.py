"""CIFAR-10 in either of its layouts: the official python-pickle batches or class folders of JPEGs.

The official release (`cifar-10-batches-py/`: `data_batch_1..5`, `test_batch`, `batches.meta`) is read
when it is in the data directory; otherwise the JPEG copy (`cifar-10-jpeg/{train,test}/<class>/*.jpg`).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from toolkit.data.image_folder import load_image_folder
from toolkit.data.paths import data_dir, require_files
from toolkit.data.tfds_source import load_tfds_split, reads_tfds
from toolkit.errors import DataNotFoundError, InputError

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PICKLE_FOLDER = "cifar-10-batches-py"
JPEG_FOLDER = "cifar-10-jpeg"
PICKLE_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only, so a crafted batch file cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes in protocol 2 (batches re-pickled by users)
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def read_cifar_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One official batch file -> images uint8 (N, 32, 32, 3) and labels int32 (N,).

    Each row of the batch's `data` holds 3072 bytes: the red, green and blue 32x32 planes, row-major.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int32)
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as err:
        raise InputError(f"{path} is not a CIFAR-10 python batch ({type(err).__name__}: {err}).") from err
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(data) != len(labels):
        raise InputError(f"{path}: expected data (N, 3072) and N labels, got {data.shape} and {len(labels)}.")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise InputError(f"{path}: labels must be 0-9, found {labels.min()}..{labels.max()}.")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def cifar10_version(root: str | os.PathLike | None = None) -> str:
    """Which copy `load_cifar10` reads from the data directory, in words for a model card."""
    if (data_dir(root) / PICKLE_FOLDER).is_dir():
        return f"official python batches ({PICKLE_FOLDER}/, original pixels)"
    return f"JPEG quality-75 copy ({JPEG_FOLDER}/): pixels differ from the original by ~5.8/255 on average"


def load_cifar10(
    task: str, split: str, root: str | os.PathLike | None = None, source: str = "files"
) -> tuple[np.ndarray, np.ndarray]:
    """The train (50,000) or test (10,000) split: uint8 (N, 32, 32, 3), int32 labels in the official order.

    `source="tfds"` reads the official split through tensorflow-datasets instead of the files.
    """
    if reads_tfds(source):
        files = f"{PICKLE_FOLDER}/ (data_batch_1..5, test_batch) or {JPEG_FOLDER}/{{train,test}}/<class>/*.jpg"
        return load_tfds_split(task, "cifar10", split, files, root)
    if (data_dir(root) / PICKLE_FOLDER).is_dir():
        base = require_files(task, PICKLE_FOLDER, PICKLE_BATCHES["train"] + PICKLE_BATCHES["test"], root)
        batches = [read_cifar_batch(base / name) for name in PICKLE_BATCHES[split]]
        return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])
    try:
        base = require_files(task, JPEG_FOLDER, ["train", "test"], root)
    except DataNotFoundError as err:
        raise DataNotFoundError(f"{err}\nThe official python version ({PICKLE_FOLDER}/) is read as well.") from None
    images, labels, _ = load_image_folder(base / split, image_size=(32, 32), classes=CIFAR10_CLASSES)
    order = np.random.default_rng(0).permutation(len(labels))  # mixed classes, as in the official batches
    return images[order], labels[order]

"""Reader for the IDX format of MNIST and Fashion-MNIST (gzipped or raw)."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from toolkit.data.paths import require_files
from toolkit.data.tfds_source import load_tfds_split, reads_tfds
from toolkit.errors import InputError

# Third byte of the magic number -> element type (LeCun's IDX specification).
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def load_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file into an array of its declared shape and type."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise InputError(f"Cannot read IDX file {path}: {err}") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise InputError(f"{path} is not an IDX file (bad magic number).")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise InputError(f"{path} is truncated or corrupt: {len(raw)} bytes, expected {expected}.")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def load_idx_split(
    task: str, folder: str, split: str, root: str | os.PathLike | None = None, source: str = "files"
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28, 1) uint8 and labels (N,) int32 of an MNIST-layout data set.

    `source="tfds"` reads the same split through tensorflow-datasets (`mnist`, `fashion-mnist` folders only).
    """
    files = [name for pair in IDX_FILES.values() for name in pair]
    if reads_tfds(source):
        return load_tfds_split(task, folder.replace("-", "_"), split, f"{folder}/ ({', '.join(files)})", root)
    base = require_files(task, folder, files, root)
    images_file, labels_file = IDX_FILES[split]
    images, labels = load_idx(base / images_file), load_idx(base / labels_file)
    if len(images) != len(labels):
        raise InputError(f"{base}: {len(images)} images but {len(labels)} labels in the {split} split.")
    return images[..., None], labels.astype("int32")

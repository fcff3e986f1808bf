"""Digits data: the MNIST train and test splits as arrays."""

from __future__ import annotations

import numpy as np

from toolkit.config import require_choice
from toolkit.data.idx import load_idx_split

DATASETS = {"mnist": "MNIST"}  # setting value -> the data set's name in cards and pages


def load_digit_split(
    dataset: str, split: str, data_dir: str | None = None, limit: int | None = None, source: str = "files"
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, 28, 28, 1) and labels int32 (N,) of the train or test split of `dataset` ("mnist").

    `limit` keeps the first N examples (MNIST's files are not sorted by class); `source` is "files" (the IDX files
    under the data directory) or "tfds" (tensorflow-datasets).
    """
    require_choice("dataset", dataset, list(DATASETS))
    images, labels = load_idx_split("digits", dataset, split, data_dir, source)
    return images[:limit], labels[:limit]

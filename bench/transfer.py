"""Transfer: how much detail the flowers photos hold, and what frozen ImageNet features reach on them.

python -m bench.transfer  ->  bench/results/transfer.json and .md

Two measurements behind the transfer figures:
- effective resolution: each photo is resized down to SxS (bicubic) and back to its size; the mean absolute
  change in grey levels (0-255) says how much detail survives. A photo whose pixels barely change at S=48
  holds no more than about 48x48 pixels of detail, whatever its file size says.
- linear probe: test accuracy of a softmax head on pooled frozen EfficientNet-Lite0 features (the evaluation's
  own probe), with the photos fed at 128x128 (their stored size) and upsampled to 224x224 (ImageNet's size).
"""

import time

import numpy as np
from omegaconf import OmegaConf
from PIL import Image

from bench.common import write_results
from toolkit.data.image_folder import list_image_folder
from toolkit.tasks.transfer import (
    TransferConfig,
    build_transfer,
    class_names,
    dataset_root,
    linear_probe_accuracy,
    load_splits,
    pooled_features,
)

SIZES = (16, 32, 48, 64, 96)
PROBE_SIZES = (128, 224)
SAMPLE_EVERY = 20  # every 20th photo for the resolution measure (216 of 4,317)


def detail_lost(paths, size: int) -> float:
    """Mean absolute grey-level change (0-255) of a bicubic round trip through size x size."""
    changes = []
    for path in paths:
        image = Image.open(path).convert("L")
        round_trip = image.resize((size, size), Image.BICUBIC).resize(image.size, Image.BICUBIC)
        changes.append(np.mean(np.abs(np.asarray(image, float) - np.asarray(round_trip, float))))
    return float(np.mean(changes))


def resolution_rows(config) -> list[dict]:
    paths = list_image_folder(dataset_root(config))[0][::SAMPLE_EVERY]
    return [
        {"measure": f"grey-level change of a round trip through {s}x{s}", "value": detail_lost(paths, s)} for s in SIZES
    ]


def probe_rows(config) -> list[dict]:
    rows = []
    for size in PROBE_SIZES:
        sized = OmegaConf.merge(config, {"image_size": size})
        splits = load_splits(sized)
        model = build_transfer(sized)
        start = time.perf_counter()
        (f_train, y_train), (f_test, y_test) = (
            (pooled_features(model, images), labels) for images, labels in (splits["train"], splits["test"])
        )
        seconds = time.perf_counter() - start
        classes = len(class_names(config))
        accuracy = linear_probe_accuracy(f_train, y_train, f_test, y_test, classes, config.seed, config.probe_epochs)
        rows.append({"measure": f"linear probe test accuracy, photos at {size}x{size}", "value": accuracy})
        images = len(y_train) + len(y_test)
        rows.append({"measure": f"frozen features, images/s at {size}x{size}", "value": images / seconds})
    return rows


if __name__ == "__main__":
    config = OmegaConf.structured(TransferConfig())
    rows = resolution_rows(config) + probe_rows(config)
    notes = (
        f"flowers: every {SAMPLE_EVERY}th photo for the round trips; the probe uses the fixed 70/15/15 split "
        "(train 3,022, test 649). 2 shared CPU cores."
    )
    print(write_results("transfer", rows, notes).read_text())

"""Transfer: how much detail the flower photos hold, what frozen ImageNet features reach, and training speed.

python -m bench.transfer  ->  bench/results/transfer.json and .md

Three measurements behind the transfer figures:
- effective resolution: each photo is resized down to SxS (bicubic) and back to its size; the mean absolute
  change in grey levels (0-255) says how much detail survives (the old `flowers/` copies barely changed at 48).
- linear probe: test accuracy of a softmax head on pooled frozen EfficientNet-Lite0 features (the evaluation's
  own probe), photos fitted to 160x160 and to 224x224 (ImageNet's size, the default).
- fine-tuning speed (stage 2 from block4a, batch 32, 224x224) in float32 and in mixed_bfloat16: why the transfer
  task trains in float32 although `precision=auto` picks bfloat16 on these CPUs (depthwise convolutions).
"""

import time

import numpy as np
from omegaconf import OmegaConf
from PIL import Image

from bench.common import write_results
from toolkit import tasks
from toolkit.classification import compile_classifier
from toolkit.data.image_folder import list_image_folder
from toolkit.precision import dtype_policy
from toolkit.transfer.data import FLOWERS, class_names, load_photo_splits, photo_folder
from toolkit.transfer.models import build_transfer, linear_probe_accuracy, pooled_features, set_trainable

SIZES = (16, 32, 48, 64, 96)
PROBE_SIZES = (160, 224)
PRECISIONS = ("float32", "mixed_bfloat16")
SAMPLE_EVERY = 20  # every 20th photo for the resolution measure (167 of 3,332)


def detail_lost(paths, size: int) -> float:
    """Mean absolute grey-level change (0-255) of a bicubic round trip through size x size."""
    changes = []
    for path in paths:
        image = Image.open(path).convert("L")
        round_trip = image.resize((size, size), Image.BICUBIC).resize(image.size, Image.BICUBIC)
        changes.append(np.mean(np.abs(np.asarray(image, float) - np.asarray(round_trip, float))))
    return float(np.mean(changes))


def resolution_rows(config) -> list[dict]:
    paths = list_image_folder(photo_folder(config.dataset, config.data_dir))[0][::SAMPLE_EVERY]
    return [
        {"measure": f"grey-level change of a round trip through {s}x{s}", "value": detail_lost(paths, s)} for s in SIZES
    ]


def probe_rows(config) -> list[dict]:
    rows = []
    classes = len(class_names(config.dataset, config.source, config.data_dir))
    for size in PROBE_SIZES:
        splits = load_photo_splits(config.dataset, size, config.source, config.data_dir)
        model = build_transfer(classes, size)
        start = time.perf_counter()
        (f_train, y_train), (f_test, y_test) = (
            (pooled_features(model, images), labels) for images, labels in (splits["train"], splits["test"])
        )
        seconds = time.perf_counter() - start
        accuracy = linear_probe_accuracy(f_train, y_train, f_test, y_test, classes, config.seed, config.probe_epochs)
        rows.append({"measure": f"linear probe test accuracy, photos at {size}x{size}", "value": accuracy})
        images = len(y_train) + len(y_test)
        rows.append({"measure": f"frozen features, images/s at {size}x{size}", "value": images / seconds})
    return rows


def speed_rows(config, batch: int = 32, steps: int = 6) -> list[dict]:
    """Stage-2 training images/s of Lite0 (block4a onwards trained) on random pixels, after a warm-up step."""
    rows = []
    pixels = np.random.default_rng(0).integers(0, 256, (batch * steps, 224, 224, 3)).astype("uint8")
    labels = np.arange(batch * steps) % len(FLOWERS)
    for precision in PRECISIONS:
        with dtype_policy(precision):
            model = build_transfer(len(FLOWERS), 224)
        set_trainable(model, "block4a")
        compile_classifier(model, OmegaConf.merge(config, {"epochs": 1}), steps)
        model.fit(pixels[:batch], labels[:batch], batch_size=batch, verbose=0)
        start = time.perf_counter()
        model.fit(pixels, labels, batch_size=batch, verbose=0)
        images_per_second = len(labels) / (time.perf_counter() - start)
        rows.append({"measure": f"fine-tuning images/s, {precision}, 224x224", "value": images_per_second})
    return rows


if __name__ == "__main__":
    config = OmegaConf.structured(tasks.get("transfer").Config())
    rows = resolution_rows(config) + probe_rows(config) + speed_rows(config)
    notes = (
        f"flower_photos: every {SAMPLE_EVERY}th photo for the round trips; the probe uses the fixed 70/15/15 split "
        "(train 2,332, test 499); photos fitted to the size by toolkit.data.image_folder.fit_image. 2 CPU cores."
    )
    print(write_results("transfer", rows, notes).read_text())

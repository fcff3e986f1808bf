"""The images a DCGAN learns to draw, and a user's image made like them.

`dataset`: fashion_mnist | mnist (28x28 grey, padded to 32x32) | cifar10 (32x32 colour) | flower_photos (centre-cropped
square and resized to 64x64; every tenth photo is held out as a test image).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from toolkit.data.cifar import load_cifar10
from toolkit.data.idx import load_idx_split
from toolkit.data.image_folder import fit_image, load_image_folder
from toolkit.data.paths import require_files
from toolkit.data.tfds_source import FLOWER_PHOTOS_CLASSES, load_tfds_flowers, reads_tfds
from toolkit.errors import ConfigError, InputError
from toolkit.images import require_known_channels

IMAGE_SHAPES = {
    "fashion_mnist": (32, 32, 1),
    "mnist": (32, 32, 1),
    "cifar10": (32, 32, 3),
    "flower_photos": (64, 64, 3),
}
GREY = ("fashion_mnist", "mnist")


def require_dataset(dataset: str) -> None:
    """Refuse a data set this task has no image shape for, naming those it has."""
    if dataset not in IMAGE_SHAPES:
        raise ConfigError(f"Unknown dataset '{dataset}'; choose one of {', '.join(IMAGE_SHAPES)}.")


def load_images(
    dataset: str, split: str, data_dir: str | None = None, source: str = "files", limit: int | None = None
) -> np.ndarray:
    """uint8 images (N, H, W, C) of `split` ("train" or "test") in the model's size, at most `limit`.

    From the files or, with `source="tfds"`, tensorflow-datasets; the flower photos are cut the same way from either.
    """
    require_dataset(dataset)
    if dataset in GREY:
        images, _ = load_idx_split("inpainting", dataset.replace("_", "-"), split, data_dir, source)
        images = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    elif dataset == "cifar10":
        images, _ = load_cifar10("inpainting", split, data_dir, source)
    else:  # flower_photos
        classes, files = FLOWER_PHOTOS_CLASSES, "flower_photos/<class>/*.jpg"
        if reads_tfds(source):
            images, _ = load_tfds_flowers("inpainting", classes, (64, 64), files, data_dir)
        else:
            base = require_files("inpainting", "flower_photos", classes, data_dir)
            images, _, _ = load_image_folder(base, image_size=(64, 64), classes=classes)
        held_out = np.arange(len(images)) % 10 == 0  # every tenth photo is a test image
        images = images[held_out] if split == "test" else images[~held_out]
    return images[:limit]


def held_out_images(dataset: str, count: int, data_dir: str | None = None) -> np.ndarray:
    """The first `count` held-out test images of `dataset`, float (N, H, W, C) in [0, 1]: the evaluation's images."""
    return load_images(dataset, "test", data_dir, limit=count).astype(np.float32) / 255


def fit_to_dataset(pixels: np.ndarray, dataset: str) -> np.ndarray:
    """A user's uint8 image (H, W) or (H, W, 3) -> float (h, w, c) in [0, 1], sized and coloured like `dataset`.

    The toolkit's resize policy (`fit_image`: centre crop to the aspect ratio, then bilinear) as in training;
    for the 28x28 sets to 28x28, then padded to 32x32.
    """
    pixels = np.asarray(pixels)
    if pixels.ndim not in (2, 3) or min(pixels.shape[:2]) < 8:
        raise InputError(f"Expected an image of at least 8x8 pixels, got shape {pixels.shape}.")
    require_known_channels(pixels)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    height, width, channels = IMAGE_SHAPES[dataset]
    padding = 2 if dataset in GREY else 0
    image = Image.fromarray(pixels.astype(np.uint8)).convert("L" if channels == 1 else "RGB")
    image = fit_image(image, (height - 2 * padding, width - 2 * padding))
    array = np.asarray(image, np.float32).reshape(height - 2 * padding, width - 2 * padding, channels) / 255
    return np.pad(array, ((padding, padding), (padding, padding), (0, 0)))

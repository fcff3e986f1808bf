"""The images a DCGAN learns to draw or a fill network learns to fill, and a user's image made like them.

`dataset`: fashion_mnist | mnist (28x28 grey, padded to 32x32) | cifar10 (32x32 colour) | flower_photos (centre-cropped
square and resized to 64x64; every tenth photo is held out as a test image). `MaskedBatches` gives a fill network
its training batches: images with fresh random masks.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from PIL import Image

from toolkit.data.cifar import load_cifar10
from toolkit.data.idx import load_idx_split
from toolkit.data.image_folder import fit_image, load_image_folder
from toolkit.data.paths import require_files
from toolkit.data.tfds_source import FLOWER_PHOTOS_CLASSES, load_tfds_flowers, reads_tfds
from toolkit.errors import ConfigError, InputError
from toolkit.images import require_known_channels
from toolkit.inpainting.masks import training_masks

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


def checked_user_image(pixels: np.ndarray) -> np.ndarray:
    """A user's image as (H, W) or (H, W, 3), at least 8x8; a clear error for anything else."""
    pixels = np.asarray(pixels)
    if pixels.ndim not in (2, 3) or min(pixels.shape[:2]) < 8:
        raise InputError(f"Expected an image of at least 8x8 pixels, got shape {pixels.shape}.")
    require_known_channels(pixels)
    return pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels


def fit_to_dataset(pixels: np.ndarray, dataset: str) -> np.ndarray:
    """A user's uint8 image (H, W) or (H, W, 3) -> float (h, w, c) in [0, 1], sized and coloured like `dataset`.

    The toolkit's resize policy (`fit_image`: centre crop to the aspect ratio, then bilinear) as in training;
    for the 28x28 sets to 28x28, then padded to 32x32.
    """
    pixels = checked_user_image(pixels)
    height, width, channels = IMAGE_SHAPES[dataset]
    padding = 2 if dataset in GREY else 0
    image = Image.fromarray(pixels.astype(np.uint8)).convert("L" if channels == 1 else "RGB")
    image = fit_image(image, (height - 2 * padding, width - 2 * padding))
    array = np.asarray(image, np.float32).reshape(height - 2 * padding, width - 2 * padding, channels) / 255
    return np.pad(array, ((padding, padding), (padding, padding), (0, 0)))


def fit_photo(pixels: np.ndarray, dataset: str, max_side: int = 256) -> np.ndarray:
    """A user's uint8 photo (H, W) or (H, W, 3) -> float (h, w, c) in [0, 1] in `dataset`'s colours, its aspect kept
    and its longer side at most `max_side` (Lanczos): a photo to paint a hole on, filled around the hole."""
    pixels = checked_user_image(pixels)
    channels = IMAGE_SHAPES[dataset][2]
    image = Image.fromarray(pixels.astype(np.uint8)).convert("L" if channels == 1 else "RGB")
    scale = min(1.0, max_side / max(image.size))
    if scale < 1:
        image = image.resize((max(8, round(image.width * scale)), max(8, round(image.height * scale))), Image.LANCZOS)
    return (np.asarray(image, np.float32) / 255).reshape(image.height, image.width, channels)


class MaskedBatches(keras.utils.PyDataset):
    """Batches {"pixels": uint8 (B, H, W, C), "mask": float32 (B, H, W), 1 = known} of shuffled images, each with a
    fresh mask from `training_masks` (every kind the page offers).

    Batch `index` of epoch `epoch` is a function of (seed, epoch, index) alone: the order of the images is shuffled
    by (seed, epoch), the masks drawn from (seed, epoch, index), so a resumed run sees the batches it would have
    seen. Keras does not tell a dataset which epoch it is in (and calls it outside epochs to learn its shapes):
    `EpochSetter` sets `epoch` at each epoch's start, a resumed run's first included.
    """

    def __init__(self, images: np.ndarray, batch_size: int, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.images, self.batch_size, self.seed, self.epoch = images, batch_size, seed, 0

    def __len__(self) -> int:
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index: int) -> tuple[dict[str, np.ndarray]]:
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.images))
        rows = np.sort(order[index * self.batch_size : (index + 1) * self.batch_size])
        pixels = self.images[rows]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return ({"pixels": pixels, "mask": training_masks(len(rows), *pixels.shape[1:3], rng)},)


class EpochSetter(keras.callbacks.Callback):
    """Tells a `MaskedBatches` the epoch `fit` is starting, so its batches depend on (seed, epoch, index)."""

    def __init__(self, batches: MaskedBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch, logs=None):
        self.batches.epoch = epoch

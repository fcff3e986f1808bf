"""Image folders in the `<root>/<class>/*.jpg` layout: CIFAR-10 as JPEG, flowers, and users' own classes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from toolkit.errors import DataNotFoundError, InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def list_image_folder(
    root: str | os.PathLike, classes: Sequence[str] | None = None
) -> tuple[list[Path], np.ndarray, list[str]]:
    """Paths (sorted within each class), integer labels and class names of `<root>/<class>/<image>`.

    `classes` fixes the label order (e.g. CIFAR-10's official order); by default the sub-folders, sorted.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"No image folder at {root}: expected {root}/<class>/*.jpg.")
    names = list(classes) if classes is not None else sorted(p.name for p in root.iterdir() if p.is_dir())
    paths, labels = [], []
    for label, name in enumerate(names):
        files = sorted(p for p in (root / name).glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataNotFoundError(f"Class folder {root / name} has no images ({', '.join(IMAGE_SUFFIXES)}).")
        paths += files
        labels += [label] * len(files)
    if not names:
        raise DataNotFoundError(f"{root} has no class sub-folders: expected {root}/<class>/*.jpg.")
    return paths, np.asarray(labels, dtype="int32"), names


def fit_image(image: Image.Image, image_size: tuple[int, int]) -> Image.Image:
    """The toolkit's one resize policy: the centre crop of the target's aspect ratio, bilinear to (height, width).

    A 320x240 photo asked for at 224x224 loses 40 px left and right and is not squashed. Files, tfds arrays and
    uploads all go through here, so training, evaluation, `pretrained` use and the pages see the same pixels.
    """
    height, width = image_size
    if image.size == (width, height):
        return image
    scale = min(image.width / width, image.height / height)
    crop_w, crop_h = min(image.width, width * scale), min(image.height, height * scale)
    left, top = max(0.0, (image.width - crop_w) / 2), max(0.0, (image.height - crop_h) / 2)
    return image.resize((width, height), Image.BILINEAR, box=(left, top, left + crop_w, top + crop_h))


def read_image(path: str | os.PathLike, image_size: tuple[int, int] | None = None, mode: str = "RGB") -> np.ndarray:
    """One image as uint8, (H, W, 3) for mode "RGB" or (H, W) for "L", fitted to `image_size` (see `fit_image`).

    Any JPEG mode (greyscale, CMYK, palette) comes back in `mode`.
    """
    try:
        with Image.open(path) as image:
            image = image.convert(mode)
            if image_size is not None:
                image = fit_image(image, image_size)
            return np.asarray(image, dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as err:
        raise InputError(f"Cannot read image {path}: {err}") from err


def load_image_folder(
    root: str | os.PathLike, image_size: tuple[int, int] | None = None, classes: Sequence[str] | None = None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All images of a class-folder tree: uint8 (N, H, W, 3), labels int32 (N,), class names.

    Without `image_size` every image must already have the same size.
    """
    paths, labels, names = list_image_folder(root, classes)
    images = [read_image(p, image_size) for p in paths]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise InputError(f"Images in {root} differ in size ({sorted(shapes)[:3]}...): pass image_size=(H, W).")
    return np.stack(images), labels, names

"""Using an objects model: what a page or a notebook needs to ask a shipped model about a user's photo.

`photo_to_dataset_image(photo, dataset)` turns a photo into the raw-pixel image the models of `dataset` take;
`artifact_name(dataset)` names the shipped model for it in trained/; the class names are
`toolkit.objects.data.DATASETS[dataset].classes`.
"""

from __future__ import annotations

import keras
import numpy as np

from toolkit.errors import InputError
from toolkit.objects.data import get_dataset


def artifact_name(dataset: str) -> str:
    """File stem of the shipped model for `dataset` in trained/: one per data set, whatever the network."""
    return f"objects_{dataset}"


def photo_to_dataset_image(photo: np.ndarray, dataset: str) -> np.ndarray:
    """Turn a user's photo (H, W), (H, W, 3) or (H, W, 4) uint8 into one raw image of `dataset`, uint8 (h, w, c).

    The centre square is resized to the data set's size. Fashion-MNIST shows light garments on black,
    so a grey photo with a light background (judged on its border) is inverted.
    """
    data = get_dataset(dataset)
    image = np.asarray(photo)
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3)) or min(image.shape[:2]) < 8:
        raise InputError(f"Expected an RGB or grey image of at least 8x8 pixels, got shape {image.shape}.")
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = np.broadcast_to(image.reshape(height, width, -1), (height, width, 3))[top : top + side, left : left + side]
    mode = "L" if data.shape[-1] == 1 else "RGB"
    resized = keras.utils.array_to_img(square, scale=False).convert(mode).resize(data.shape[1::-1], resample=2)
    pixels = np.asarray(resized, np.uint8).reshape(data.shape)
    if mode == "L":
        border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        if np.median(border) > 127:
            pixels = 255 - pixels
    return pixels

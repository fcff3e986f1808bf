"""Using a digits model: what a page or a notebook needs to ask a shipped model about a user's digit.

`drawing_to_mnist_digit(image)` turns a drawing or photo into the (28, 28, 1) raw-pixel array every digits model
takes; `CLASS_NAMES[k]` names output k.
"""

from __future__ import annotations

import keras
import numpy as np

from toolkit.digits.models import CLASSES, IMAGE_SHAPE
from toolkit.errors import InputError
from toolkit.images import require_known_channels

CLASS_NAMES = [str(digit) for digit in range(CLASSES)]
SHIPPED_MODEL = "digits"  # the shipped model in trained/ (the CNN); its LeNet-5 and MLP: digits_lenet5, digits_mlp


def drawing_to_mnist_digit(image: np.ndarray) -> np.ndarray:
    """Turn a drawing or photo of one digit, (H, W) or (H, W, 1|3|4), into an MNIST-style (28, 28, 1) array, 0-255.

    MNIST digits are white on black, scaled to fit 20x20 and centred by their centre of mass in 28x28;
    a user's image gets the same treatment so the model sees what it was trained on.
    """
    gray = np.asarray(image, dtype=np.float32)
    require_known_channels(gray)
    if gray.ndim == 3:
        if gray.shape[-1] == 4:  # transparent pixels count as background
            gray = gray[..., :3] * (gray[..., 3:] / 255.0)
        gray = gray[..., :3].mean(-1) if gray.shape[-1] >= 3 else gray[..., 0]
    if gray.ndim != 2 or min(gray.shape) < 8:
        raise InputError(f"Expected a 2-D image of at least 8x8 pixels, got shape {np.shape(image)}.")
    if np.median(gray) > 127:  # dark ink on light paper: invert to MNIST's white on black
        gray = 255 - gray
    gray = np.clip(gray - np.median(gray), 0, None)
    if gray.max() < 30:
        raise InputError("The image looks empty: draw or upload a digit with clear strokes.")
    rows, cols = np.nonzero(gray > 0.2 * gray.max())
    gray = gray[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = 20 / max(gray.shape)
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    digit = np.asarray(keras.utils.array_to_img(gray[..., None], scale=False).resize(size, resample=2), np.float32)
    digit *= 255 / max(digit.max(), 1)
    height, width = IMAGE_SHAPE[:2]
    canvas = np.zeros((height, width), np.float32)
    top, left = (height - digit.shape[0]) // 2, (width - digit.shape[1]) // 2
    canvas[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    ys, xs = np.indices(canvas.shape)
    mass = canvas.sum()
    dy, dx = round(height / 2 - (ys * canvas).sum() / mass), round(width / 2 - (xs * canvas).sum() / mass)
    canvas = np.roll(canvas, (dy, dx), axis=(0, 1))
    return np.clip(canvas, 0, 255)[..., None]

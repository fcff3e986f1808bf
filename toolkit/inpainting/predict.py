"""`inpaint(model, images, masks)`: the one way to fill holes with a trained model, whatever its kind, and
`fill_around_hole`, which lets any method that works at the model's size fill a hole in a larger photo.

A `FillNet` fills in one forward pass; a `DCGAN` fills by Yeh et al.'s latent search and Poisson blending
(toolkit.inpainting.search, toolkit.inpainting.blend). The page, the evaluation and the benchmark call these.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import keras
import numpy as np

from toolkit.errors import InputError
from toolkit.inpainting.blend import poisson_blend
from toolkit.inpainting.dcgan import DCGAN
from toolkit.inpainting.fill_net import FillNet
from toolkit.inpainting.masks import check_mask
from toolkit.inpainting.search import SearchSettings, latent_search


@dataclass
class Inpainting:
    """Results for images (N, H, W, C) in [0, 1]."""

    masked: np.ndarray  # the input with the hole greyed out (for display)
    generated: np.ndarray  # the model's whole image: the network's output, or G(z*) of the latent search
    overlay: np.ndarray  # that image pasted into the hole as it is
    filled: np.ndarray  # the method's answer: the overlay (network) or G(z*) Poisson-blended into the hole (search)
    loss: np.ndarray | None  # (N,) final search loss; None for a network


def method_of(model: keras.Model) -> str:
    """The evaluation's name for what `model` does: "fill_net" or "latent_search"."""
    if isinstance(model, FillNet):
        return "fill_net"
    if isinstance(model, DCGAN):
        return "latent_search"
    raise InputError(f"Inpainting needs a FillNet or a DCGAN, not a {type(model).__name__}.")


def inpaint(
    model: FillNet | DCGAN,
    images: np.ndarray,
    masks: np.ndarray,
    settings: SearchSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Inpainting:
    """Fill the holes (mask 0) of images (N, H, W, C) in [0, 1] shaped like the model's images; masks (N, H, W).

    `settings` and `progress(step, steps)` concern the DCGAN's latent search; a fill network ignores them.
    """
    method = method_of(model)
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[1:] != model.image_shape:
        raise InputError(f"Expected images (N, {', '.join(map(str, model.image_shape))}), got {images.shape}.")
    masks = np.stack([check_mask(mask, images.shape[1:]) for mask in masks])
    known = masks[..., None]
    masked = known * images + (1 - known) * 0.5
    if method == "fill_net":
        filled, output = model.fill(images, masks)
        return Inpainting(masked, output, filled, filled, None)
    generated, loss = latent_search(model, images, masks, settings, progress)
    overlay = known * images + (1 - known) * generated
    blended = np.stack([poisson_blend(g, y, mask) for g, y, mask in zip(generated, images, masks)])
    return Inpainting(masked, generated, overlay, blended, loss)


def hole_window(mask: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the square around the hole (mask (H, W), 1 = known) that a fill sees.

    Its side is twice the hole's bounding box, as the centre mask is half its image, at most the photo's shorter
    side, and it is moved inside the photo; a hole wider than that takes the whole photo.
    """
    rows, cols = np.nonzero(np.asarray(mask) < 0.5)
    if not len(rows):
        raise InputError("The mask hides nothing: mark some pixels as missing.")
    height, width = mask.shape
    extent = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    side = min(2 * extent, height, width)
    if extent > side:
        return 0, 0, int(height), int(width)
    top = int(np.clip((rows.min() + rows.max() + 1 - side) // 2, 0, height - side))  # the hole in the middle
    left = int(np.clip((cols.min() + cols.max() + 1 - side) // 2, 0, width - side))
    return top, left, int(side), int(side)


def fill_around_hole(
    fill: Callable[[np.ndarray, np.ndarray], np.ndarray],
    photo: np.ndarray,
    mask: np.ndarray,
    size: tuple[int, int],
) -> np.ndarray:
    """Fill the hole of a photo (H, W, C) in [0, 1] of any size with `fill(image, mask)`, a method for images of
    `size` (h, w): the square around the hole (`hole_window`) is cut out, shrunk to `size`, filled, enlarged and
    pasted into the hole; the known pixels stay exact. A photo of `size` is filled as it is.

    A small pixel counts as missing when any part of it is, so no hidden pixel leaks into what the method sees.
    """
    photo, mask = np.asarray(photo, np.float32), check_mask(mask, np.shape(photo))
    if photo.shape[:2] == tuple(size):
        return np.asarray(fill(photo, mask), np.float32)
    top, left, rows, cols = hole_window(mask)
    window, known = photo[top : top + rows, left : left + cols], mask[top : top + rows, left : left + cols]
    small_known = cv2.resize(known, size[::-1], interpolation=cv2.INTER_AREA) > 1 - 1e-6
    small = cv2.resize(window * known[..., None], size[::-1], interpolation=cv2.INTER_AREA).reshape(*size, -1)
    coverage = cv2.resize(known, size[::-1], interpolation=cv2.INTER_AREA).reshape(*size, 1)
    small = np.where(small_known[..., None], small / np.maximum(coverage, 1e-6), 0.5).astype(np.float32)
    filled_small = np.asarray(fill(small, small_known.astype(np.float32)), np.float32)
    filled = cv2.resize(filled_small, (cols, rows), interpolation=cv2.INTER_CUBIC).reshape(window.shape)
    result = photo.copy()
    hole = known < 0.5
    result[top : top + rows, left : left + cols][hole] = np.clip(filled[hole], 0, 1)
    return result

"""Masks for inpainting and the contextual weights of Yeh et al. (CVPR 2017).

A mask is (H, W) float32 with 1 = known pixel and 0 = missing (the paper's M).
`TRAINING_MIX` is how often a fill network sees each kind while it learns, so one network serves them all.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from toolkit.errors import InputError

MASKS = ("center", "random", "left", "right", "blocks", "strokes")
# kind -> share of the training masks: every kind the page offers, and "box", a rectangle of 1/4 to 1/2 the side
# anywhere (what the page's cut-out around a drawn blob looks like)
TRAINING_MIX = {"center": 0.15, "blocks": 0.2, "strokes": 0.3, "box": 0.15, "random": 0.1, "left": 0.05, "right": 0.05}


def make_mask(name: str, height: int, width: int, seed: int = 0, rng: np.random.Generator | None = None) -> np.ndarray:
    """One named mask (H, W): centre square (half the side), random 80% missing, left/right half, random blocks,
    free brush strokes (`strokes_mask`) or one random rectangle ("box"); random kinds draw from `rng`, else `seed`."""
    mask = np.ones((height, width), np.float32)
    rng = rng if rng is not None else np.random.default_rng(seed)
    if name == "center":
        top, left = height // 4, width // 4
        mask[top : top + height // 2, left : left + width // 2] = 0
    elif name == "random":
        mask[rng.random((height, width)) < 0.8] = 0
    elif name == "left":
        mask[:, : width // 2] = 0
    elif name == "right":
        mask[:, width // 2 :] = 0
    elif name == "blocks":
        size = max(2, height // 8)
        for _ in range(8):  # eight squares of 1/8 the side: about 12% missing, some overlapping
            top, left = rng.integers(0, height - size + 1), rng.integers(0, width - size + 1)
            mask[top : top + size, left : left + size] = 0
    elif name == "strokes":
        mask = strokes_mask(height, width, rng)
    elif name == "box":
        rows, cols = rng.integers(height // 4, height // 2 + 1), rng.integers(width // 4, width // 2 + 1)
        top, left = rng.integers(0, height - rows + 1), rng.integers(0, width - cols + 1)
        mask[top : top + rows, left : left + cols] = 0
    else:
        raise InputError(f"Unknown mask '{name}'; choose one of {', '.join(MASKS)}.")
    return mask


def strokes_mask(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Free-form holes like a user's brush (Yu et al., ICCV 2019): 1 to 3 strokes (more while under 3 % is
    painted), each a polyline of 2 to 5 turning segments, 2 to 5 pixels wide per 32 pixels of side.
    Mask (H, W), 1 = known; about 3-35 % missing."""
    scale = min(height, width) / 32
    painted = np.zeros((height, width), np.uint8)
    strokes = rng.integers(1, 4)
    while strokes > 0 or painted.mean() < 0.03:
        strokes -= 1
        point = rng.uniform((0, 0), (width - 1, height - 1))
        angle = rng.uniform(0, 2 * np.pi)
        points = [point]
        for _ in range(rng.integers(2, 6)):
            angle += rng.uniform(-1.2, 1.2)  # a hand turns, it does not zig-zag at random
            step = rng.uniform(4, 10) * scale * np.array([np.cos(angle), np.sin(angle)])
            point = np.clip(point + step, 0, (width - 1, height - 1))
            points.append(point)
        thickness = max(1, round(rng.integers(2, 6) * scale))
        cv2.polylines(painted, [np.round(points).astype(np.int32)], False, 1, thickness, lineType=cv2.LINE_8)
    if painted.all():  # strokes this thin never cover everything, but a mask must keep some context
        painted[: height // 2] = 0
    return (1 - painted).astype(np.float32)


def training_masks(count: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """`count` masks (count, H, W) of kinds drawn from `TRAINING_MIX`, each with a hole and some known pixels."""
    kinds = rng.choice(list(TRAINING_MIX), size=count, p=list(TRAINING_MIX.values()))
    return np.stack([make_mask(kind, height, width, rng=rng) for kind in kinds])


def check_mask(mask: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """A mask as float32 (H, W) in {0, 1} matching the image, with some known and some missing pixels."""
    mask = (np.asarray(mask) > 0.5).astype(np.float32)
    if mask.shape != tuple(image_shape[:2]):
        raise InputError(f"The mask is {mask.shape} but the image is {tuple(image_shape[:2])}.")
    if mask.all():
        raise InputError("The mask hides nothing: mark some pixels as missing.")
    if not mask.any():
        raise InputError("The mask hides the whole image: keep some pixels known.")
    return mask


def contextual_weights(mask: np.ndarray, window: int = 7) -> np.ndarray:
    """W_i = (number of missing pixels in the window around i) / window**2 for known i, 0 for missing i.

    Known pixels next to the hole say most about it, so they weigh most in the contextual loss;
    known pixels far from it weigh nothing. `mask` (..., H, W) -> weights of the same shape.
    Pixels outside the image count as known.
    """
    mask = np.asarray(mask, np.float32)
    size = (1,) * (mask.ndim - 2) + (window, window)
    missing_share = ndimage.uniform_filter(1.0 - mask, size=size, mode="constant", cval=0.0)
    return (missing_share * mask).astype(np.float32)


def mask_from_drawing(strokes: np.ndarray, height: int, width: int) -> np.ndarray:
    """A drawing canvas (h, w, 4) RGBA, painted where the hole should be -> mask (height, width), 1 = known.

    A pixel of the mask is missing when strokes cover over a quarter of the canvas area it stands for.
    """
    painted = (np.asarray(strokes)[..., 3] > 0).astype(np.float32)
    ys = np.linspace(0, painted.shape[0], height + 1).astype(int)
    xs = np.linspace(0, painted.shape[1], width + 1).astype(int)
    cover = np.add.reduceat(np.add.reduceat(painted, ys[:-1], axis=0), xs[:-1], axis=1)
    area = np.outer(np.diff(ys), np.diff(xs))
    return (cover / area <= 0.25).astype(np.float32)

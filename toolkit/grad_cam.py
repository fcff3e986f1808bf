"""Grad-CAM ("where does it look") for classifiers that end in global pooling and a dense layer.

With average pooling the score of class c is y_c = sum_k w_kc * mean_ij A_k(i, j) + b_c, so Grad-CAM's
channel weights, the spatial means of dy_c/dA_k, are exactly w_kc / (h w) (Selvaraju et al. 2017,
section 3.1; the map equals CAM, Zhou et al. 2016). With max pooling dy_c/dA_k is w_kc at the maximum and 0
elsewhere, so the spatial mean is again w_kc / (h w); a fixed logit scale after the dense layer changes only the
map's scale, which is normalised away. The map is therefore computed from the last feature maps A and the dense
kernel with `keras.ops` alone: no gradients, any backend.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from toolkit.errors import InputError
from toolkit.layers import MeanOverFlips

POOLS = (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D)
# after the pooling: one Dense layer, and only layers that keep the class ranking per image
HEAD = (layers.Dense, layers.Dropout, layers.Rescaling, layers.Activation, MeanOverFlips)


def _pooling_head(model: keras.Model) -> tuple[layers.Layer, layers.Dense]:
    """The model's global pooling layer and the one Dense layer after it."""
    pools = [i for i, layer in enumerate(model.layers) if isinstance(layer, POOLS)]
    head = model.layers[pools[-1] + 1 :] if pools else []
    dense = [layer for layer in head if isinstance(layer, layers.Dense)]
    if not pools or len(dense) != 1 or any(not isinstance(layer, HEAD) for layer in head):
        raise InputError(
            f"Grad-CAM here needs a model ending in global pooling and one dense layer; '{model.name}' does not."
        )
    return model.layers[pools[-1]], dense[0]


def grad_cam(model: keras.Model, images: np.ndarray, class_index: int | np.ndarray | None = None) -> np.ndarray:
    """Class activation maps (N, H, W) in [0, 1] at the input's resolution.

    `images`: what the model takes, (N, H, W, C); `class_index`: one class for all images, one per
    image, or None for each image's predicted class.
    """
    pool, dense = _pooling_head(model)
    features = ops.convert_to_numpy(keras.Model(model.inputs[0], pool.input)(images, training=False))
    features = features[: len(images)].astype(np.float32)  # (N, h, w, K); test-time mirrors (if any) follow
    kernel = ops.convert_to_numpy(dense.kernel)  # (K, classes)
    if class_index is None:
        pooled = features.max((1, 2)) if isinstance(pool, layers.GlobalMaxPooling2D) else features.mean((1, 2))
        class_index = (pooled @ kernel).argmax(-1)
    weights = kernel[:, np.broadcast_to(class_index, (len(features),))].T  # (N, K)
    cam = np.maximum(np.einsum("nhwk,nk->nhw", features, weights), 0)
    cam = ops.convert_to_numpy(ops.image.resize(cam[..., None], images.shape[1:3], interpolation="bilinear"))[..., 0]
    cam = np.maximum(cam, 0)
    return cam / np.maximum(cam.max((1, 2), keepdims=True), 1e-12)


def heatmap_overlay(image: np.ndarray, cam: np.ndarray, opacity: float = 0.5) -> np.ndarray:
    """Blend a map (H, W) in [0, 1] as a colour heat map over an image (H, W, 1 or 3) uint8 -> (H, W, 3) uint8."""
    from matplotlib import colormaps

    rgb = np.broadcast_to(image, (*image.shape[:2], 3)).astype(np.float32)
    heat = colormaps["jet"](cam)[..., :3] * 255
    return np.clip((1 - opacity) * rgb + opacity * heat, 0, 255).astype(np.uint8)

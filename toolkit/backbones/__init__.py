"""ImageNet backbones that work offline: the shipped EfficientNet-Lite0, keras.applications with local weights.

- `load_efficientnet_lite0()`: the converted Lite0 (see `convert_efficientnet_lite0`), raw pixels 0-255 in.
- `keras_application(name, weights_path)`: e.g. MobileNetV2 from a `.h5` file the user downloaded elsewhere.
- `imagenet_classes()`, `imagenet_top_k(probs)`: the 1000 ImageNet-1k class names in the standard order
  (sorted WordNet IDs; names as in keras-hub's `imagenet_utils.py`, Apache-2.0).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import keras
import numpy as np
from keras import layers

from toolkit import pretrained
from toolkit.backbones.efficientnet_lite import build_efficientnet_lite0
from toolkit.backbones.weights import load_weights_float16
from toolkit.errors import InputError

LITE0_WEIGHTS = "backbones/efficientnet_lite0_imagenet.weights.h5"

# name -> (constructor, preprocessing from pixels 0-255 as (scale, offset); None: the model scales itself)
KERAS_APPLICATIONS = {
    "mobilenet_v2": (keras.applications.MobileNetV2, (1 / 127.5, -1.0)),
    "mobilenet_v3_small": (keras.applications.MobileNetV3Small, None),
    "mobilenet_v3_large": (keras.applications.MobileNetV3Large, None),
    "efficientnet_b0": (keras.applications.EfficientNetB0, None),
    "efficientnet_v2_b0": (keras.applications.EfficientNetV2B0, None),
}


def lite0_weights_path() -> Path:
    """The shipped Lite0 weights: trained/backbones/ of a checkout, else the cache (downloaded on first use)."""
    return pretrained.file(LITE0_WEIGHTS)


def load_efficientnet_lite0(
    weights: str | os.PathLike | None = "imagenet",
    include_top: bool = False,
    input_shape: tuple[int | None, int | None, int] = (None, None, 3),
) -> keras.Model:
    """EfficientNet-Lite0: pixels 0-255 -> features (N, h, w, 1280), or ImageNet logits with `include_top`.

    `weights`: "imagenet" (the shipped file), a path to such a file, or None (random initialisation).
    """
    model = build_efficientnet_lite0(input_shape, include_top=include_top)
    if weights is not None:
        load_weights_float16(model, lite0_weights_path() if weights == "imagenet" else weights)
    return model


def keras_application(
    name: str, weights_path: str | os.PathLike | None, input_shape: tuple[int, int, int]
) -> keras.Model:
    """A keras.applications backbone without its top, taking pixels 0-255, weights from a local file (or None)."""
    if name not in KERAS_APPLICATIONS:
        raise InputError(f"Unknown backbone '{name}'. Backbones: efficientnet_lite0, {', '.join(KERAS_APPLICATIONS)}.")
    if weights_path is not None and not Path(weights_path).is_file():
        raise InputError(f"No weights file at {weights_path} for backbone '{name}' (no downloads here).")
    constructor, scaling = KERAS_APPLICATIONS[name]
    inputs = keras.Input(input_shape, name="pixels")
    x = inputs if scaling is None else layers.Rescaling(scaling[0], offset=scaling[1], name="normalize")(inputs)
    try:
        base = constructor(
            include_top=False, weights=None if weights_path is None else str(weights_path), input_shape=input_shape
        )
    except ValueError as err:
        raise InputError(f"Weights {weights_path} do not fit {name} without its top: {err}") from err
    return keras.Model(inputs, base(x), name=name)


@functools.cache
def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, index = model output."""
    lines = (Path(__file__).with_name("imagenet_classes.txt")).read_text().splitlines()
    return tuple(line.split("\t")[1].replace("_", " ") for line in lines)


def imagenet_top_k(probabilities: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
    """(class name, probability) of the k most likely ImageNet classes for one image's (1000,) probabilities."""
    order = np.argsort(probabilities)[::-1][:k]
    names = imagenet_classes()
    return [(names[i], float(probabilities[i])) for i in order]

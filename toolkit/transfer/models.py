"""Transfer models: an ImageNet backbone with a new classifier head, frozen, then fine-tuned; or from scratch.

- `build_transfer`: the ImageNet backbone (EfficientNet-Lite0 by default, see `toolkit.backbones`) with a new
  head (global average pooling, dropout, softmax). It starts frozen (stage 1) and is always called with
  `training=False`, so BatchNorm keeps the ImageNet statistics even when `set_trainable` unfreezes its top
  blocks (stage 2): a small batch never overwrites them.
- `build_scratch`: the same network from random weights, every layer trained (BatchNorm learns its statistics).
- Stage 1 on frozen features: `pooled_features` runs the backbone once, `fit_head` trains the model's own
  dropout + classifier on those cached features, `linear_probe_accuracy` measures a fresh linear head on them.

Models take raw RGB pixels 0-255, (N, S, S, 3), and return class probabilities (N, classes) in float32.
"""

from __future__ import annotations

import os

import keras
import numpy as np
from keras import layers

from toolkit import backbones
from toolkit.errors import ConfigError

DEFAULT_BACKBONE = "efficientnet_lite0"


def build_backbone(name: str, image_size: int, weights: str | os.PathLike | None = "imagenet") -> keras.Model:
    """The feature extractor `name`: pixels 0-255 (N, S, S, 3) -> feature maps (N, s, s, C), named "backbone".

    `weights`: "imagenet" (Lite0's shipped file; a keras.applications backbone needs a path, there are no
    downloads), a path to a weights file, or None (random initialisation).
    """
    shape = (image_size, image_size, 3)
    if name == DEFAULT_BACKBONE:
        model = backbones.load_efficientnet_lite0(weights, include_top=False, input_shape=shape)
    else:
        if weights == "imagenet":
            raise ConfigError(f"backbone={name} needs backbone_weights=/path/to/weights.h5 (no downloads).")
        model = backbones.keras_application(name, weights, shape)
    return keras.Model(model.input, model.output, name="backbone")


def augmentation() -> keras.Sequential:
    """Flips, small rotations and zooms; active in training only."""
    return keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.08), layers.RandomZoom((-0.15, 0.0))],
        name="augmentation",
    )


def _classifier(
    backbone: keras.Model, classes: int, image_size: int, dropout: float, frozen_statistics: bool, name: str
) -> keras.Model:
    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = augmentation()(inputs)
    x = backbone(x, training=False) if frozen_statistics else backbone(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(classes, activation="softmax", dtype="float32", name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def build_transfer(
    classes: int,
    image_size: int = 224,
    backbone: str = DEFAULT_BACKBONE,
    backbone_weights: str | os.PathLike | None = None,
    dropout: float = 0.3,
) -> keras.Model:
    """ImageNet backbone (frozen: stage 1) + a new head over `classes`. BatchNorm always uses the ImageNet statistics.

    `backbone_weights`: a local weights file; None is Lite0's shipped ImageNet weights.
    """
    features = build_backbone(backbone, image_size, backbone_weights or "imagenet")
    model = _classifier(features, classes, image_size, dropout, frozen_statistics=True, name="transfer")
    set_trainable(model, fine_tune_from=None)
    return model


def build_scratch(
    classes: int, image_size: int = 224, backbone: str = DEFAULT_BACKBONE, dropout: float = 0.3
) -> keras.Model:
    """The same network from random weights, every layer trained (BatchNorm learns its statistics)."""
    features = build_backbone(backbone, image_size, weights=None)
    return _classifier(features, classes, image_size, dropout, frozen_statistics=False, name="scratch")


def set_trainable(model: keras.Model, fine_tune_from: str | None) -> None:
    """Stage 1 (None): the backbone frozen. Stage 2: backbone layers from `fine_tune_from` on train, except BN."""
    backbone = model.get_layer("backbone")
    backbone.trainable = fine_tune_from is not None
    if fine_tune_from is None:
        return
    names = [layer.name for layer in backbone.layers]
    start = next((i for i, name in enumerate(names) if name.startswith(fine_tune_from)), None)
    if start is None:
        blocks = sorted({n.split("_")[0] for n in names if n.startswith("block")})
        raise ConfigError(f"fine_tune_from={fine_tune_from} names no backbone layer. Blocks: {', '.join(blocks)}.")
    for i, layer in enumerate(backbone.layers):
        layer.trainable = i >= start and not isinstance(layer, layers.BatchNormalization)


# --- stage 1: heads on frozen features --------------------------------------------------------------------------


def pooled_features(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """The frozen backbone's pooled features (N, C) of a transfer model: computed once, not once per epoch."""
    extractor = keras.Sequential([model.get_layer("backbone"), model.get_layer("pool")])
    return extractor.predict(images, batch_size=64, verbose=0)


def fit_head(
    model: keras.Model,
    train: tuple,
    val: tuple | None,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    callbacks: list | None = None,
    verbose: int = 0,
) -> keras.callbacks.History:
    """Stage 1: train the model's own dropout + classifier layers on pooled features ((N, C), labels).

    The backbone is frozen, so its features never change: one pass replaces a pass per epoch (augmentation,
    which would change them, is kept for stage 2).
    """
    head = keras.Sequential(
        [keras.Input(train[0].shape[1:]), model.get_layer("dropout"), model.get_layer("classifier")]
    )
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return head.fit(
        *train, validation_data=val, epochs=epochs, batch_size=batch_size, callbacks=callbacks or [], verbose=verbose
    )


def linear_probe_accuracy(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    classes: int,
    seed: int,
    epochs: int = 150,
) -> float:
    """Test accuracy of a softmax head trained on cached pooled features (N, C): stage 1 without augmentation."""
    keras.utils.set_random_seed(seed)
    head = keras.Sequential([keras.Input(train_features.shape[1:]), layers.Dense(classes, activation="softmax")])
    head.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    head.fit(train_features, train_labels, epochs=epochs, batch_size=256, verbose=0)
    return float(head.evaluate(test_features, test_labels, verbose=0)[1])

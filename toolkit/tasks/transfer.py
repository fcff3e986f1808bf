"""Transfer learning: an ImageNet backbone, frozen and then fine-tuned, on the flower photos or anyone's folder.

The course's two stages, with the same network trained from scratch as the comparison:
1. the ImageNet backbone (EfficientNet-Lite0, converted from PyTorch; see toolkit/backbones) is frozen and only a
   new head (pooling, dropout, softmax) is trained on its pooled features, computed once;
2. the backbone's layers from `fine_tune_from=block4a` onwards are unfrozen and trained with a lower learning rate;
   BatchNorm stays in inference mode (the backbone is called with `training=False` and its BN layers stay
   frozen), so a small batch never overwrites the ImageNet statistics.

`model=scratch` is the same network from random weights. The evaluation adds a curve over the label budget
(10, 50, all labels per class) from linear heads on frozen features, which costs one pass of the backbone.

Data: `<data dir>/<dataset>/<class>/*.jpg` (flower_photos by default, the tf_flowers photos at their own
resolution; any such folder works), or tf_flowers from tensorflow-datasets with `source=tfds`, split 70/15/15 per
class with a fixed seed. Every photo, whatever its shape, is fitted to S x S (S = `image_size`, the backbone's
native 224) by one policy, `toolkit.data.image_folder.fit_image`: the centre square, resized bilinearly. Models
take raw RGB pixels 0-255, (N, S, S, 3), and return class probabilities (N, classes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers
from omegaconf import DictConfig, OmegaConf

from toolkit import backbones, pretrained
from toolkit.classification import classification_report, compile_classifier
from toolkit.config import RunConfig
from toolkit.data.image_folder import fit_image, list_image_folder, load_image_folder
from toolkit.data.paths import require_files
from toolkit.data.tfds_source import FLOWER_PHOTOS_CLASSES, load_tfds_flowers, reads_tfds, source_info
from toolkit.errors import ConfigError, InputError
from toolkit.precision import policy_scope
from toolkit.tasks.base import Data, Evaluation, Task, fit_kwargs

FLOWERS = list(FLOWER_PHOTOS_CLASSES)
SPLIT = (0.70, 0.15, 0.15)  # train / validation / test, per class
SPLIT_SEED = 0  # fixed apart from `seed`, so every run and every evaluation sees the same test photos
LABEL_BUDGETS = (10, 50, None)  # labels per class on the learning curve; None = all
SHIP_DTYPES = ("float32", "bfloat16", "float16")
MIN_PHOTOS_PER_CLASS = 6  # with fewer, rounding leaves a class out of the validation or the test split


@dataclass
class TransferConfig(RunConfig):
    model: str = "transfer"  # transfer | scratch
    dataset: str = "flower_photos"  # <data dir>/<dataset>/<class>/*.jpg, or an absolute folder
    image_size: int = 224  # the backbone's native size; every photo's centre square is resized to it
    backbone: str = "efficientnet_lite0"  # or a keras.applications name with backbone_weights
    backbone_weights: str | None = None  # local weights file; efficientnet_lite0 defaults to the shipped one
    epochs: int = 30  # stage 1: frozen backbone, new head trained on cached features
    learning_rate: float = 1e-3
    fine_tune_epochs: int = 10  # stage 2 (transfer only); scratch trains `epochs` on images
    fine_tune_from: str = "block4a"  # first backbone layer (name prefix) trained in stage 2: blocks 4-7 and top
    fine_tune_learning_rate: float = 1e-4  # stage 2 learning rate (Adam, cosine-decayed)
    batch_size: int = 32
    dropout: float = 0.3  # before the new classifier head
    label_smoothing: float = 0.1  # stage 2 and scratch: targets 0.9 + 0.1/classes, against over-confident heads
    ship_dtype: str = "bfloat16"  # weights (and compute) of the shipped file: float32 | bfloat16 | float16
    # Depthwise convolutions lose in bfloat16 on the TensorFlow CPU path: float32 fine-tunes Lite0 1.25x faster here
    # (39.4 against 31.4 images/s, bench/results/transfer.md).
    precision: str = "float32"
    label_curve: bool = True  # evaluate: also the accuracy over 10 / 50 / all labels per class
    probe_epochs: int = 150  # evaluate: epochs of each linear head on the curve (batch 256)
    scratch_curve_epochs: int = 10  # evaluate: epochs of the from-scratch network on 10 labels per class


# --- data -----------------------------------------------------------------------------------------------------


def dataset_root(config: DictConfig) -> Path:
    expected = FLOWERS if config.dataset == "flower_photos" else []
    return require_files("transfer", config.dataset, expected, config.data_dir)


def from_tfds(config: DictConfig) -> bool:
    """Whether the photos come from tensorflow-datasets (`source=tfds`), which holds the flowers only."""
    if reads_tfds(config.source) and config.dataset != "flower_photos":
        raise ConfigError(f"source=tfds has tf_flowers only: dataset={config.dataset} needs source=files.")
    return reads_tfds(config.source)


def class_names(config: DictConfig) -> list[str]:
    return list(FLOWERS) if from_tfds(config) else list_image_folder(dataset_root(config))[2]


def stratified_split(labels: np.ndarray, fractions=SPLIT, seed: int = SPLIT_SEED) -> list[np.ndarray]:
    """Indices of train / validation / test: each class cut 70/15/15 after a seeded shuffle, then mixed."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cuts = np.round(np.cumsum(fractions)[:-1] * len(members)).astype(int)
        for part, chunk in zip(parts, np.split(members, cuts)):
            part.extend(chunk)
    return [rng.permutation(np.asarray(part, dtype=int)) for part in parts]


def load_splits(config: DictConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train", "val", "test"}: uint8 images (N, S, S, 3) and int32 labels, each cut to `limit`."""
    size = (config.image_size, config.image_size)
    if from_tfds(config):
        images, labels = load_tfds_flowers("transfer", FLOWERS, size, "flower_photos/<class>/*.jpg", config.data_dir)
    else:  # a user's folder may be small; tf_flowers is not
        images, labels, classes = load_image_folder(dataset_root(config), image_size=size)
        require_photos_per_class(labels, classes, config.dataset)
    splits = dict(zip(("train", "val", "test"), stratified_split(labels)))
    return {name: (images[idx[: config.limit]], labels[idx[: config.limit]]) for name, idx in splits.items()}


def require_photos_per_class(labels: np.ndarray, classes: list[str], dataset: str) -> None:
    """Stop before training when a class is too small for the 70/15/15 split to hold any of it out (under 6)."""
    counts = np.bincount(labels, minlength=len(classes))
    small = {name: int(n) for name, n in zip(classes, counts) if n < MIN_PHOTOS_PER_CLASS}
    if small:
        raise InputError(
            f"{dataset}: each class needs at least {MIN_PHOTOS_PER_CLASS} photos, so that 15 % of it can be held out "
            f"for validation and 15 % for the test; too few in {small}. Add photos or leave those classes out."
        )


def test_image_paths(config: DictConfig | None = None) -> list[tuple[str, str]]:
    """(file, class name) of the test split, without decoding any image (for pickers in the app)."""
    config = config or OmegaConf.structured(TransferConfig())
    paths, labels, classes = list_image_folder(dataset_root(config))
    return [(str(paths[i]), classes[labels[i]]) for i in stratified_split(labels)[2]]


def first_per_class(labels: np.ndarray, count: int | None) -> np.ndarray:
    """Indices of the first `count` examples of each class (all with None): a label budget."""
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:count] for c in np.unique(labels)]))


# --- model ----------------------------------------------------------------------------------------------------


def make_backbone(config: DictConfig, pretrained_weights: bool = True) -> keras.Model:
    """The feature extractor named `backbone`: pixels 0-255 (N, S, S, 3) -> feature maps (N, s, s, C)."""
    shape = (config.image_size, config.image_size, 3)
    if config.backbone == "efficientnet_lite0":
        weights = (config.backbone_weights or "imagenet") if pretrained_weights else None
        model = backbones.load_efficientnet_lite0(weights, include_top=False, input_shape=shape)
    else:
        if pretrained_weights and not config.backbone_weights:
            raise ConfigError(f"backbone={config.backbone} needs backbone_weights=/path/to/weights.h5 (no downloads).")
        model = backbones.keras_application(
            config.backbone, config.backbone_weights if pretrained_weights else None, shape
        )
    return keras.Model(model.input, model.output, name="backbone")


def augmentation() -> keras.Sequential:
    """Flips, small rotations and zooms; active in training only."""
    return keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.08), layers.RandomZoom((-0.15, 0.0))],
        name="augmentation",
    )


def _classifier(config: DictConfig, backbone: keras.Model, frozen_statistics: bool, name: str) -> keras.Model:
    if config.ship_dtype not in SHIP_DTYPES:  # checked when the model is built, not after its training
        raise ConfigError(f"ship_dtype={config.ship_dtype} is not one of {', '.join(SHIP_DTYPES)}.")
    inputs = keras.Input((config.image_size, config.image_size, 3), name="pixels")
    x = augmentation()(inputs)
    x = backbone(x, training=False) if frozen_statistics else backbone(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(config.dropout, name="dropout")(x)
    outputs = layers.Dense(len(class_names(config)), activation="softmax", dtype="float32", name="classifier")(x)
    return keras.Model(inputs, outputs, name=name)


def build_transfer(config: DictConfig) -> keras.Model:
    """ImageNet backbone (frozen: stage 1) + new head. BatchNorm always uses the ImageNet statistics."""
    model = _classifier(config, make_backbone(config), frozen_statistics=True, name="transfer")
    set_trainable(model, fine_tune_from=None)
    return model


def build_scratch(config: DictConfig) -> keras.Model:
    """The same network from random weights, every layer trained (BatchNorm learns its statistics)."""
    return _classifier(config, make_backbone(config, pretrained_weights=False), frozen_statistics=False, name="scratch")


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


# --- stage 1: the head on cached features -----------------------------------------------------------------------


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


# --- evaluation -----------------------------------------------------------------------------------------------


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


def label_budget_rows(config: DictConfig, splits, classes: list[str]) -> list[dict]:
    """Transfer (frozen features + linear head) vs scratch over labels per class, on the test split."""
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    untrained_head = build_transfer(config)  # only its ImageNet backbone and pooling are used
    f_train, f_test = pooled_features(untrained_head, x_train), pooled_features(untrained_head, x_test)
    rows = []
    for budget in LABEL_BUDGETS:
        idx = first_per_class(y_train, budget)
        accuracy = linear_probe_accuracy(
            f_train[idx], y_train[idx], f_test, y_test, len(classes), config.seed, config.probe_epochs
        )
        rows.append(_row("transfer: frozen backbone + linear head", budget or "all", len(idx), accuracy))
    if config.scratch_curve_epochs:
        idx = first_per_class(y_train, LABEL_BUDGETS[0])
        keras.utils.set_random_seed(config.seed)
        scratch = build_scratch(config)
        compile_classifier(scratch, config, steps_per_epoch=max(1, len(idx) // config.batch_size))
        scratch.fit(
            x_train[idx], y_train[idx], batch_size=config.batch_size, epochs=config.scratch_curve_epochs, verbose=0
        )
        accuracy = float(np.mean(scratch.predict(x_test, verbose=0).argmax(-1) == y_test))
        rows.append(_row("scratch: same network, random init", LABEL_BUDGETS[0], len(idx), accuracy))
    return rows


def _row(model: str, labels_per_class, train_examples: int, accuracy: float) -> dict:
    return {
        "model": model,
        "labels/class": str(labels_per_class),
        "train examples": train_examples,
        "test accuracy": accuracy,
    }


# --- using the models (the app) -------------------------------------------------------------------------------


def prepare_photo(image: np.ndarray, size: int) -> np.ndarray:
    """Any RGB photo uint8 (H, W, 3) -> uint8 (size, size, 3) by the files' policy (`fit_image`: centre square)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3 or min(image.shape[:2]) < 8:
        raise InputError(f"Expected an RGB image of at least 8x8 pixels, got shape {image.shape}.")
    photo = keras.utils.array_to_img(image, scale=False)
    return np.asarray(fit_image(photo, (size, size)), dtype=np.uint8)


def class_probabilities(model: keras.Model, image: np.ndarray, classes: list[str]) -> dict[str, float]:
    """{class: probability} of one photo under a transfer model, most likely first."""
    probabilities = model.predict(prepare_photo(image, model.input_shape[1])[None], verbose=0)[0]
    return dict(sorted(zip(classes, map(float, probabilities)), key=lambda item: -item[1]))


def imagenet_top5(classifier: keras.Model, image: np.ndarray) -> list[tuple[str, float]]:
    """What the raw backbone sees: the ImageNet top-5 of `load_efficientnet_lite0(include_top=True)`."""
    logits = classifier.predict(prepare_photo(image, classifier.input_shape[1] or 224)[None], verbose=0)
    return backbones.imagenet_top_k(keras.ops.convert_to_numpy(keras.ops.softmax(logits[0])), 5)


@dataclass
class HeadResult:
    model: keras.Model  # pixels (N, S, S, 3) -> probabilities over `classes`
    classes: list[str]
    images_per_class: dict[str, int]
    test_accuracy: float | None  # on 15% held out per class; None when a class has too few images


def fit_head_on_folder(root: str | Path, image_size: int = 224, epochs: int = 100, on_epoch=None) -> HeadResult:
    """Stage 1 on a user's `<root>/<class>/*.jpg`: a new head on cached frozen Lite0 features.

    `on_epoch(done, total)` is called after every epoch (a progress bar). 15% of each class is held out.
    """
    config = OmegaConf.structured(TransferConfig(dataset=str(Path(root).resolve()), image_size=image_size))
    images, labels, classes = load_image_folder(dataset_root(config), image_size=(image_size, image_size))
    counts = dict(zip(classes, map(int, np.bincount(labels, minlength=len(classes)))))
    if len(classes) < 2 or min(counts.values()) < 2:
        raise InputError(f"Need at least 2 classes with 2 or more images each; found {counts}.")
    train, test = stratified_split(labels, (0.85, 0.15))
    if min(counts.values()) < 7:  # too few to hold any out: train on everything, report no accuracy
        train, test = np.arange(len(labels)), np.arange(0)
    model = build_transfer(config)
    features = pooled_features(model, images)
    progress = [keras.callbacks.LambdaCallback(on_epoch_end=lambda e, _: on_epoch(e + 1, epochs))] if on_epoch else []
    fit_head(model, (features[train], labels[train]), None, epochs, 3e-3, 256, progress)
    probe = keras.Sequential([model.get_layer("dropout"), model.get_layer("classifier")])
    accuracy = (
        float(np.mean(probe.predict(features[test], verbose=0).argmax(-1) == labels[test])) if len(test) else None
    )
    return HeadResult(model, classes, counts, accuracy)


class Transfer(Task):
    name = "transfer"
    summary = "Transfer learning from ImageNet EfficientNet-Lite0 (frozen, then fine-tuned) vs training from scratch"
    Config = TransferConfig
    models = {"transfer": build_transfer, "scratch": build_scratch}
    metric = "test_accuracy"
    metric_label = "test accuracy"
    contract = (
        "input: raw RGB pixels 0-255, (N, image_size, image_size, 3); "
        "output: class probabilities (N, classes), classes in the card's details"
    )
    # No best-checkpoint across the two stages: it would pick by a loss measured under two different set-ups
    # and store Adam's slots (twice the backbone) in the shipped file. The final weights ship.
    monitor = ""

    def artifact(self, config: DictConfig) -> str:
        stem = f"transfer_{Path(config.dataset).name}"
        return stem if config.model == "transfer" else f"{stem}_{config.model}"

    def data(self, config: DictConfig) -> Data:
        splits = load_splits(config)
        info = {
            "name": config.dataset,
            "classes": class_names(config),
            "split": "stratified 70/15/15, seed 0",
            **{name: len(part[1]) for name, part in splits.items()},
            **source_info(config.source, "flower_photos", config.data_dir),
        }
        return Data(splits["train"], splits["val"], info)

    def compile(self, model: keras.Model, config: DictConfig, steps_per_epoch: int) -> None:
        compile_classifier(model, config, steps_per_epoch, label_smoothing=config.label_smoothing)

    def fit(self, model, data, config, callbacks):
        """`transfer`: stage 1 (head on cached features), then stage 2 (top blocks, augmented images, lower rate).

        `scratch`: plain training of every layer for `epochs`. Stage 2 runs with the frame's callbacks (log,
        backup); its epochs are numbered after stage 1's.
        """
        history = (
            self._two_stages(model, data, config, callbacks)
            if config.model == "transfer"
            else (super().fit(model, data, config, callbacks))
        )
        # Plain SGD keeps no per-weight slots: the shipped file holds the weights only, not Adam's two copies.
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.optimizer.build(model.trainable_variables)
        return history

    def _two_stages(self, model, data, config, callbacks) -> keras.callbacks.History:
        train = (pooled_features(model, data.train[0]), data.train[1])
        val = (pooled_features(model, data.val[0]), data.val[1])
        history = fit_head(
            model, train, val, config.epochs, config.learning_rate, config.batch_size, verbose=config.verbose
        )
        if config.fine_tune_epochs:
            set_trainable(model, config.fine_tune_from)
            steps = int(np.ceil(len(data.train[1]) / config.batch_size))
            stage2 = {"learning_rate": config.fine_tune_learning_rate, "epochs": config.fine_tune_epochs}
            compile_classifier(model, OmegaConf.merge(config, stage2), steps, label_smoothing=config.label_smoothing)
            fine = model.fit(
                **fit_kwargs(data.train, config.batch_size),
                validation_data=data.val,
                initial_epoch=config.epochs,
                epochs=config.epochs + config.fine_tune_epochs,
                callbacks=callbacks,
                verbose=config.verbose,
            )
            for key, values in fine.history.items():
                history.history.setdefault(key, []).extend(values)
        return history

    def shipping_model(self, model: keras.Model, config: DictConfig) -> keras.Model:
        """The model with its weights in `ship_dtype`: 16 bits halve the file (the classifier stays float32).

        The card's figures come from this copy, not from the float32 weights it was trained in.
        """
        if config.ship_dtype == "float32":
            return model
        with policy_scope(config.ship_dtype):
            copy = self.models[config.model](config)
        copy.set_weights(model.get_weights())
        return copy

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        config = OmegaConf.merge(config, {"image_size": int(model.input_shape[1])})
        splits = load_splits(config)
        classes = class_names(config)
        images, labels = splits["test"]
        evaluation = classification_report(model, images, labels, classes)
        n_train = len(splits["train"][1])
        stage = "transfer: fine-tuned (stage 2)" if model.name == "transfer" else f"{model.name}: evaluated model"
        rows = [_row(stage, "all", n_train, evaluation.metrics["test_accuracy"])]
        scratch_name = self.artifact(OmegaConf.merge(config, {"model": "scratch"}))
        if model.name == "transfer" and scratch_name in pretrained.list():
            scratch = pretrained.load(scratch_name)
            accuracy = float(np.mean(scratch.predict(images, verbose=0).argmax(-1) == labels))
            rows.append(_row(f"scratch: same network, random init ({scratch_name})", "all", n_train, accuracy))
            evaluation.metrics["scratch_test_accuracy"] = accuracy
        if config.label_curve:
            curve = label_budget_rows(config, splits, classes)
            rows += curve
            evaluation.details["label_budget_curve"] = curve
        evaluation.table = rows
        return evaluation


TASK = Transfer()

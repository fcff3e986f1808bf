"""Transfer task adapter: settings, the two training stages and the evaluation of `toolkit.transfer`'s models.

- `transfer` (the default): stage 1 trains a new head on the frozen ImageNet backbone's cached features for
  `epochs`, stage 2 fine-tunes the backbone from `fine_tune_from` with images for `fine_tune_epochs`;
- `scratch`: the same network from random weights, every layer trained for `epochs`.

The shipped file holds `ship_dtype` weights and no optimizer slots. The evaluation measures the test split of the
fixed 70/15/15 cut, beside the shipped scratch model when there is one, and adds a curve over the label budget
(10, 50, all labels per class) from linear heads on frozen features. The story is in `toolkit/transfer/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from omegaconf import DictConfig, OmegaConf

from toolkit import pretrained
from toolkit.classification import classification_report, compile_classifier
from toolkit.config import RunConfig, require_choice
from toolkit.data.tfds_source import source_info
from toolkit.precision import policy_scope
from toolkit.tasks.base import Data, Evaluation, Task
from toolkit.transfer.data import DEFAULT_DATASET, class_names, first_per_class, load_photo_splits
from toolkit.transfer.models import (
    DEFAULT_BACKBONE,
    build_scratch,
    build_transfer,
    fit_head,
    linear_probe_accuracy,
    pooled_features,
    set_trainable,
)

LABEL_BUDGETS = (10, 50, None)  # labels per class on the learning curve; None = all
SHIP_DTYPES = ("float32", "bfloat16", "float16")


@dataclass
class TransferConfig(RunConfig):
    model: str = "transfer"  # transfer | scratch
    dataset: str = DEFAULT_DATASET  # <data dir>/<dataset>/<class>/*.jpg, or an absolute folder
    image_size: int = 224  # the backbone's native size; every photo's centre square is resized to it
    backbone: str = DEFAULT_BACKBONE  # or a keras.applications name with backbone_weights
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


def dataset_classes(config: DictConfig) -> list[str]:
    """The class names of the run's data set, in label order (the folder is listed, no photo is read)."""
    return class_names(config.dataset, config.source, config.data_dir)


def dataset_splits(config: DictConfig) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return load_photo_splits(config.dataset, config.image_size, config.source, config.data_dir, config.limit)


def build_transfer_model(config: DictConfig, classes: int | None = None) -> keras.Model:
    """`transfer`: the ImageNet backbone, frozen, with a new head over `classes` (default: the data set's)."""
    require_choice("ship_dtype", config.ship_dtype, SHIP_DTYPES)  # at build time, not after the training
    classes = len(dataset_classes(config)) if classes is None else classes
    return build_transfer(classes, config.image_size, config.backbone, config.backbone_weights, config.dropout)


def build_scratch_model(config: DictConfig, classes: int | None = None) -> keras.Model:
    """`scratch`: the same network from random weights."""
    require_choice("ship_dtype", config.ship_dtype, SHIP_DTYPES)
    classes = len(dataset_classes(config)) if classes is None else classes
    return build_scratch(classes, config.image_size, config.backbone, config.dropout)


# --- evaluation -----------------------------------------------------------------------------------------------


def label_budget_rows(config: DictConfig, splits, classes: list[str]) -> list[dict]:
    """Transfer (frozen features + linear head) vs scratch over labels per class, on the test split."""
    (x_train, y_train), (x_test, y_test) = splits["train"], splits["test"]
    untrained_head = build_transfer_model(config, len(classes))  # only its ImageNet backbone and pooling are used
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
        scratch = build_scratch_model(config, len(classes))
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


class Transfer(Task):
    name = "transfer"
    summary = "Transfer learning from ImageNet EfficientNet-Lite0 (frozen, then fine-tuned) vs training from scratch"
    Config = TransferConfig
    models = {"transfer": build_transfer_model, "scratch": build_scratch_model}
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
        splits = dataset_splits(config)
        info = {
            "name": config.dataset,
            "classes": dataset_classes(config),
            "split": "stratified 70/15/15, seed 0",
            **{name: len(part[1]) for name, part in splits.items()},
            **source_info(config.source, DEFAULT_DATASET, config.data_dir),
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
        (images, labels), (val_images, val_labels) = data.train.arrays, data.val.arrays  # the trainer's batches
        train = (pooled_features(model, images), labels)
        val = (pooled_features(model, val_images), val_labels)
        history = fit_head(
            model, train, val, config.epochs, config.learning_rate, config.batch_size, verbose=config.verbose
        )
        if config.fine_tune_epochs:
            set_trainable(model, config.fine_tune_from)
            steps = len(data.train)
            stage2 = {"learning_rate": config.fine_tune_learning_rate, "epochs": config.fine_tune_epochs}
            compile_classifier(model, OmegaConf.merge(config, stage2), steps, label_smoothing=config.label_smoothing)
            fine = model.fit(
                data.train,
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
            copy = self.models[config.model](config, model.output_shape[-1])
        copy.set_weights(model.get_weights())
        return copy

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        config = OmegaConf.merge(config, {"image_size": int(model.input_shape[1])})
        splits = dataset_splits(config)
        classes = dataset_classes(config)
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

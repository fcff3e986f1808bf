"""Digits task adapter: settings, training data and the test-split evaluation of `toolkit.digits`'s networks.

- `mlp`, `lenet5` (LeCun et al. 1998) and `cnn` (BatchNorm, ReLU, dropout; the default): see
  `toolkit.digits.models`.

All three train on randomly shifted and rotated digits (`augment=false` turns that off), with Adam and the
shared classifier schedule (`toolkit.classification.compile_classifier`); the last `validation_size` training
images pick the best epoch. Evaluation reports the error on MNIST's 10,000 test digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from omegaconf import DictConfig

from toolkit.classification import classification_report, compile_classifier
from toolkit.config import RunConfig
from toolkit.data.tfds_source import source_info
from toolkit.digits.data import DATASETS, load_digit_split
from toolkit.digits.models import build_cnn, build_lenet5, build_mlp
from toolkit.digits.predict import CLASS_NAMES
from toolkit.tasks.base import Data, Evaluation, Task


@dataclass
class DigitsConfig(RunConfig):
    model: str = "cnn"  # cnn (modern: BatchNorm, ReLU, dropout) | lenet5 (LeCun et al. 1998) | mlp
    dataset: str = "mnist"  # the digits to learn: mnist (the only one so far)
    epochs: int = 15
    batch_size: int = 128
    learning_rate: float = 2e-3
    validation_size: int = 5000  # held out from the end of the 60k training images
    dropout: float = 0.25  # dropout before the classifier (mlp: after each hidden layer)
    augment: bool = True  # shifts up to 10% and rotations up to 10 degrees (LeCun 1998's "distortions")


def _split(config: DictConfig, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of `split` as the settings ask (data set, directory, limit, source)."""
    return load_digit_split(config.dataset, split, config.data_dir, config.limit, config.source)


class Digits(Task):
    name = "digits"
    summary = "MNIST handwritten digits: MLP, LeNet-5 and a modern CNN"
    Config = DigitsConfig
    models = {
        "mlp": lambda config: build_mlp(config.dropout, config.augment),
        "lenet5": lambda config: build_lenet5(config.augment),
        "cnn": lambda config: build_cnn(config.dropout, config.augment),
    }
    metric = "test_error_pct"
    metric_label = "test error (%)"
    higher_is_better = False
    contract = "input: raw pixels 0-255, (N, 28, 28, 1), uint8 or float; output: class probabilities (N, 10)"

    def data(self, config: DictConfig) -> Data:
        images, labels = _split(config, "train")
        val = min(config.validation_size, len(images) // 5)
        train, held_out = (images[:-val], labels[:-val]), (images[-val:], labels[-val:])
        test_size = len(_split(config, "test")[1])
        info = {"name": DATASETS[config.dataset], "train": len(train[0]), "validation": val, "test": test_size}
        info |= source_info(config.source, config.dataset, config.data_dir)
        return Data(train, held_out, info)

    def compile(self, model: keras.Model, config: DictConfig, steps_per_epoch: int) -> None:
        compile_classifier(model, config, steps_per_epoch)

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        images, labels = _split(config, "test")
        return classification_report(model, images, labels, CLASS_NAMES)


TASK = Digits()

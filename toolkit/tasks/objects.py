"""Objects task adapter: settings, training data, the training recipe and the test-split evaluation of
`toolkit.objects`'s networks on Fashion-MNIST and CIFAR-10.

- `airbench` (default; the fast recipe), `vgg_small` and `resnet` (He et al. 2016, depth 6n + 2): see
  `toolkit.objects.models`. The settings below choose each network's sizes, the input stem's augmentation and
  the recipe: SGD with Nesterov momentum (`optimizer=muon`: Muon for the convolution filters, as airbench94_muon),
  a short warm-up then cosine decay, decoupled weight decay, label smoothing and, for airbench, lookahead (the
  weights pulled towards a slow average of themselves in the last 70 % of the run). airbench's patch-whitening
  filters are set from the training images before the first step; with `freeze_whitening`, its bias trains for
  that many epochs only, as airbench94's.

Evaluation reports the accuracy on the data set's 10,000 test images with a confusion matrix (drawn into the run
folder after training).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
from omegaconf import DictConfig

from toolkit.classification import Lookahead, classification_report, compile_classifier, save_confusion_matrix
from toolkit.config import RunConfig, require_choice
from toolkit.data.cifar import cifar10_version
from toolkit.data.tfds_source import source_info
from toolkit.errors import ConfigError, InputError
from toolkit.objects.data import get_dataset, load_object_split
from toolkit.objects.models import (
    FreezeWhiteningBias,
    InputStem,
    adapt_whitening,
    build_airbench,
    build_resnet,
    build_vgg_small,
)
from toolkit.objects.predict import artifact_name
from toolkit.tasks.base import Data, Evaluation, Task


@dataclass
class ObjectsConfig(RunConfig):
    dataset: str = "fashion_mnist"  # fashion_mnist | cifar10
    model: str = "airbench"  # airbench (fast recipe) | resnet (He et al.: batch_size=128 learning_rate=0.1) | vgg_small
    widths: list[int] = field(default_factory=lambda: [64, 256, 256])  # airbench: filters of its three blocks
    depth: int = 20  # resnet: 6n + 2 layers (20, 32, 56, ...)
    norm: str = "batch"  # resnet: batch (BatchNorm) | none (SkipInit: no normalisation, fast in bfloat16 on CPUs)
    bias_boost: float = 1.0  # airbench: BatchNorm biases learn this many times faster (airbench 64; no gain here)
    float32_stem: bool = False  # normalise, augment, whiten in float32 rather than bfloat16 (measured: no gain)
    bn_momentum: float = 0.9  # share of BatchNorm's running statistics kept per step (airbench: 0.6)
    activation: str = "relu"  # airbench: relu | gelu (airbench's own; slower in bfloat16 on CPUs)
    width: int = 32  # vgg_small: filters of the first block, doubled per block
    epochs: int = 16
    batch_size: int = 500
    learning_rate: float = 0.4  # peak rate of SGD with Nesterov momentum: warm-up, then cosine decay to 0
    momentum: float = 0.9  # SGD's Nesterov momentum (airbench: 0.85)
    optimizer: str = "sgd"  # sgd (Nesterov) | muon: Muon for the convolution filters, this SGD for the rest
    muon_learning_rate: float = 0.24  # optimizer=muon: the filters' peak rate, same schedule (airbench94_muon's)
    muon_momentum: float = 0.6  # optimizer=muon: the filters' Nesterov momentum (airbench94_muon's)
    warmup: float = 0.2  # fraction of the run over which the rate rises linearly from a tenth of its peak
    weight_decay: float = 5e-3  # decoupled (times the rate): about L2 5e-4 through momentum 0.9
    label_smoothing: float = 0.2  # share of each target spread over all classes (0 = plain cross-entropy)
    dropout: float = 0.2  # vgg_small: dropout after each block and before the classifier
    lookahead: bool = True  # airbench: pull the weights towards a slow copy of them in the run's last 70 %
    freeze_whitening: int = 0  # airbench: epoch from which its whitening bias is frozen (airbench94: 3); 0 = never
    shift: int = 2  # augmentation: random shifts of up to this many pixels (pad-and-crop); 0 = off
    shift_fill: str = "constant"  # what a shift uncovers: constant (the mean colour) | reflect (mirror, as airbench)
    cutout: int = 0  # augmentation: blank one random square of this side (pixels) in every training image; 0 = off
    validation_size: int = 5000  # held out from the end of the training split, picks the best epoch; 0 = none


def input_stem(config: DictConfig) -> InputStem:
    """The networks' input layers for the settings: the data set's image shape and statistics, the augmentation."""
    data = get_dataset(config.dataset)
    return InputStem(
        data.shape,
        data.mean,
        data.std,
        shift=config.shift,
        shift_fill=config.shift_fill,
        cutout=config.cutout,
        float32=config.float32_stem,
    )


def _split(config: DictConfig, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of `split` as the settings ask (data set, directory, limit, source)."""
    return load_object_split(config.dataset, split, config.data_dir, config.limit, config.source)


class Objects(Task):
    name = "objects"
    summary = "Object classification on Fashion-MNIST and CIFAR-10: VGG-style network and CIFAR ResNets"
    Config = ObjectsConfig
    models = {
        "airbench": lambda config: build_airbench(
            input_stem(config), list(config.widths), config.bias_boost, config.bn_momentum, config.activation
        ),
        "vgg_small": lambda config: build_vgg_small(input_stem(config), config.width, config.dropout),
        "resnet": lambda config: build_resnet(input_stem(config), config.depth, config.norm),
    }
    metric = "test_accuracy"
    metric_label = "test accuracy"
    monitor = "val_accuracy"
    contract = (
        "input: raw pixels 0-255, uint8 or float, (N, 28, 28, 1) for Fashion-MNIST or (N, 32, 32, 3) RGB for "
        "CIFAR-10; output: class probabilities (N, 10) in the data set's official class order"
    )

    def artifact(self, config: DictConfig) -> str:
        get_dataset(config.dataset)
        return artifact_name(config.dataset)

    def data(self, config: DictConfig) -> Data:
        data = get_dataset(config.dataset)
        images, labels = _split(config, "train")
        val = min(config.validation_size, len(images) // 5)
        if val:
            train, held_out = (images[:-val], labels[:-val]), (images[-val:], labels[-val:])
        else:  # train on every image; the run keeps its last epoch
            train, held_out = (images, labels), None
        info = {"name": data.name, "train": len(train[0]), "validation": val}
        info |= source_info(config.source, config.dataset, config.data_dir)
        if config.dataset == "cifar10" and "source" not in info:  # from the files: which of their two copies
            info["version"] = cifar10_version(config.data_dir)
        return Data(train, held_out, info)

    def build(self, config: DictConfig) -> keras.Model:
        if not 0 <= config.momentum < 1:  # checked here, before the trainer makes the run folder
            raise ConfigError(f"momentum={config.momentum}: SGD's momentum lies in [0, 1).")
        if config.freeze_whitening < 0:
            raise ConfigError(f"freeze_whitening={config.freeze_whitening}: an epoch (0 = never freeze).")
        require_choice("optimizer", config.optimizer, ("sgd", "muon"))
        return super().build(config)

    def compile(self, model: keras.Model, config: DictConfig, steps_per_epoch: int) -> None:
        compile_classifier(
            model,
            config,
            steps_per_epoch,
            optimizer=config.optimizer,
            momentum=config.momentum,
            muon_learning_rate=config.muon_learning_rate,
            muon_momentum=config.muon_momentum,
            weight_decay=config.weight_decay,
            label_smoothing=config.label_smoothing,
            warmup=config.warmup,
        )

    def initialize(self, model: keras.Model, data: Data, config: DictConfig) -> None:
        adapt_whitening(model, data.train[0])

    def fit(
        self, model: keras.Model, data: Data, config: DictConfig, callbacks: list[keras.callbacks.Callback]
    ) -> keras.callbacks.History:
        if config.lookahead and config.model == "airbench":  # first: the end-of-epoch backup saves the slow copy
            callbacks = [Lookahead(), *callbacks]
        if config.freeze_whitening and config.model == "airbench":
            callbacks = [FreezeWhiteningBias(config.freeze_whitening), *callbacks]
        return super().fit(model, data, config, callbacks)

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        data = get_dataset(config.dataset)
        images, labels = _split(config, "test")
        if model.input_shape[1:] != data.shape:
            raise InputError(f"The model takes {model.input_shape[1:]} images, {data.name} has {data.shape}.")
        evaluation = classification_report(model, images, labels, data.classes)
        if config.run_dir:
            picture = save_confusion_matrix(
                evaluation.details["confusion_matrix"],
                data.classes,
                f"{config.run_dir}/confusion_matrix.png",
                title=f"{model.name} on the {data.name} test split",
            )
            evaluation.details["confusion_matrix_image"] = str(picture)
        return evaluation


TASK = Objects()

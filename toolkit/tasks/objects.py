"""Objects: Fashion-MNIST and CIFAR-10 classification with a fast airbench-style network, VGG and CIFAR ResNets.

- `airbench` (default): the fast-training recipe of Page's ResNet-9 and Jordan's airbench, in this toolkit's
  terms. A fixed 2x2 patch-whitening convolution, then three blocks of conv - max-pool - BatchNorm - ReLU - conv -
  BatchNorm - ReLU (`widths` filters), global max pooling and a linear layer. The convolutions start near the
  identity, and test-time augmentation (mirrors and one-pixel moves) is part of the model. Every normalisation
  runs after a pooling, at a quarter of the resolution or less, and the activation is ReLU: on CPUs BatchNorm
  is slow in bfloat16 (bench/results/fast_path.md), and so is GELU (`activation=gelu`, airbench's own). Trained
  with label smoothing, a short warm-up + cosine schedule and lookahead (the weights pulled towards a slow
  average of themselves in the last 70 % of the run).
- `vgg_small`: VGG blocks (two 3x3 convolutions with BatchNorm, then max-pooling and dropout),
  global average pooling and one dense layer.
- `resnet`: He et al. 2016, section 4.2: a 3x3 stem, three stages of basic blocks (16, 32, 64 filters),
  identity shortcuts with zero-padded channels ("option A"), global average pooling; `depth` = 6n + 2
  (20, 32, 56: 0.27M, 0.46M, 0.85M parameters).

`dataset=fashion_mnist|cifar10`. Every model takes raw pixels 0-255, (N, 28, 28, 1) for Fashion-MNIST or
(N, 32, 32, 3) for CIFAR-10, and returns probabilities (N, 10) in the data set's official class order:
per-channel standardisation and augmentation (random shifts of up to `shift` pixels, i.e. pad-and-crop,
horizontal flips and, with `cutout`, a blanked square; all off at inference) are layers of the model, so callers
never preprocess.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
from keras import layers
from omegaconf import DictConfig

from toolkit.classification import Lookahead, classification_report, compile_classifier, save_confusion_matrix
from toolkit.config import RunConfig, require_choice
from toolkit.data.cifar import CIFAR10_CLASSES, cifar10_version, load_cifar10
from toolkit.data.idx import load_idx_split
from toolkit.data.tfds_source import source_info
from toolkit.errors import ConfigError, InputError
from toolkit.layers import BoostedBias, Cutout, MeanOverFlips, PartialIdentity, PatchWhitening, SkipInit, TestTimeFlips
from toolkit.tasks.base import Data, Evaluation, Task


@dataclass(frozen=True)
class DataSet:
    name: str
    shape: tuple[int, int, int]  # (H, W, C) of one raw image
    classes: list[str]
    mean: list[float]  # per-channel statistics of the training images, 0-255
    std: list[float]


DATASETS = {
    "fashion_mnist": DataSet(
        "Fashion-MNIST",
        (28, 28, 1),
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
        [72.94],
        [90.02],
    ),
    "cifar10": DataSet("CIFAR-10", (32, 32, 3), CIFAR10_CLASSES, [125.31, 122.95, 113.87], [62.99, 62.09, 66.70]),
}


@dataclass
class ObjectsConfig(RunConfig):
    dataset: str = "fashion_mnist"  # fashion_mnist | cifar10
    model: str = "airbench"  # airbench (fast recipe) | resnet (He et al.: batch_size=128 learning_rate=0.1) | vgg_small
    widths: list[int] = field(default_factory=lambda: [64, 256, 256])  # airbench: filters of its three blocks
    depth: int = 20  # resnet: 6n + 2 layers (20, 32, 56, ...)
    norm: str = "batch"  # resnet: batch (BatchNorm) | none (SkipInit: no normalisation, fast in bfloat16 on CPUs)
    bias_boost: float = 1.0  # airbench: BatchNorm biases learn this many times faster (airbench 64; no gain here)
    float32_stem: bool = False  # normalise, augment, whiten in float32 rather than bfloat16 (measured: no gain)
    bn_momentum: float = 0.9  # airbench: share of BatchNorm's running statistics kept per step (airbench: 0.4)
    activation: str = "relu"  # airbench: relu | gelu (airbench's own; slower in bfloat16 on CPUs)
    width: int = 32  # vgg_small: filters of the first block, doubled per block
    epochs: int = 16
    batch_size: int = 500
    learning_rate: float = 0.4  # peak rate of SGD with Nesterov momentum: warm-up, then cosine decay to 0
    momentum: float = 0.9  # SGD's Nesterov momentum (airbench: 0.85)
    warmup: float = 0.2  # fraction of the run over which the rate rises linearly from a tenth of its peak
    weight_decay: float = 5e-3  # decoupled (times the rate): about L2 5e-4 through momentum 0.9
    label_smoothing: float = 0.2  # share of each target spread over all classes (0 = plain cross-entropy)
    dropout: float = 0.2  # vgg_small: dropout after each block and before the classifier
    lookahead: bool = True  # airbench: pull the weights towards a slow copy of them in the run's last 70 %
    shift: int = 2  # augmentation: random shifts of up to this many pixels (pad-and-crop); 0 = off
    shift_fill: str = "constant"  # what a shift uncovers: constant (the mean colour) | reflect (mirror, as airbench)
    cutout: int = 0  # augmentation: blank one random square of this side (pixels) in every training image; 0 = off
    validation_size: int = 5000  # held out from the end of the training split, picks the best epoch; 0 = none


def dataset_of(config: DictConfig) -> DataSet:
    if config.dataset not in DATASETS:
        raise ConfigError(f"Unknown dataset '{config.dataset}'. Data sets: {', '.join(DATASETS)}.")
    return DATASETS[config.dataset]


def load_split(
    dataset: str, split: str, data_dir: str | None = None, limit: int | None = None, source: str = "files"
) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (N, H, W, C) and labels int32 (N,) of the train or test split of `dataset`, from `source`."""
    if dataset == "cifar10":
        images, labels = load_cifar10("objects", split, data_dir, source)
    else:
        images, labels = load_idx_split("objects", "fashion-mnist", split, data_dir, source)
    if limit:  # a random subset: the JPEG copy of CIFAR-10 is sorted by class
        order = np.random.default_rng(0).permutation(len(labels))[:limit]
        images, labels = images[order], labels[order]
    return images, labels


def artifact_name(dataset: str) -> str:
    """File stem of the shipped model for `dataset` in trained/: one per data set, whatever the network."""
    return f"objects_{dataset}"


def _stem_dtype(config: DictConfig) -> str | None:
    """The dtype of the layers before the first trained convolution: float32 on request, else the run's policy."""
    return "float32" if config.float32_stem else None


def _inputs(config: DictConfig) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """Raw pixels in; normalised, augmented (training only) images out."""
    data = dataset_of(config)
    dtype = _stem_dtype(config)
    inputs = keras.Input(data.shape, name="pixels")
    variance = np.square(data.std).tolist()
    x = layers.Normalization(mean=data.mean, variance=variance, name="normalise", dtype=dtype)(inputs)
    require_choice("shift_fill", config.shift_fill, ("constant", "reflect"))
    if config.shift:
        factor = config.shift / data.shape[0]
        x = layers.RandomTranslation(
            factor, factor, fill_mode=config.shift_fill, interpolation="nearest", name="shift", dtype=dtype
        )(x)
    x = layers.RandomFlip("horizontal", dtype=dtype)(x)  # garments and CIFAR-10 objects keep their class
    if config.cutout:
        if not 0 < config.cutout < data.shape[0]:
            raise ConfigError(f"cutout={config.cutout}: the square's side is 0 (off) to {data.shape[0] - 1} pixels.")
        x = Cutout(config.cutout, name="cutout", dtype=dtype)(x)
    return inputs, x


def _classifier_head(x: keras.KerasTensor, dropout: float) -> keras.KerasTensor:
    """Global average pooling, dropout and a softmax layer (what `toolkit.grad_cam` explains)."""
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(10, activation="softmax", dtype="float32", name="probabilities")(x)


def _conv_bn_relu(
    x: keras.KerasTensor, filters: int, strides: int = 1, relu: bool = True, norm: str = "batch"
) -> keras.KerasTensor:
    """3x3 convolution, BatchNorm (or a bias when `norm="none"`), ReLU."""
    batch_norm = norm == "batch"
    x = layers.Conv2D(filters, 3, strides, padding="same", use_bias=not batch_norm, kernel_initializer="he_normal")(x)
    if batch_norm:
        x = layers.BatchNormalization()(x)
    return layers.ReLU()(x) if relu else x


def build_vgg_small(config: DictConfig) -> keras.Model:
    """Three VGG blocks of `width`, 2x, 4x filters (conv-BN-ReLU twice, max-pool, dropout)."""
    inputs, x = _inputs(config)
    for block in range(3):
        for _ in range(2):
            x = _conv_bn_relu(x, config.width * 2**block)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Dropout(config.dropout)(x)
    return keras.Model(inputs, _classifier_head(x, config.dropout), name="vgg_small")


@keras.saving.register_keras_serializable(package="toolkit")
class ZeroPadShortcut(layers.Layer):
    """He et al.'s shortcut "option A": subsample by `strides` and zero-pad the channels; no parameters."""

    def __init__(self, filters: int, strides: int, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides = filters, strides

    def call(self, x):
        x = x[:, :: self.strides, :: self.strides, :]
        extra = self.filters - x.shape[-1]
        return keras.ops.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        down = lambda size: None if size is None else -(-size // self.strides)  # noqa: E731
        return (n, down(h), down(w), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "strides": self.strides}


def build_airbench(config: DictConfig) -> keras.Model:
    """Patch whitening, three conv-pool-norm blocks of `widths` filters, global max pooling, linear, softmax.

    The whitening filters are set from the training images by `Objects.fit` (`PatchWhitening.adapt`).
    """
    inputs, x = _inputs(config)
    if config.bias_boost <= 0 or not 0 <= config.bn_momentum < 1:
        raise ConfigError(f"bias_boost={config.bias_boost} must be > 0, bn_momentum={config.bn_momentum} in [0, 1).")
    require_choice("activation", config.activation, ("relu", "gelu"))
    stem_dtype = _stem_dtype(config)
    x = TestTimeFlips(translate=True, name="test_time_flips", dtype=stem_dtype)(x)
    x = layers.Activation(config.activation)(PatchWhitening(name="whitening", dtype=stem_dtype)(x))

    def norm_activation(x):
        if config.bias_boost == 1:
            x = layers.BatchNormalization(momentum=config.bn_momentum, scale=False)(x)
        else:
            x = layers.BatchNormalization(momentum=config.bn_momentum, center=False, scale=False)(x)
            x = BoostedBias(config.bias_boost)(x)
        return layers.Activation(config.activation)(x)

    for width in config.widths:
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=PartialIdentity())(x)
        x = norm_activation(layers.MaxPooling2D(2)(x))
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=PartialIdentity())(x)
        x = norm_activation(x)
    x = layers.GlobalMaxPooling2D(name="pool")(x)
    logits = layers.Dense(10, use_bias=False, name="logits")(x)
    logits = layers.Rescaling(1 / 9)(logits)  # airbench's fixed logit scale: a slower-moving head
    logits = MeanOverFlips(translate=True, name="mean_over_flips")(logits)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(logits)
    return keras.Model(inputs, outputs, name="airbench")


def adapt_whitening(model: keras.Model, images: np.ndarray, count: int = 5000) -> None:
    """Set a model's patch-whitening filters from (the first `count` of) its training images.

    The images are normalised in NumPy with the model's own statistics: no backend computation, so every
    process of a multi-process job does the same work alone.
    """
    whitening = next((layer for layer in model.layers if isinstance(layer, PatchWhitening)), None)
    if whitening is not None:
        normalise = model.get_layer("normalise")
        mean, variance = np.asarray(normalise.input_mean), np.asarray(normalise.input_variance)
        whitening.adapt((images[:count] - mean) / np.sqrt(variance))


def build_resnet(config: DictConfig) -> keras.Model:
    """CIFAR ResNet of `depth` = 6n + 2 layers: stem, 3 stages of n basic blocks, pooling, softmax.

    `norm="none"` drops BatchNorm for SkipInit: each residual branch is scaled by a learned scalar starting at 0.
    """
    if config.depth < 8 or (config.depth - 2) % 6:
        raise ConfigError(f"resnet depth must be 6n + 2 (20, 32, 44, 56, 110), got depth={config.depth}.")
    require_choice("norm", config.norm, ("batch", "none"))
    blocks = (config.depth - 2) // 6
    inputs, x = _inputs(config)
    x = _conv_bn_relu(x, 16, norm=config.norm)
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            shortcut = x if strides == 1 else ZeroPadShortcut(filters, strides)(x)
            y = _conv_bn_relu(x, filters, strides, norm=config.norm)
            y = _conv_bn_relu(y, filters, relu=False, norm=config.norm)
            if config.norm == "none":
                y = SkipInit()(y)
            x = layers.ReLU()(layers.Add()([shortcut, y]))
    return keras.Model(inputs, _classifier_head(x, 0.0), name=f"resnet{config.depth}")


def prepare_photo(image: np.ndarray, dataset: str) -> np.ndarray:
    """Turn a user's photo (H, W), (H, W, 3) or (H, W, 4) uint8 into one input image of `dataset`.

    The centre square is resized to the data set's size. Fashion-MNIST shows light garments on black,
    so a grey photo with a light background (judged on its border) is inverted.
    """
    data = DATASETS[dataset]
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 4:
        image = image[..., :3]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3)) or min(image.shape[:2]) < 8:
        raise InputError(f"Expected an RGB or grey image of at least 8x8 pixels, got shape {image.shape}.")
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = np.broadcast_to(image.reshape(height, width, -1), (height, width, 3))[top : top + side, left : left + side]
    mode = "L" if data.shape[-1] == 1 else "RGB"
    resized = keras.utils.array_to_img(square, scale=False).convert(mode).resize(data.shape[1::-1], resample=2)
    pixels = np.asarray(resized, np.uint8).reshape(data.shape)
    if mode == "L":
        border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        if np.median(border) > 127:
            pixels = 255 - pixels
    return pixels


class Objects(Task):
    name = "objects"
    summary = "Object classification on Fashion-MNIST and CIFAR-10: VGG-style network and CIFAR ResNets"
    Config = ObjectsConfig
    models = {"airbench": build_airbench, "vgg_small": build_vgg_small, "resnet": build_resnet}
    metric = "test_accuracy"
    metric_label = "test accuracy"
    monitor = "val_accuracy"
    contract = (
        "input: raw pixels 0-255, uint8 or float, (N, 28, 28, 1) for Fashion-MNIST or (N, 32, 32, 3) RGB for "
        "CIFAR-10; output: class probabilities (N, 10) in the data set's official class order"
    )

    def artifact(self, config: DictConfig) -> str:
        dataset_of(config)
        return artifact_name(config.dataset)

    def data(self, config: DictConfig) -> Data:
        dataset_of(config)
        images, labels = load_split(config.dataset, "train", config.data_dir, config.limit, config.source)
        val = min(config.validation_size, len(images) // 5)
        if val:
            train, held_out = (images[:-val], labels[:-val]), (images[-val:], labels[-val:])
        else:  # train on every image; the run keeps its last epoch
            train, held_out = (images, labels), None
        info = {"name": dataset_of(config).name, "train": len(train[0]), "validation": val}
        info |= source_info(config.source, config.dataset, config.data_dir)
        if config.dataset == "cifar10" and "source" not in info:  # from the files: which of their two copies
            info["version"] = cifar10_version(config.data_dir)
        return Data(train, held_out, info)

    def build(self, config: DictConfig) -> keras.Model:
        if not 0 <= config.momentum < 1:  # checked here, before the trainer makes the run folder
            raise ConfigError(f"momentum={config.momentum}: SGD's momentum lies in [0, 1).")
        return super().build(config)

    def compile(self, model: keras.Model, config: DictConfig, steps_per_epoch: int) -> None:
        compile_classifier(
            model,
            config,
            steps_per_epoch,
            optimizer="sgd",
            momentum=config.momentum,
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
        return super().fit(model, data, config, callbacks)

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        data = dataset_of(config)
        images, labels = load_split(config.dataset, "test", config.data_dir, config.limit, config.source)
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

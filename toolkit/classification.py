"""What image classifiers share: compiling, the test report (accuracy, per-class accuracy, confusion
matrix) and a picture of the confusion matrix."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import keras
import numpy as np
from omegaconf import DictConfig

from toolkit.tasks.base import Evaluation


@keras.saving.register_keras_serializable(package="toolkit")
class SparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of probabilities against integer labels, with label smoothing (Szegedy et al. 2016).

    Keras' sparse loss has no smoothing; this one spreads `label_smoothing` of each target over all classes.
    """

    def __init__(self, label_smoothing: float = 0.0, name: str = "sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        classes = keras.ops.shape(y_pred)[-1]
        targets = keras.ops.one_hot(keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"), classes)
        return keras.losses.categorical_crossentropy(targets, y_pred, label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


class Lookahead(keras.callbacks.Callback):
    """Airbench's lookahead: every `every` steps of the last part of a run, pull the weights towards a slow copy.

    The slow copy moves a share (1 - rho) of the way to the weights, then the weights become the slow copy.
    rho = base^every x progress^3 grows over the run, so the averaging is light at first and strong at the end,
    where it smooths away the noise of the last SGD steps. At each epoch's end the weights are the slow copy,
    so a run resumed from its end-of-epoch backup continues exactly.
    """

    def __init__(self, start: float = 0.3, every: int = 5, base: float = 0.95, power: float = 3.0):
        super().__init__()
        self.start, self.every, self.base, self.power = start, every, base, power
        self.slow: list[np.ndarray] | None = None

    def on_train_begin(self, logs=None):
        self.total_steps = self.params["epochs"] * self.params["steps"]  # of the whole run, also when resumed

    def _weights(self) -> list:
        return [w for w in self.model.weights if "float" in str(w.dtype)]  # not the random layers' seeds

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations)
        if step < self.start * self.total_steps or step % self.every:
            return
        weights = self._weights()
        if self.slow is None:
            self.slow = [np.array(w.numpy()) for w in weights]
            return
        rho = self.base**self.every * min(step / self.total_steps, 1.0) ** self.power
        for slow, weight in zip(self.slow, weights):
            slow += (1 - rho) * (weight.numpy() - slow)
            weight.assign(slow)

    def on_epoch_end(self, epoch, logs=None):
        if self.slow is not None:
            for slow, weight in zip(self.slow, self._weights()):
                weight.assign(slow)


@keras.saving.register_keras_serializable(package="toolkit")
class FilterMuon(keras.optimizers.Muon):
    """airbench94_muon's optimiser on Keras' Muon: Muon for the convolution filters, Nesterov SGD for the rest.

    Keras' Muon orthogonalises 2-D variables only and gives every other one, convolution filters included, to
    AdamW: on a convolutional network it would apply Muon to the classifier alone, the one layer Muon is not for.
    Jordan's airbench94_muon does the reverse, and so does this class:

    - every trainable 4-D kernel (kh, kw, in, out) not matched by `exclude_layers` takes Muon's step as one
      (kh * kw * in, out) matrix: Nesterov `momentum`, then `ns_steps` of Keras' Newton-Schulz iteration, at
      `filter_lr_ratio` times the schedule's rate (`rms_rate=None`: the plain orthogonalised step, as airbench).
      Before each step the kernel is rescaled to Frobenius norm sqrt(out), unit-norm filters on average: behind a
      normalisation its scale does nothing to the function, and a fixed one keeps the step's relative size. So
      filters take no weight decay (holding the norm would undo it).
    - every other variable (normalisation biases, the classifier) takes `keras.optimizers.SGD`'s Nesterov step
      with `sgd_momentum` at the schedule's rate, and decoupled `weight_decay`, as `optimizer="sgd"` does.
    """

    def __init__(self, learning_rate=0.01, filter_lr_ratio=1.0, sgd_momentum=0.9, momentum=0.6, ns_steps=3, **kwargs):
        kwargs.setdefault("rms_rate", None)
        kwargs.setdefault("weight_decay", None)  # not Muon's 0.004
        super().__init__(learning_rate=learning_rate, momentum=momentum, ns_steps=ns_steps, **kwargs)
        self.filter_lr_ratio, self.sgd_momentum = filter_lr_ratio, sgd_momentum

    def is_filter(self, variable) -> bool:
        """A convolution kernel that takes Muon's step."""
        excluded = any(re.search(keyword, variable.path) for keyword in self.exclude_layers)
        return len(variable.shape) == 4 and not excluded

    def _should_use_adamw(self, variable):  # Keras' Muon asks this to route weight decay and velocities
        return not self.is_filter(variable)

    def build(self, var_list):
        if self.built:
            return
        super(keras.optimizers.Muon, self).build(var_list)  # the base class's: no Adam velocities here
        self.momentums = [
            None if self._overwrite_variable_with_gradient(v) else self.add_variable_from_reference(v, "momentum")
            for v in var_list
        ]

    def _apply_weight_decay(self, variables):
        super(keras.optimizers.Muon, self)._apply_weight_decay([v for v in variables if not self.is_filter(v)])

    def update_step(self, gradient, variable, learning_rate):
        m = self.momentums[self._get_variable_index(variable)]
        gradient = keras.ops.cast(gradient, variable.dtype)
        learning_rate = keras.ops.cast(learning_rate, variable.dtype)
        if not self.is_filter(variable):  # keras.optimizers.SGD's Nesterov step
            self.assign(m, m * self.sgd_momentum - gradient * learning_rate)
            self.assign_add(variable, m * self.sgd_momentum - gradient * learning_rate)
            return
        self.assign(m, m * self.momentum + gradient)
        step = gradient + self.momentum * m if self.nesterov else m
        out = variable.shape[-1]
        step = self.zeropower_via_newtonschulz5(keras.ops.reshape(step, (-1, out)), self.ns_steps)
        step = self.lr_adjust(learning_rate * self.filter_lr_ratio * step)
        self.assign(variable, variable * (math.sqrt(out) / keras.ops.norm(keras.ops.reshape(variable, (-1,)))))
        self.assign_sub(variable, keras.ops.reshape(step, variable.shape))

    def get_config(self):
        return {**super().get_config(), "filter_lr_ratio": self.filter_lr_ratio, "sgd_momentum": self.sgd_momentum}


def compile_classifier(
    model: keras.Model,
    config: DictConfig,
    steps_per_epoch: int,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    label_smoothing: float = 0.0,
    warmup: float = 0.0,
    momentum: float = 0.9,
    muon_learning_rate: float = 0.24,
    muon_momentum: float = 0.6,
) -> None:
    """Cross-entropy on integer labels; learning rate cosine-decayed to 0 over the whole run.

    `optimizer="sgd"` is SGD with Nesterov `momentum` (0.9: the CIFAR ResNet recipe); `weight_decay` is decoupled
    (AdamW-style) and spares BatchNorm parameters and biases. `warmup` > 0 first raises the rate linearly from a
    tenth of `config.learning_rate` over that fraction of the run (one-cycle style, for large batches).
    `optimizer="muon"` is that SGD for all but the convolution filters, which take Muon's steps (`FilterMuon`)
    with `muon_momentum`, peaking at `muon_learning_rate` on the same schedule.
    """
    total = config.epochs * steps_per_epoch
    warmup_steps = int(warmup * total)
    if warmup_steps:
        schedule = keras.optimizers.schedules.CosineDecay(
            config.learning_rate / 10,
            total - warmup_steps,
            warmup_target=config.learning_rate,
            warmup_steps=warmup_steps,
        )
    else:
        schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, total)
    if optimizer == "sgd":
        opt = keras.optimizers.SGD(schedule, momentum=momentum, nesterov=True, weight_decay=weight_decay or None)
    elif optimizer == "muon":
        ratio = muon_learning_rate / config.learning_rate
        opt = FilterMuon(schedule, ratio, momentum, muon_momentum, weight_decay=weight_decay or None)
    else:
        opt = keras.optimizers.Adam(schedule, weight_decay=weight_decay or None)
    if weight_decay:
        opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    loss = SparseCrossentropy(label_smoothing) if label_smoothing else "sparse_categorical_crossentropy"
    model.compile(optimizer=opt, loss=loss, metrics=["accuracy"])


def classification_report(model: keras.Model, images: np.ndarray, labels: np.ndarray, classes: list[str]) -> Evaluation:
    """Accuracy, error %, per-class accuracy and the confusion matrix (rows: true class)."""
    predicted = model.predict(images, batch_size=256, verbose=0).argmax(-1)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    accuracy = float(np.mean(predicted == labels))
    per_class = {c: float(confusion[i, i] / max(confusion[i].sum(), 1)) for i, c in enumerate(classes)}
    metrics = {"test_accuracy": accuracy, "test_error_pct": 100 * (1 - accuracy), "test_examples": len(labels)}
    row = {"model": model.name, "test examples": len(labels), "accuracy": accuracy, "error (%)": 100 * (1 - accuracy)}
    details = {"per_class_accuracy": per_class, "confusion_matrix": confusion.tolist(), "classes": classes}
    return Evaluation(metrics, [row], details)


def confusion_matrix_figure(confusion: np.ndarray | list, classes: list[str], title: str = ""):
    """A matplotlib figure of the confusion matrix: counts, rows true class, columns predicted."""
    from matplotlib.figure import Figure  # no pyplot: safe in threads (Streamlit) and without a display

    confusion = np.asarray(confusion)
    size = 2.5 + 0.45 * len(classes)
    figure = Figure(figsize=(size, size * 0.9), layout="constrained")
    ax = figure.subplots()
    ax.imshow(confusion / np.maximum(confusion.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    ticks = range(len(classes))
    ax.set_xticks(ticks, classes, rotation=45, ha="right")
    ax.set_yticks(ticks, classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    rates = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            ax.text(
                j, i, str(count), ha="center", va="center", fontsize=7, color="white" if rates[i, j] > 0.5 else "black"
            )
    return figure


def save_confusion_matrix(
    confusion: np.ndarray | list, classes: list[str], path: str | os.PathLike, title: str = ""
) -> Path:
    """Write the confusion matrix picture (PNG) to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    confusion_matrix_figure(confusion, classes, title).savefig(path, dpi=120)
    return path

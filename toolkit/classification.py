"""What image classifiers share: compiling, the test report (accuracy, per-class accuracy, confusion
matrix) and a picture of the confusion matrix."""

from __future__ import annotations

import os
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


def compile_classifier(
    model: keras.Model,
    config: DictConfig,
    steps_per_epoch: int,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    label_smoothing: float = 0.0,
    warmup: float = 0.0,
    momentum: float = 0.9,
) -> None:
    """Cross-entropy on integer labels; learning rate cosine-decayed to 0 over the whole run.

    `optimizer="sgd"` is SGD with Nesterov `momentum` (0.9: the CIFAR ResNet recipe); `weight_decay` is decoupled
    (AdamW-style) and spares BatchNorm parameters and biases. `warmup` > 0 first raises the rate linearly from a
    tenth of `config.learning_rate` over that fraction of the run (one-cycle style, for large batches).
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

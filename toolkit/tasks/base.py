"""The contract every task adapter fulfils; the trainer and evaluator rely on nothing else.

A task adapter is one module `toolkit/tasks/<name>.py` that subclasses `Task`, sets its declarations
(config schema, model variants, headline metric) and defines how to get data, compile and evaluate, calling the
models and data of its package `toolkit/<name>/`. The default `fit` is plain `model.fit`; tasks with several
stages override it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import keras
from omegaconf import DictConfig

from toolkit.config import RunConfig
from toolkit.precision import dtype_policy


@dataclass
class Data:
    """Training and validation data: (x, y) arrays, which the trainer turns into batches, or a PyDataset."""

    train: Any
    val: Any
    info: dict[str, Any] = field(default_factory=dict)  # name, split sizes: goes into the model card


@dataclass
class Evaluation:
    """What `toolkit.evaluate` prints: the model's figures and a comparison table."""

    metrics: dict[str, float]  # this model's figures on the test split (stored in the card)
    table: list[dict[str, Any]]  # rows to print: this model and any baselines measured beside it
    details: dict[str, Any] = field(default_factory=dict)  # e.g. per-class accuracy, confusion matrix


class Task:
    name: ClassVar[str]
    summary: ClassVar[str]
    Config: ClassVar[type[RunConfig]] = RunConfig
    models: ClassVar[Mapping[str, Callable[[DictConfig], keras.Model]]]
    metric: ClassVar[str]  # the headline key of `Evaluation.metrics`
    metric_label: ClassVar[str]  # how the headline reads in tables, e.g. "test error (%)"
    higher_is_better: ClassVar[bool] = True
    contract: ClassVar[str] = ""  # input/output contract of the shipped model, quoted in its card
    monitor: ClassVar[str] = "val_loss"  # what picks the best checkpoint
    renamed_settings: ClassVar[Mapping[str, str]] = {}  # old key -> new key: a run saved before a rename resumes

    def artifact(self, config: DictConfig) -> str:
        """File stem of the trained model in trained/: the task name for its default variant."""
        default = self.Config().model
        return self.name if config.model == default else f"{self.name}_{config.model}"

    def build(self, config: DictConfig) -> keras.Model:
        with dtype_policy(config.precision):
            return self.models[config.model](config)

    def data(self, config: DictConfig) -> Data:
        raise NotImplementedError

    def initialize(self, model: keras.Model, data: Data, config: DictConfig) -> None:
        """Set weights that come from the data rather than from SGD (e.g. whitening filters); default: none.

        Runs on the whole training set, in every process of a job alike, before the data is split into batches.
        """

    def compile(self, model: keras.Model, config: DictConfig, steps_per_epoch: int) -> None:
        raise NotImplementedError

    def fit(
        self, model: keras.Model, data: Data, config: DictConfig, callbacks: list[keras.callbacks.Callback]
    ) -> keras.callbacks.History:
        return model.fit(  # the trainer has made arrays numpy batches (`distribute.batches_for_process`)
            data.train,
            validation_data=data.val,
            epochs=config.epochs,
            callbacks=callbacks,
            verbose=config.verbose,
        )

    def shipping_model(self, model: keras.Model, config: DictConfig) -> keras.Model:
        """The trained model as it is evaluated, saved and shipped (e.g. in 16-bit weights); default: as trained."""
        return model

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        raise NotImplementedError

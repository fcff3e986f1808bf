"""The contract every task module fulfils; the trainer, evaluator, app and tests rely on nothing else.

A task is one module `toolkit/tasks/<name>.py` that subclasses `Task`, sets its declarations
(config schema, model variants, headline metric) and defines how to get data, compile and evaluate.
The default `fit` is plain `model.fit`; tasks with several stages override it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import keras
from omegaconf import DictConfig

from toolkit.config import RunConfig
from toolkit.errors import ConfigError

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def fastest_precision() -> str:
    """mixed_bfloat16 where the hardware computes in bfloat16 natively, float32 elsewhere.

    Native: an accelerator of the active backend that is a TPU or a GPU of compute capability 8.0 or more
    (A100, H100, RTX 30xx and later); without one, a CPU with AVX-512 BF16 or AMX, where bfloat16 convolutions
    run about 3x faster than float32 ones (bench/results/fast_path.md).
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "tpu":
            return "mixed_bfloat16"
        if device.platform == "gpu":
            return "mixed_bfloat16" if float(getattr(device, "compute_capability", 0) or 0) >= 8 else "float32"
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))
            return "mixed_bfloat16" if tuple(capability) >= (8, 0) else "float32"
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        flags = []
    return "mixed_bfloat16" if {"avx512_bf16", "amx_bf16"} & set(flags) else "float32"


def resolve_precision(precision: str) -> str:
    """The Keras dtype policy that `precision` names; "auto" is `fastest_precision()` on this machine."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision={precision} is not one of {', '.join(PRECISIONS)}.")
    return fastest_precision() if precision == "auto" else precision


@contextmanager
def policy_scope(policy: str | keras.DTypePolicy) -> Iterator[None]:
    """Layers made inside take the Keras dtype `policy` (e.g. "bfloat16": 16-bit weights); the old one comes back."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@contextmanager
def dtype_policy(precision: str) -> Iterator[None]:
    """Layers made inside compute in `precision` and keep float32 weights; the policy is saved with each layer.

    mixed_bfloat16 speeds up CPUs with AVX-512 BF16/AMX, TPUs and recent GPUs; mixed_float16 older GPUs
    (Keras then scales the loss). Output layers that need float32 (softmax, the residual) say so themselves.
    """
    with policy_scope(resolve_precision(precision)):
        yield


@dataclass
class Data:
    """Training and validation data as `model.fit` takes it: an (x, y) tuple or a PyDataset."""

    train: Any
    val: Any
    info: dict[str, Any] = field(default_factory=dict)  # name, split sizes: goes into the model card

    @property
    def steps_per_epoch(self) -> int:
        if isinstance(self.train, tuple):
            return 0  # unknown here: `fit_kwargs` lets keras count it
        return len(self.train)


def fit_kwargs(data: Any, batch_size: int) -> dict[str, Any]:
    """Keyword arguments of `model.fit`/`evaluate` for an (x, y) tuple or a dataset."""
    if isinstance(data, tuple):
        return {"x": data[0], "y": data[1], "batch_size": batch_size}
    return {"x": data}


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
        return model.fit(
            **fit_kwargs(data.train, config.batch_size),
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

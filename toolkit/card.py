"""Model cards: the JSON beside each trained model that says what it is and how well it does."""

from __future__ import annotations

import datetime
import os
import platform
from typing import Any

import keras
from omegaconf import DictConfig

from toolkit.config import to_dict
from toolkit.tasks.base import Data, Evaluation, Task

__version__ = "0.1.0"


def hardware() -> dict[str, Any]:
    """CPU model, core count and accelerators seen by the active backend."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cpu_cores": os.cpu_count(), "accelerators": _accelerators()}


def _accelerators() -> list[str]:
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform != "cpu"]
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    return []


def make_card(
    task: Task,
    config: DictConfig,
    model: keras.Model,
    data: Data,
    evaluation: Evaluation,
    training_seconds: float,
    command: str,
) -> dict[str, Any]:
    return {
        "task": task.name,
        "artifact": task.artifact(config),
        "variant": config.model,
        "summary": task.summary,
        "contract": task.contract,
        "parameters": model.count_params(),
        "data": data.info,
        "config": to_dict(config),
        "metric": task.metric,
        "metric_label": task.metric_label,
        "metrics": evaluation.metrics,
        "evaluation_table": evaluation.table,
        "details": evaluation.details,
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "hardware": hardware(),
        "training_seconds": round(training_seconds, 1),
        "date": datetime.date.today().isoformat(),
        "toolkit_version": __version__,
        "command": command,
    }

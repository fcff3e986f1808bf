"""`python -m toolkit.evaluate task=NAME [model_path=...] [json=path]`: the task's metric on its test split."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras

from toolkit import pretrained, saving
from toolkit.cli import format_table, main_wrapper, task_and_config
from toolkit.config import to_dict
from toolkit.tasks.base import Evaluation

USAGE = """usage: python -m toolkit.evaluate task=NAME [model_path=FILE.keras] [json=results.json] [key=value ...]
  Without model_path, measures the shipped model (trained/, else the cache or a download: toolkit.pretrained)."""


def evaluate(words: Sequence[str]) -> Evaluation:
    task, config = task_and_config(words)
    keras.utils.set_random_seed(config.seed)
    model_path = Path(config.model_path) if config.model_path else pretrained.path(task.artifact(config))
    model = saving.load_model(model_path)
    evaluation = task.evaluate(model, config)
    print(f"{task.name}: {model_path}")
    print(format_table(evaluation.table))
    if config.json:
        result = {"task": task.name, "model_path": str(model_path), "config": to_dict(config)}
        saving.write_json(
            {**result, "metrics": evaluation.metrics, "table": evaluation.table, "details": evaluation.details},
            config.json,
        )
    return evaluation


if __name__ == "__main__":
    main_wrapper(evaluate, USAGE)

"""Where a bfloat16 training step of the toolkit's airbench94 goes on these CPUs: BatchNorm and activation variants.

python -m bench.airbench_step [--repeats 8]  ->  bench/results/airbench_step.json and .md

One batch of 1024 CIFAR-sized images through `train_on_batch` of the network that bench.cifar_recipe's
`airbench94-10` trains (mixed_bfloat16), the fastest of `repeats` steps after two warm-up steps, for: airbench's
BatchNorm as shipped (`LowPrecisionBatchNorm`) or Keras' `BatchNormalization`, or none at all (the bound: what any
BatchNorm could save); GELU (airbench's) or ReLU. The whole grid is measured twice, interleaved, and each row keeps its
faster round, so a slow spell of the machine does not land on one variant. Run it on idle cores.
"""

from __future__ import annotations

import argparse
from unittest import mock

import keras
import numpy as np

from bench.cifar_recipe import BASE, airbench94_settings
from bench.common import best_time, write_results
from toolkit.cli import task_and_config
from toolkit.objects import models

BATCH = 1024


class NoNorm(keras.layers.Layer):
    """Stands where a BatchNorm was and passes its input through: the bound, not a network to train."""

    def __init__(self, momentum=None, center=True, scale=True, **kwargs):
        super().__init__(**kwargs)

    def call(self, inputs, training=None):
        return inputs


NORMS = {
    "LowPrecisionBatchNorm (shipped)": models.LowPrecisionBatchNorm,
    "keras BatchNormalization": keras.layers.BatchNormalization,
    "none (bound)": NoNorm,
}


def step_seconds(norm: type, activation: str, repeats: int) -> float:
    """The fastest of `repeats` training steps of airbench94 with `norm` layers and `activation`."""
    keras.backend.clear_session()
    keras.config.set_dtype_policy("mixed_bfloat16")
    task, config = task_and_config(["task=objects", *BASE, *airbench94_settings(0.6, activation)])
    with mock.patch.object(models, "LowPrecisionBatchNorm", norm):
        model = task.build(config)
    task.compile(model, config, steps_per_epoch=50)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (BATCH, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, BATCH)
    model.train_on_batch(images, labels)  # traces the step; best_time's own warm-up call is the second
    return best_time(lambda: model.train_on_batch(images, labels), repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.airbench_step", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args(argv)
    grid = [(norm, activation) for norm in NORMS for activation in ("gelu", "relu")]
    best: dict[tuple[str, str], float] = {}
    for _ in range(2):
        for norm, activation in grid:
            seconds = step_seconds(NORMS[norm], activation, args.repeats)
            best[norm, activation] = min(seconds, best.get((norm, activation), np.inf))
            print(f"{norm}, {activation}: {1000 * seconds:.0f} ms", flush=True)
    reference = best["LowPrecisionBatchNorm (shipped)", "gelu"]
    rows = [
        {
            "BatchNorm": norm,
            "activation": activation,
            "ms per step": round(1000 * seconds, 1),
            "images/s": round(BATCH / seconds),
            "vs shipped airbench94-10": round(reference / seconds, 2),
        }
        for (norm, activation), seconds in best.items()
    ]
    notes = (
        f"python -m bench.airbench_step --repeats {args.repeats}; batch {BATCH}, mixed_bfloat16, train_on_batch "
        "(no data pipeline, callbacks or epoch ends), fastest step of each variant over two interleaved rounds"
    )
    print(write_results("airbench_step", rows, notes))


if __name__ == "__main__":
    main()

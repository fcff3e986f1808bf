"""Where a bfloat16 training step of the toolkit's airbench94 goes on these CPUs: BatchNorm and activation variants.

python -m bench.airbench_step [--repeats 8]  ->  bench/results/airbench_step.json and .md
python -m bench.airbench_step --profile      ->  bench/results/airbench_profile.json and .md

One batch of 1024 CIFAR-sized images through `train_on_batch` of the network that bench.cifar_recipe's
`airbench94-10` trains (mixed_bfloat16), the fastest of `repeats` steps after two warm-up steps, for: airbench's
BatchNorm as shipped (`LowPrecisionBatchNorm`) or Keras' `BatchNormalization`, or none at all (the bound: what any
BatchNorm could save); GELU (airbench's) or ReLU. The whole grid is measured twice, interleaved, and each row keeps its
faster round, so a slow spell of the machine does not land on one variant. Run it on idle cores.

`--profile` asks where the shipped ReLU step's time goes, by kind of operation (TensorFlow's profiler, 4 steps), with
the whitening bias trained and frozen (`freeze_whitening`: airbench94 freezes it after 3 epochs), and the rate each
kind of convolution work achieves: its floating-point operations (2 per multiply-add; a gradient costs what the
forward pass does) over its time. The op times are summed over TensorFlow's two op threads, which sometimes overlap.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from pathlib import Path
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


def step_model(norm: type, activation: str) -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """airbench94 with `norm` layers and `activation`, compiled, and one random batch of images and labels."""
    keras.backend.clear_session()
    keras.config.set_dtype_policy("mixed_bfloat16")
    task, config = task_and_config(["task=objects", *BASE, *airbench94_settings(0.6, activation)])
    with mock.patch.object(models, "LowPrecisionBatchNorm", norm):
        model = task.build(config)
    task.compile(model, config, steps_per_epoch=50)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (BATCH, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, BATCH)
    return model, images, labels


def step_seconds(norm: type, activation: str, repeats: int) -> float:
    """The fastest of `repeats` training steps of airbench94 with `norm` layers and `activation`."""
    model, images, labels = step_model(norm, activation)
    model.train_on_batch(images, labels)  # traces the step; best_time's own warm-up call is the second
    return best_time(lambda: model.train_on_batch(images, labels), repeats)


KINDS = {  # TensorFlow CPU op types -> kind of work
    "_MklNativeConv2D": "convolutions, forward",
    "_MklNativeFusedConv2D": "convolutions, forward",
    "_MklNativeConv2DBackpropFilter": "convolutions, filter gradients",
    "_MklNativeConv2DBackpropInput": "convolutions, input gradients",
}


def op_milliseconds(model: keras.Model, images: np.ndarray, labels: np.ndarray, steps: int = 4) -> dict[str, float]:
    """Milliseconds per training step by kind of work (`KINDS`, else "everything else"), from TensorFlow's profiler,
    and "busy": the time in which any op ran."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    for _ in range(3):
        model.train_on_batch(images, labels)  # traced and warm
    with tempfile.TemporaryDirectory() as folder:
        tf.profiler.experimental.start(folder)
        for _ in range(steps):
            model.train_on_batch(images, labels)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(folder).rglob("*.xplane.pb")).read_bytes())
    times, spans = collections.Counter(), []
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_"):  # the op threads (tf_Compute, tf_numa_..._Eigen)
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name  # "scope/op:OpType"; executor frames have none
                if ":" not in name or name.startswith("ExecutorState"):
                    continue
                times[KINDS.get(name.rsplit(":", 1)[1], "everything else")] += event.duration_ps / 1e9 / steps
                start = line.timestamp_ns * 1000 + event.offset_ps
                spans.append((start, start + event.duration_ps))
    busy, end = 0, 0
    for start, stop in sorted(spans):  # the union of the op intervals
        busy += max(0, stop - max(start, end))
        end = max(end, stop)
    return dict(times) | {"busy": busy / 1e9 / steps}


def convolution_gflop(model: keras.Model, frozen: bool) -> dict[str, float]:
    """GFLOP of one batch's convolution work by kind: forward and filter gradients over every trained
    convolution, input gradients over those with trained weights before them (all but the first when frozen)."""
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    flop = [2 * BATCH * np.prod(layer.output.shape[1:3]) * np.prod(layer.kernel.shape) for layer in convolutions]
    return {
        "convolutions, forward": sum(flop) / 1e9,
        "convolutions, filter gradients": sum(flop) / 1e9,
        "convolutions, input gradients": sum(flop[1:] if frozen else flop) / 1e9,
    }


def profile() -> None:
    model, images, labels = step_model(models.LowPrecisionBatchNorm, "relu")
    whitening = model.get_layer("whitening")
    measured = {}
    for frozen in (False, True):
        whitening.bias_frozen = frozen
        model.make_train_function(force=True)
        measured[frozen] = op_milliseconds(model, images, labels), convolution_gflop(model, frozen)
    rows = []
    for kind in [*dict.fromkeys(KINDS.values()), "everything else", "busy"]:
        row = {"work": "any op running (wall)" if kind == "busy" else kind}
        for frozen, (times, gflop) in measured.items():
            state = "frozen" if frozen else "trained"
            row[f"ms per step, whitening bias {state}"] = round(times.get(kind, 0.0), 1)
            if kind in gflop:
                row[f"TFLOP/s, whitening bias {state}"] = round(gflop[kind] / times[kind], 2)  # GFLOP / ms
            else:
                row[f"TFLOP/s, whitening bias {state}"] = "-"
        rows.append(row)
    notes = (
        f"python -m bench.airbench_step --profile; airbench94-relu's training step, batch {BATCH}, mixed_bfloat16, "
        "train_on_batch, TensorFlow's profiler over 4 steps; op times summed over the op threads"
    )
    print(write_results("airbench_profile", rows, notes))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.airbench_step", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--profile", action="store_true", help="where the shipped step's time goes, by kind of op")
    args = parser.parse_args(argv)
    if args.profile:
        return profile()
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

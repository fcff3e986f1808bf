"""Training throughput of every task's network before and after the fast path, in one run on this machine.

python -m bench.fast_path  ->  bench/results/fast_path.json and .md

"Before" is the network and precision each task trained with until now (float32, BatchNorm where it had it);
"after" is what the fast path gives: `precision=auto` (mixed_bfloat16 on CPUs with AVX-512 BF16 or AMX) and
networks without normalisation at full resolution. Each pair uses the same batch size. Samples per second are
timed over 8 training steps after 3 warm-up steps (tracing and compilation excluded), on random data of the
right shapes through each task's own `build` and `compile` (its real loss and optimizer).
"""

from __future__ import annotations

import time

import keras
import numpy as np

from bench.common import write_results
from toolkit import tasks
from toolkit.config import parse_overrides
from toolkit.precision import resolve_precision

WARMUP, TIMED = 3, 8
FILL = 64  # size given to the unknown (None) dimensions of fully convolutional / recurrent inputs

# (task, network in words, batch size, settings before, settings after); "before" also runs in float32
CIFAR, RESNET = "dataset=cifar10", "model=resnet"
PAIRS = [
    ("digits", "CNN (BatchNorm)", 128, ["model=cnn"], ["model=cnn"]),
    ("objects", "CIFAR-10 ResNet-20", 128, [CIFAR, RESNET], [CIFAR, RESNET, "norm=none"]),
    ("objects", "CIFAR-10 ResNet-20 -> airbench", 500, [CIFAR, RESNET], [CIFAR, "model=airbench"]),
    ("objects", "Fashion-MNIST ResNet-20 -> airbench", 500, [RESNET], ["model=airbench"]),
    ("denoising", "DnCNN-17, 40x40 patches", 64, ["batch_norm=true"], ["batch_norm=false"]),
    ("inpainting", "DCGAN 32x32", 64, [], []),
    ("separation", "DRNN, 512 units, 64-frame windows", 64, [], []),
    ("separation", "DRNN, 1000 units (the paper's)", 64, ["hidden=1000"], ["hidden=1000"]),
]


class StepTimer(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if batch == WARMUP - 1:
            self.start = time.perf_counter()
        elif batch == WARMUP + TIMED - 1:
            self.seconds = time.perf_counter() - self.start


def shape_of(tensor_shape, batch: int, patch: int) -> tuple[int, ...]:
    return (batch, *(patch if size is None else size for size in tensor_shape[1:]))


def throughput(task_name: str, words: list[str]) -> tuple[float, str, int]:
    """Training samples per second, the precision used and the parameter count of one configuration."""
    task = tasks.get(task_name)
    config = parse_overrides([f"task={task_name}", "epochs=1", *words], task.Config)
    config.precision = resolve_precision(config.precision)
    model = task.build(config)
    task.compile(model, config, steps_per_epoch=WARMUP + TIMED)
    rng = np.random.default_rng(0)
    count = config.batch_size * (WARMUP + TIMED)
    patch = getattr(config, "patch_size", FILL)
    inputs = model.inputs[0].shape if hasattr(model, "inputs") else (None, *model.image_shape)  # a DCGAN: images
    x = rng.uniform(0, 1, shape_of(inputs, count, patch)).astype("float32")
    if task_name in ("digits", "objects"):
        x, y = x * 255, rng.integers(0, 10, count)
    elif task_name == "inpainting":
        y = None  # a GAN learns from images alone
    else:
        y = rng.uniform(0, 1, shape_of(model.outputs[0].shape, count, patch)).astype("float32")
    timer = StepTimer()
    model.fit(x, y, batch_size=config.batch_size, epochs=1, verbose=0, callbacks=[timer], shuffle=False)
    return config.batch_size * TIMED / timer.seconds, config.precision, model.count_params()


def main() -> None:
    rows = []
    for task_name, network, batch, before, after in PAIRS:
        old, _, old_params = throughput(task_name, [*before, f"batch_size={batch}", "precision=float32"])
        new, new_precision, new_params = throughput(task_name, [*after, f"batch_size={batch}", "precision=auto"])
        rows.append(
            {
                "task": task_name,
                "network": network,
                "batch": batch,
                "before": " ".join([*before, "float32"]) + f" ({old_params:,} parameters)",
                "before samples/s": round(old, 1),
                "after": " ".join([*after, new_precision]) + f" ({new_params:,} parameters)",
                "after samples/s": round(new, 1),
                "speed-up": round(new / old, 2),
            }
        )
        print(rows[-1], flush=True)
    notes = (
        f"2 CPU cores; {TIMED} training steps timed after {WARMUP} warm-up steps; random data; "
        "TensorFlow backend (the default on CPU)."
    )
    print(write_results("fast_path", rows, notes).with_suffix(".md").read_text())


if __name__ == "__main__":
    main()

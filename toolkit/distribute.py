"""`distribute=data_parallel`: Keras' own data parallelism over all local devices, per backend.

JAX uses `keras.distribution.DataParallel` (one batch split across devices, gradients combined by
the compiled step); TensorFlow uses `tf.distribute.MirroredStrategy`. Nothing here averages gradients
by hand. In a multi-process JAX job, set KERAS_DISTRIBUTION_JOB_ADDRESSES, KERAS_DISTRIBUTION_NUM_PROCESSES
and KERAS_DISTRIBUTION_PROCESS_ID in each process: the scope then calls `keras.distribution.initialize()`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import keras

from toolkit.errors import ConfigError

MODES = ("none", "data_parallel")


@contextmanager
def distribution_scope(mode: str) -> Iterator[int]:
    """Build, compile and fit inside this; yields the number of devices the batch is split over."""
    if mode not in MODES:
        raise ConfigError(f"distribute={mode!r}: choose one of {', '.join(MODES)}.")
    if mode == "none":
        yield 1
        return
    backend = keras.backend.backend()
    if backend == "jax":
        if os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"):  # one process of a multi-host job
            keras.distribution.initialize()
        distribution = keras.distribution.DataParallel()
        previous = keras.distribution.distribution()
        keras.distribution.set_distribution(distribution)
        try:
            yield len(distribution.device_mesh.devices)
        finally:
            keras.distribution.set_distribution(previous)
    elif backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
        with strategy.scope():
            yield strategy.num_replicas_in_sync
    else:
        raise ConfigError(f"distribute=data_parallel is not available on the {backend} backend.")


def even_batches(data: Any, batch_size: int, replicas: int) -> Any:
    """Trim (x, y) arrays so the last batch splits evenly over the replicas (at most replicas-1 examples).

    TensorFlow's MirroredStrategy fails on a last batch that does not divide evenly
    ("Inputs to operation AddN ... must have the same size"); datasets handle this themselves.
    """
    if replicas == 1 or not isinstance(data, tuple):
        return data
    keep = len(data[0]) - (len(data[0]) % batch_size) % replicas
    return tuple(part[:keep] for part in data)

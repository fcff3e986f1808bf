"""`distribute=data_parallel`: Keras' own data parallelism over all devices of a job, per backend.

JAX uses `keras.distribution.DataParallel` (one batch split across devices, gradients combined by
the compiled step); TensorFlow uses `tf.distribute.MirroredStrategy` (the local devices). Nothing here
averages gradients by hand.

A multi-process JAX job (one process per machine) is configured in each process by KERAS_DISTRIBUTION_JOB_ADDRESSES,
KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID. Every process runs the same training and feeds
its own rows of each global batch (`batches_for_process`); process 0 alone writes the run folder (`is_chief`,
`callbacks_for_process`) and, on resume, sends its backup to the others.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras
import numpy as np

from toolkit.errors import ConfigError

MODES = ("none", "data_parallel")


def in_job() -> bool:
    """Whether this process is one of a multi-process JAX job (KERAS_DISTRIBUTION_NUM_PROCESSES is set)."""
    return keras.backend.backend() == "jax" and bool(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES"))


def join_job() -> None:
    """Connect to the job's other processes, once: JAX must do it before its first computation."""
    import jax

    if not jax.distributed.is_initialized():
        keras.distribution.initialize()  # reads the KERAS_DISTRIBUTION_* variables


def is_chief() -> bool:
    """Whether this process writes the run's files: process 0 of a job, or a process training on its own."""
    if not in_job():
        return True
    join_job()
    import jax

    return jax.process_index() == 0


@contextmanager
def distribution_scope(mode: str) -> Iterator[int]:
    """Build, compile and fit inside this; yields the number of devices the batch is split over (in all processes)."""
    if mode not in MODES:
        raise ConfigError(f"distribute={mode!r}: choose one of {', '.join(MODES)}.")
    backend = keras.backend.backend()
    if os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES") and (mode != "data_parallel" or backend != "jax"):
        raise ConfigError(
            "KERAS_DISTRIBUTION_NUM_PROCESSES is set: a multi-process job trains with KERAS_BACKEND=jax and "
            f"distribute=data_parallel (here {backend}, distribute={mode})."
        )
    if mode == "none":
        yield 1
        return
    if backend == "jax":
        if in_job():
            join_job()
        # the toolkit gives each process its part of every batch (batches_for_process): Keras must not split again
        distribution = keras.distribution.DataParallel(auto_shard_dataset=False)
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
    return tuple(None if part is None else part[:keep] for part in data)  # inpainting's y is None


class ArrayBatches(keras.utils.PyDataset):
    """Batches of (x, y) arrays (y may be None), shuffled each epoch by (seed, epoch): the same in every process.

    What `fit` gets for arrays (see `batches_for_process`): Keras shuffles arrays itself, but through tf.data, and a
    job needs batches every process agrees on.
    """

    def __init__(self, arrays: tuple, batch_size: int, seed: int | None):
        # two loader threads, for Keras' own queue: with it, Keras turns tf.data's autotuning off, whose teardown at
        # some epochs' ends otherwise waits seconds (about six airbench training steps) on its background thread
        super().__init__(workers=2)
        self.arrays = tuple(a for a in arrays if a is not None)
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0
        self._order()

    def _order(self) -> None:
        count = len(self.arrays[0])
        shuffled = self.seed is not None
        self.rows = np.random.default_rng([self.seed, self.epoch]).permutation(count) if shuffled else np.arange(count)

    def __len__(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)

    def __getitem__(self, index: int) -> tuple:
        rows = self.rows[index * self.batch_size : (index + 1) * self.batch_size]
        return keras.tree.map_structure(lambda a: a[rows], self.arrays)

    def on_epoch_end(self) -> None:
        if self.seed is not None:
            self.epoch += 1
            self._order()


class ProcessShard(keras.utils.PyDataset):
    """One process's rows of each global batch of `batches`: part `index` of `count` equal parts.

    A batch's rows beyond a multiple of `replicas` (all devices of the job) are dropped, so every device gets the
    same number. Keras visits the batches in the same order in every process: it shuffles their order with Python's
    `random`, which `train` seeds alike everywhere (`keras.utils.set_random_seed`).
    """

    def __init__(self, batches: keras.utils.PyDataset, index: int, count: int, replicas: int):
        loading = {"workers": batches.workers, "use_multiprocessing": batches.use_multiprocessing}
        super().__init__(**loading, max_queue_size=batches.max_queue_size)
        self.batches, self.index, self.count, self.replicas = batches, index, count, replicas

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> Any:
        batch = self.batches[index]
        rows = len(keras.tree.flatten(batch)[0])
        part = (rows - rows % self.replicas) // self.count
        return keras.tree.map_structure(lambda a: a[self.index * part : (self.index + 1) * part], batch)

    def on_epoch_begin(self) -> None:
        self.batches.on_epoch_begin()

    def on_epoch_end(self) -> None:
        self.batches.on_epoch_end()


def batches_for_process(data: Any, batch_size: int, replicas: int, shuffle_seed: int | None = None) -> Any:
    """What this process gives `fit` for `data` ((x, y) arrays, a PyDataset of batches, or None).

    Arrays become numpy batches (`ArrayBatches`), reshuffled each epoch from `shuffle_seed` (None keeps their order).
    Keras' own pipeline for arrays (tf.data, autotuned) ends some epochs by waiting seconds for its iterator's
    teardown (about six airbench training steps: 5-8 s of a 60 s CIFAR-10 epoch here); these batches do not.
    In a job, each process gets its part of every global batch, so each example is used once per epoch across
    the job; otherwise the batches themselves, trimmed by `even_batches`.
    """
    data = even_batches(data, batch_size, replicas)
    if isinstance(data, tuple):
        data = ArrayBatches(data, batch_size, shuffle_seed)
    if data is None or not in_job():
        return data
    import jax

    return ProcessShard(data, jax.process_index(), jax.process_count(), replicas)


@contextmanager
def _without_distribution() -> Iterator[None]:
    """New variables stay on this process's devices, and need none of the others."""
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


class OnChiefAlone(keras.callbacks.Callback):
    """Runs `callback`, which writes the run folder, in process 0 alone: with no distribution set.

    Under the job's distribution a new variable (Keras' saving makes throwaway ones) is placed on the devices of
    all processes and waits for the others to make it too; without it, process 0 writes on its own.
    """

    def __init__(self, callback: keras.callbacks.Callback):
        super().__init__()
        self.callback = callback

    def set_model(self, model):
        super().set_model(model)
        self.callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.callback.set_params(params)


def _alone(hook: str):
    def run(self, *args, **kwargs):
        with _without_distribution():
            return getattr(self.callback, hook)(*args, **kwargs)

    return run


for _hook in [name for name in vars(keras.callbacks.Callback) if name.startswith("on_")]:  # every hook Keras calls
    setattr(OnChiefAlone, _hook, _alone(_hook))


def _chief_files(folder: Path) -> dict[str, bytes]:
    """The files in process 0's `folder` (none if it has none), sent to every process of the job."""
    from jax.experimental import multihost_utils

    packed = io.BytesIO()
    if is_chief() and folder.is_dir():
        np.savez(packed, **{f.name: np.frombuffer(f.read_bytes(), np.uint8) for f in folder.iterdir() if f.is_file()})
    payload = np.frombuffer(packed.getvalue(), np.uint8)
    size = int(multihost_utils.broadcast_one_to_all(np.int32(payload.size)))
    if not size:
        return {}
    payload = multihost_utils.broadcast_one_to_all(payload if is_chief() else np.zeros(size, np.uint8))
    with np.load(io.BytesIO(payload.tobytes())) as archive:
        return {name: archive[name].tobytes() for name in archive.files}


class StartFromChief(keras.callbacks.Callback):
    """Every process of a job resumes from process 0's backup, which the others may have no access to.

    Restoring assigns the model's variables, which JAX does in all processes together, so all restore the same
    files at the same time: process 0 its `backup_dir` (with its BackupAndRestore, listed after this), the others
    a copy sent by process 0. With nothing to resume, nobody restores anything.
    """

    def __init__(self, backup_dir: str):
        super().__init__()
        self.backup_dir = Path(backup_dir)

    def on_train_begin(self, logs=None):
        files = _chief_files(self.backup_dir)
        if is_chief():
            return
        with tempfile.TemporaryDirectory() as folder:
            for name, content in files.items():
                (Path(folder) / name).write_bytes(content)
            restore = keras.callbacks.BackupAndRestore(folder)
            restore.set_model(self.model)
            with _without_distribution():
                restore.on_train_begin()


def on_this_process(model: keras.Model) -> keras.Model:
    """`model`, or in a job a copy whose variables live on this process alone.

    Process 0 evaluates after the others have left: a model whose variables span the job would wait for them
    whenever it assigns one (`evaluate` resets its metrics).
    """
    if not in_job():
        return model
    with tempfile.TemporaryDirectory() as folder:
        model.save(Path(folder) / "model.keras")
        with _without_distribution():
            return keras.saving.load_model(Path(folder) / "model.keras")


def callbacks_for_process(callbacks: list[keras.callbacks.Callback]) -> list[keras.callbacks.Callback]:
    """The frame's callbacks as this process runs them: as they are outside a job.

    In a job, every process keeps TerminateOnNaN (all must stop at the same step) and resumes together
    (StartFromChief); the rest write the run folder, which is process 0's: they run there alone (OnChiefAlone).
    """
    if not in_job():
        return callbacks
    steering = [c for c in callbacks if isinstance(c, keras.callbacks.TerminateOnNaN)]
    writers = [OnChiefAlone(c) for c in callbacks if c not in steering] if is_chief() else []
    backups = [StartFromChief(c.backup_dir) for c in callbacks if isinstance(c, keras.callbacks.BackupAndRestore)]
    return [*backups, *steering, *writers]

"""distribute=data_parallel on two simulated CPU devices, and in a job of two processes, matches one device."""

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.harness import ROOT, run_script, write_idx_dataset
from toolkit.distribute import ArrayBatches, ProcessShard, batches_for_process, distribution_scope
from toolkit.errors import ConfigError

SCRIPT = """
import csv, json, os, sys
backend = os.environ["KERAS_BACKEND"]
if backend == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from toolkit.distribute import distribution_scope
from toolkit.train import train

with distribution_scope("data_parallel") as devices:
    pass
weights, losses = {}, {}
for mode in ("none", "data_parallel"):
    # full-batch steps and no random augmentation: nothing depends on how each path draws random numbers;
    # float32, since precision=auto computes in bfloat16 on CPUs that have it, where sums differ by order far more
    result = train(["task=digits", "model=lenet5", "epochs=2", "batch_size=80", "verbose=0", "learning_rate=0.001",
                    "augment=false", "precision=float32", f"data_dir={sys.argv[1]}", f"run_dir={sys.argv[2]}/{mode}",
                    f"distribute={mode}"])
    weights[mode] = [np.asarray(w) for w in result.model.get_weights()]
    losses[mode] = [float(row["loss"]) for row in csv.DictReader(open(f"{sys.argv[2]}/{mode}/log.csv"))]
difference = max(float(np.abs(a - b).max()) for a, b in zip(weights["none"], weights["data_parallel"]))
print(json.dumps({"devices": devices, "difference": difference, "losses": losses}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_data_parallel_matches_single_device(backend, tmp_path):
    pytest.importorskip(backend)
    data = write_idx_dataset(tmp_path, "mnist", train=100)
    stdout = run_script(
        SCRIPT, str(data), str(tmp_path), backend=backend, XLA_FLAGS="--xla_force_host_platform_device_count=2"
    )
    measured = json.loads(stdout.strip().splitlines()[-1])
    assert measured["devices"] == 2
    # Adam moves every weight by about the learning rate per step, so 1e-4 is a tenth of one step
    assert measured["difference"] < 1e-4, measured
    np.testing.assert_allclose(measured["losses"]["data_parallel"], measured["losses"]["none"], rtol=1e-4)


def test_unknown_distribution_mode():
    with pytest.raises(ConfigError, match="choose one of none, data_parallel"):
        with distribution_scope("model_parallel"):
            pass


class InOrder(keras.utils.PyDataset):
    """A task's kind of PyDataset: batches of `size` rows of (x, y), in order, the last one shorter."""

    def __init__(self, arrays, size):
        super().__init__()
        self.arrays, self.size = arrays, size

    def __len__(self):
        return math.ceil(len(self.arrays[0]) / self.size)

    def __getitem__(self, index):
        return tuple(a[index * self.size : (index + 1) * self.size] for a in self.arrays)


@pytest.mark.parametrize("kind", ["arrays", "pydataset"])
def test_process_shards_use_every_example_once_per_epoch(kind):
    """Each global batch splits into two equal parts, one per process, and an epoch uses every example once."""
    x, y = np.arange(22)[:, None], np.arange(22) % 10  # batches of 8, 8 and 6
    batches = ArrayBatches((x, y), batch_size=8, seed=0) if kind == "arrays" else InOrder((x, y), 8)
    shards = [ProcessShard(batches, index, count=2, replicas=2) for index in (0, 1)]
    epochs = []
    for _ in range(2):
        parts = [[shard[step] for shard in shards] for step in range(len(shards[0]))]
        assert [[len(p[0]) for p in step] for step in parts] == [[4, 4], [4, 4], [3, 3]]
        assert all(np.array_equal(p[0][:, 0] % 10, p[1]) for step in parts for p in step)  # x and y stay paired
        epochs.append(np.concatenate([p[0][:, 0] for step in parts for p in step]))
        shards[0].on_epoch_end()  # Keras calls it on the one dataset each process has
    assert all(sorted(epoch) == list(range(22)) for epoch in epochs)
    assert (kind == "arrays") == (not np.array_equal(*epochs)), "arrays are reshuffled each epoch, datasets are not"


def test_a_single_process_trains_on_numpy_batches_of_every_example_once_per_epoch():
    """Arrays reach `fit` as numpy batches, not through Keras' tf.data pipeline (which stalls at some epochs' ends):
    training data reshuffled each epoch by the seed, validation data in order, a missing part left out."""
    x, y = np.arange(22)[:, None], np.arange(22) % 10
    train = batches_for_process((x, y), batch_size=8, replicas=1, shuffle_seed=0)
    assert isinstance(train, keras.utils.PyDataset) and len(train) == 3
    epochs = []
    for _ in range(2):
        batches = [train[step] for step in range(len(train))]
        assert all(np.array_equal(bx[:, 0] % 10, by) for bx, by in batches)  # x and y stay paired
        epochs.append(np.concatenate([bx[:, 0] for bx, _ in batches]))
        train.on_epoch_end()
    assert all(sorted(epoch) == list(range(22)) for epoch in epochs) and not np.array_equal(*epochs)
    val = batches_for_process((x, y), batch_size=8, replicas=1)
    assert np.array_equal(np.concatenate([val[step][0][:, 0] for step in range(len(val))]), np.arange(22))
    (images,) = batches_for_process((x, None), batch_size=8, replicas=1)[0]  # inpainting's images without labels
    assert images.shape == (8, 1)
    assert batches_for_process(None, batch_size=8, replicas=1) is None


def test_process_shards_split_a_last_batch_evenly_over_the_devices():
    shards = [ProcessShard(InOrder((np.arange(13),), 8), index, count=2, replicas=4) for index in (0, 1)]
    assert [len(shard[1][0]) for shard in shards] == [2, 2]  # 5 rows: 4 fit the 4 devices, 2 per process


JOB_SCRIPT = """
import sys
import jax
import numpy as np
from toolkit.train import train

result = train(sys.argv[2:])
np.savez(f"{sys.argv[1]}/weights-{jax.process_index()}.npz", *result.model.get_weights())
"""


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_job(words_per_process: list[list[str]], folder: Path) -> list[subprocess.Popen]:
    """One JAX process per entry, joined in a job on 127.0.0.1; each saves its final weights into `folder`."""
    folder.mkdir()
    addresses = ",".join(f"127.0.0.1:{port}" for port in free_ports(len(words_per_process)))
    processes = []
    for index, words in enumerate(words_per_process):
        env = {
            **os.environ,
            "KERAS_BACKEND": "jax",
            "JAX_PLATFORMS": "cpu",
            "KERAS_DISTRIBUTION_JOB_ADDRESSES": addresses,
            "KERAS_DISTRIBUTION_NUM_PROCESSES": str(len(words_per_process)),
            "KERAS_DISTRIBUTION_PROCESS_ID": str(index),
        }
        env.pop("XLA_FLAGS", None)  # one CPU device per process
        command = [sys.executable, "-c", JOB_SCRIPT, str(folder), *words]
        processes.append(subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    return processes


def weights(path: Path) -> list[np.ndarray]:
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def test_two_processes_train_as_one(tmp_path):
    """A job of two processes (one CPU device each) trains like one process on the same global batches.

    80 training examples in batches of 32 (the last one 16: 8 per process), 20 validation examples. The
    reference is a job of one process: it draws the same global batches and feeds each whole to one device.
    """
    pytest.importorskip("jax")
    data = write_idx_dataset(tmp_path, "mnist", train=100, test=16)
    words = [
        "task=digits",
        "model=mlp",
        "epochs=1",
        "batch_size=32",
        "learning_rate=0.001",
        "augment=false",
        "dropout=0",
        "precision=float32",
        "verbose=0",
        f"data_dir={data}",
        "distribute=data_parallel",
    ]
    runs, out = [tmp_path / "run0", tmp_path / "run1", tmp_path / "alone"], tmp_path / "out"
    processes = start_job(
        [[*words, f"run_dir={runs[0]}", f"out={out}"], [*words, f"run_dir={runs[1]}", f"out={out}"]], tmp_path / "job"
    )
    processes += start_job([[*words, f"run_dir={runs[2]}"]], tmp_path / "alone_job")
    deadline = time.monotonic() + 240
    try:
        logs = [p.communicate(timeout=deadline - time.monotonic())[0].decode(errors="replace") for p in processes]
    finally:  # a process that failed to start leaves the others waiting for it
        for process in processes:
            process.kill()
    for process, log in zip(processes, logs):
        assert process.returncode == 0, log[-3000:]

    # process 0's model is its best checkpoint, process 1's its last weights: the same after one epoch
    first, second = weights(tmp_path / "job/weights-0.npz"), weights(tmp_path / "job/weights-1.npz")
    alone = weights(tmp_path / "alone_job/weights-0.npz")
    for a, b, c in zip(first, second, alone):
        np.testing.assert_array_equal(a, b)  # one program over both processes: the same weights everywhere
        np.testing.assert_allclose(a, c, atol=1e-5)  # the same steps as one device (Adam moves a weight ~1e-3)
    assert not runs[1].exists(), "process 1 wrote a run folder"
    assert len((runs[0] / "log.csv").read_text().splitlines()) == 2  # header and one epoch, from process 0 alone
    card = json.loads((out / "digits_mlp.json").read_text())
    assert card["config"]["run_dir"] == str(runs[0]) and (out / "digits_mlp.keras").exists()

"""distribute=data_parallel on two simulated CPU devices matches single-device training."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.harness import write_idx_dataset
from toolkit.distribute import distribution_scope
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
    # full-batch steps and no random augmentation: nothing depends on how each path draws random numbers
    result = train(["task=digits", "model=lenet5", "epochs=2", "batch_size=80", "verbose=0", "learning_rate=0.001",
                    "augment=false", f"data_dir={sys.argv[1]}", f"run_dir={sys.argv[2]}/{mode}", f"distribute={mode}"])
    weights[mode] = [np.asarray(w) for w in result.model.get_weights()]
    losses[mode] = [float(row["loss"]) for row in csv.DictReader(open(f"{sys.argv[2]}/{mode}/log.csv"))]
difference = max(float(np.abs(a - b).max()) for a, b in zip(weights["none"], weights["data_parallel"]))
print(json.dumps({"devices": devices, "difference": difference, "losses": losses}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_data_parallel_matches_single_device(backend, tmp_path):
    pytest.importorskip(backend)
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_PLATFORMS": "cpu",
    }
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(write_idx_dataset(tmp_path, "mnist", train=100)), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=Path(__file__).parents[1],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["devices"] == 2
    # Adam moves every weight by about the learning rate per step, so 1e-4 is a tenth of one step
    assert measured["difference"] < 1e-4, measured
    np.testing.assert_allclose(measured["losses"]["data_parallel"], measured["losses"]["none"], rtol=1e-4)


def test_unknown_distribution_mode():
    with pytest.raises(ConfigError, match="choose one of none, data_parallel"):
        with distribution_scope("model_parallel"):
            pass

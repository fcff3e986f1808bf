"""Checks every task's tests share (keras-hub style): build, one training step, save/load round trip."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
from streamlit.testing.v1 import AppTest

from toolkit import saving
from toolkit.train import TrainResult, train

ROOT = Path(__file__).resolve().parents[1]


def run_script(script: str, *args: str, backend: str = "jax", timeout: float = 300, **env: str) -> str:
    """Run `python -c script args` in a fresh process on `backend` (JAX on the CPU) from the repository root;
    its stdout, after checking that it succeeded. The backend is fixed when Keras is imported, hence a process."""
    environment = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", **env}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write `array` (uint8) as a gzipped IDX file, the MNIST format."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())
    return path


def write_idx_dataset(root: Path, folder: str, train: int = 96, test: int = 32, seed: int = 0) -> Path:
    """A tiny MNIST-layout data set of random 28x28 images with labels 0-9 under `root/folder`."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("t10k", test)):
        write_idx(root / folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(root / folder / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return root


def assert_round_trip(model: keras.Model, inputs, tmp_path: Path, atol: float = 1e-5) -> keras.Model:
    """Save with toolkit.saving, reload with plain keras (safe mode on) and compare predictions."""
    path = saving.save_model(model, tmp_path / f"{model.name}.keras")
    loaded = keras.saving.load_model(path)
    expected, actual = model.predict(inputs, verbose=0), loaded.predict(inputs, verbose=0)
    for want, got in zip(keras.tree.flatten(expected), keras.tree.flatten(actual)):
        np.testing.assert_allclose(got, want, atol=atol)
    return loaded


def train_once(words: Sequence[str], tmp_path: Path) -> TrainResult:
    """One epoch through the real training entry point, into folders under `tmp_path`."""
    return train([*words, "epochs=1", "verbose=0", f"run_dir={tmp_path / 'run'}", f"out={tmp_path / 'out'}"])


APPS = ROOT / "apps"


def app_page(name: str, timeout: float = 90) -> AppTest:
    """An AppTest of `apps/pages/<name>.py` (or `apps/Home.py` for "Home"), not yet run."""
    path = APPS / "Home.py" if name == "Home" else APPS / "pages" / f"{name}.py"
    return AppTest.from_file(str(path), default_timeout=timeout)

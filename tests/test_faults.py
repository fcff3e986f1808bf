"""A training run killed mid-way (SIGTERM or SIGKILL) resumes to a complete, valid run."""

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from toolkit import saving
from toolkit.cli import STOP_REQUESTED
from toolkit.train import StopWhenSignalled

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 12


def start_training(data: Path, run: Path, *extra: str) -> subprocess.Popen:
    words = ["task=digits", "model=mlp", f"epochs={EPOCHS}", "batch_size=16", "backup_every=2", "verbose=2"]
    return subprocess.Popen(
        [sys.executable, "-m", "toolkit.train", *words, f"data_dir={data}", f"run_dir={run}", *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def logged_epochs(run: Path) -> list[int]:
    log = run / "log.csv"
    return [int(row["epoch"]) for row in csv.DictReader(log.open())] if log.exists() else []


def wait_for_epochs(run: Path, count: int, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while len(logged_epochs(run)) < count:
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "training did not get going"
        time.sleep(0.2)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_killed_run_resumes_to_the_end(stop, tiny_mnist, tmp_path):
    run = tmp_path / "run"
    process = start_training(tiny_mnist, run)
    wait_for_epochs(run, 2, process)
    process.send_signal(stop)
    output, _ = process.communicate(timeout=120)
    if stop == signal.SIGTERM:
        assert process.returncode == 130 and "resume=true" in output, output[-3000:]
    else:
        assert process.returncode == -signal.SIGKILL, output[-3000:]
    assert (run / "backup").exists() and not (run / "model.keras").exists()
    first_part = json.loads((run / "clock.json").read_text())["seconds"]

    resume = [
        sys.executable,
        "-m",
        "toolkit.train",
        "task=digits",
        "resume=true",
        f"run_dir={run}",
        f"data_dir={tiny_mnist}",
    ]
    resumed = subprocess.run(resume, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    epochs = logged_epochs(run)
    assert epochs == list(range(EPOCHS))  # each epoch logged once, though the kill came mid-epoch
    assert saving.load_model(run / "model.keras").count_params() > 0
    assert not (run / "backup").exists()
    card = json.loads((run / "metrics.json").read_text())
    assert card["training_parts"] == 2  # the card's time covers the killed part too
    assert card["training_seconds"] > first_part > 0

    # the same command again: the run has finished, so nothing is trained, rewritten or logged twice
    model_written = (run / "model.keras").stat().st_mtime_ns
    again = subprocess.run([*resume, f"epochs={EPOCHS + 3}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "has finished (12 epochs): nothing to resume" in again.stdout, again.stderr
    assert f"init={run / 'model.keras'} epochs=3" in again.stdout  # how to train further instead
    assert logged_epochs(run) == list(range(EPOCHS)) and (run / "model.keras").stat().st_mtime_ns == model_written
    assert json.loads((run / "metrics.json").read_text())["training_parts"] == 2

    # a run trained without out= ships as it is: its model and its card, nothing trained again
    shipped = subprocess.run([*resume, f"out={tmp_path / 'trained'}"], cwd=ROOT, capture_output=True, text=True)
    assert shipped.returncode == 0, shipped.stderr[-2000:]
    card = json.loads((run / "metrics.json").read_text())
    assert json.loads((tmp_path / "trained" / "digits_mlp.json").read_text()) == card
    assert saving.load_model(tmp_path / "trained" / "digits_mlp.keras").count_params() > 0
    assert logged_epochs(run) == list(range(EPOCHS)) and (run / "model.keras").stat().st_mtime_ns == model_written


def test_a_swallowed_sigterm_still_stops_training_at_the_next_batch():
    """The SIGTERM handler's KeyboardInterrupt can be swallowed where it lands; its flag is checked per batch."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((8, 2), np.float32)
    STOP_REQUESTED.set()
    try:
        with pytest.raises(KeyboardInterrupt):
            model.fit(x, x[:, :1], batch_size=2, epochs=1, verbose=0, callbacks=[StopWhenSignalled()])
    finally:
        STOP_REQUESTED.clear()
    model.fit(x, x[:, :1], batch_size=2, epochs=1, verbose=0, callbacks=[StopWhenSignalled()])  # no request: trains

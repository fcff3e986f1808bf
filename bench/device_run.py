"""One full training call on a lent GPU: CIFAR-10 airbench under JAX and the two DnCNN models of the denoising issue.

A GPU session has about 15 minutes of device time in all, the machine has no TensorFlow, keras or omegaconf,
and neither `../shared` nor more than 64 MiB travels. So, here, beforehand:

    python -m bench.device_run pack        # -> .carry/ (data: CIFAR-10 JPEGs in one lzma blob, Train400/BSD68)
    pip download ... -d .whl keras omegaconf optree namex librosa soundfile mir_eval audioread soxr pooch \
        decorator platformdirs cffi pycparser   # Python 3.12 wheels (see the device tool's README)
    SMALL=1 OUT=/tmp/out TOOLKIT_DATA=/tmp/data KERAS_BACKEND=jax python -m bench.device_run run   # dry run on CPU

then move `trained/` aside and send `bash bench/device_run.sh` with carry [".whl", ".carry"]. On the device,
`run` starts the CIFAR-10 job, times 3 short epochs of each DnCNN under that load (a probe), and sizes the
DnCNN runs (40 epochs, patches per epoch from the probe) to end before BUDGET seconds; models, cards, one
log and the runs' histories land in $OUT (8 files at most come back).
"""

from __future__ import annotations

import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

from toolkit.data.paths import data_dir

START = time.time()
CARRY = Path(".carry")
RUNS = Path("/tmp/runs")
SMALL = os.environ.get("SMALL") == "1"  # a dry run on CPU: tiny networks, batches and epochs
BATCH = 8 if SMALL else 128
PROBE_STEPS, PROBE_EPOCHS = (5, 2) if SMALL else (40, 3)
EPOCHS = 4 if SMALL else 40
RECIPES = {  # DnCNN-S (sigma 25) and DnCNN-B (blind, sigma 0-55) as Zhang et al. 2017 train them
    "denoising": ["task=denoising", "sigma=25", "depth=17", "patch_size=40"],
    "denoising_blind": ["task=denoising", "sigma=blind", "depth=20", "patch_size=50"],
}
DENOISING = ["batch_norm=true", f"batch_size={BATCH}", "learning_rate=1e-3", "baselines=none", "seed=0"]
CIFAR = ["task=objects", "dataset=cifar10", "validation_size=0", "learning_rate=1.0", "weight_decay=0.0133"]
CIFAR += ["cutout=8"] + (["epochs=1", "limit=1000"] if SMALL else ["epochs=45"])
COMMON = ["precision=mixed_bfloat16", "verbose=2"]


def pack(blob: Path = CARRY / "cifar.xz") -> None:
    """CIFAR-10's 60,000 JPEGs as one lzma stream (their repeated headers shrink 55 MB to 18) + the denoising sets."""
    root = data_dir() / "cifar-10-jpeg"
    files = sorted(p for p in root.rglob("*") if p.is_file())
    index = json.dumps([[str(p.relative_to(root)), p.stat().st_size] for p in files]).encode()
    blob.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(blob, "wb") as f:
        f.write(len(index).to_bytes(8, "little") + index)
        for path in files:
            f.write(path.read_bytes())
    shutil.copytree(data_dir() / "denoising", CARRY / "data" / "denoising", dirs_exist_ok=True)


def unpack(blob: Path, root: Path) -> None:
    with lzma.open(blob) as f:
        index = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        for name, size in index:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(f.read(size))


class Log:
    def __init__(self, path: Path):
        self.file = open(path, "a", buffering=1)  # open for the whole run

    def __call__(self, *words) -> None:
        self.file.write(f"[{time.time() - START:6.1f}] " + " ".join(str(w) for w in words) + "\n")


class Job:
    """`python -m toolkit.train WORDS` in the background; its output lines, time-stamped, go to the log."""

    def __init__(self, name: str, words: list[str], log: Log):
        self.name, self.log, self.lines = name, log, []
        env = dict(os.environ, XLA_PYTHON_CLIENT_MEM_FRACTION="0.3", PYTHONUNBUFFERED="1")  # three at a time
        log(name, "START", " ".join(words))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "toolkit.train", *words], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env=env,
        )  # fmt: skip
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append((time.time(), line.rstrip()))
            self.log(f"{self.name}|", line.rstrip())

    def seconds_per_step(self, epoch: int, steps: int) -> float | None:
        """Wall time of epoch `epoch` (its 'Epoch k/N' line to its summary line, validation included) per step."""
        begins = [t for t, line in self.lines if line.startswith(f"Epoch {epoch}/")]
        ends = [t for t, line in self.lines if begins and t > begins[0] and line.startswith(f"{steps}/{steps} ")]
        return (ends[0] - begins[0]) / steps if ends else None

    def wait(self, until: float, enough=lambda: False) -> None:
        """Until the process ends, `enough()` holds or the time `until` passes (both stop it)."""
        while self.proc.poll() is None and not enough() and time.time() < until:
            time.sleep(1)
        if self.proc.poll() is None:
            self.log(self.name, "stopped")
            self.proc.kill()
        self.proc.wait()
        self.reader.join(timeout=5)
        self.log(self.name, "exit", self.proc.returncode)


def run(budget: float, eval_margin: float = 45) -> None:
    out, data = Path(os.environ["OUT"]), Path(os.environ["TOOLKIT_DATA"])
    log = Log(out / "driver.log")
    if shutil.which("nvidia-smi"):
        subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv"], stdout=log.file)
    if not (data / "cifar-10-jpeg").is_dir():
        unpack(CARRY / "cifar.xz", data / "cifar-10-jpeg")
    if not (data / "denoising").is_dir():
        shutil.copytree(CARRY / "data" / "denoising", data / "denoising")
    log("data ready; backend", os.environ.get("KERAS_BACKEND"))
    cifar = Job("cifar10", CIFAR + COMMON + [f"out={out}", f"run_dir={RUNS}/cifar10"], log)

    recipes = {name: words + (["depth=3"] if SMALL else []) for name, words in RECIPES.items()}
    probes = {
        name: Job(f"probe-{name}", words + DENOISING + COMMON + [
            f"epochs={PROBE_EPOCHS}", f"patches_per_epoch={BATCH * PROBE_STEPS}", f"run_dir={RUNS}/probe-{name}"
        ], log)
        for name, words in recipes.items()
    }  # fmt: skip
    rates = {}
    for name, job in probes.items():
        job.wait(START + 240, enough=lambda job=job: job.seconds_per_step(PROBE_EPOCHS, PROBE_STEPS) is not None)
        rates[name] = job.seconds_per_step(PROBE_EPOCHS, PROBE_STEPS) or 0.05
    log("seconds per step under load (validation included):", rates)

    train_until = START + budget - eval_margin
    runs = {}
    for name, words in recipes.items():
        steps = (train_until - time.time()) * 0.85 / rates[name]
        per_epoch = 5 if SMALL else max(1, int(steps) // EPOCHS - 8)  # 8 validation batches an epoch
        sizes = [f"epochs={EPOCHS}", f"patches_per_epoch={BATCH * per_epoch}", f"run_dir={RUNS}/{name}", f"out={out}"]
        runs[name] = Job(name, words + DENOISING + COMMON + sizes, log)
        log(name, "planned", EPOCHS * per_epoch * BATCH, "patches")
    for job in runs.values():
        job.wait(START + budget)
    cifar.wait(START + budget + 20)
    with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:  # histories, configs, clocks: no weights
        for path in RUNS.rglob("*"):
            if path.is_file() and path.suffix not in (".keras", ".h5"):
                tar.add(path, arcname=str(path.relative_to(RUNS)))
    log("done; $OUT holds", sorted(p.name for p in out.iterdir()))


if __name__ == "__main__":
    if sys.argv[1:] == ["pack"]:
        pack()
    elif sys.argv[1:] == ["run"]:
        run(float(os.environ.get("BUDGET", 470)))
    else:
        sys.exit("usage: python -m bench.device_run pack|run")

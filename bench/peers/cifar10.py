"""CIFAR-10 beside the reference trainer: Jordan's airbench94 (the `airbench` package, PyTorch) and the toolkit's
port of its recipe, on the same JPEG q75 copy and the same CPUs, in one run.

python -m bench.peers.cifar10 [row ...] [--epochs 10] [--rounds R] [--limit N]
    ->  bench/results/peers_cifar10.json and .md

Rows, one full training each, in this order unless named: `reference-float32` and `reference-bfloat16`
(`airbench.train94` with its own hyperparameters; the second under PyTorch's CPU autocast), `toolkit` (the
`airbench94-10` recipe of bench.cifar_recipe, its settings list reused, at the trainer's precision=auto) and
`toolkit-relu` (its `airbench94-relu-10`: ReLU for GELU, the cheaper step on these CPUs). A
finished row is kept in runs/peers/e<epochs>/<row>/row.json and reused, so an interrupted benchmark does not
train it again (delete the folder to); the toolkit's run resumes from its last epoch. `--limit N` trains on the
toolkit's random subset of N training and N test images (at least one batch of 1024), in runs/peers/e<E>-n<N>/,
and leaves bench/results as it is: a smoke run. `--rounds R` trains the rows R times, taking turns (A B A B), each
round after the first in <row>-round<k>/: the machine's speed drifts, so a throughput ratio is best read between
neighbouring rows, and repeated. Needs the bench-only extra: pip install -e ".[peers]".

The data: this machine's copy, read by the toolkit's loader, is written once in airbench's own format
(runs/peers/data[-n<N>]/{train,test}.pt: uint8 images (N, 32, 32, 3), int64 labels, class names), so both trainers
see the same pixels.

Running airbench 0.1.8 on a CPU. Its trainer assumes CUDA in three places, each a hard error without a GPU
("Found no NVIDIA driver"); `on_cpu` gives each the smallest stand-in for the length of the call, and the
training itself (network, data order and augmentation, optimiser, schedule, lookahead, whitening, test-time
augmentation) is the package's:
1. `make_net94` ends with `net.half().cuda()`: `cpu_net` builds it with `Module.cuda` a no-op, then makes it
   float32 (PyTorch has no fast float16 convolutions on these CPUs; its loader's float16 images become float32).
2. `train` times itself with `torch.cuda.Event` and `torch.cuda.synchronize` even when it prints nothing:
   stand-ins on the CPU clock.
3. `train` builds its own test loader, `CifarLoader("cifar10", train=False)`, on CUDA device 0 (the loader's
   default `gpu=0`) from ./cifar10: it gets the converted test split on the CPU (it reads it only when verbose).
Our loaders take the CPU through the loader's own `gpu="cpu"`. In bfloat16 the float32 network runs under
`torch.autocast("cpu", torch.bfloat16, cache_enabled=False)` (weights stay float32, as Keras' mixed_bfloat16 keeps
them; without the cache, each step casts the weights as they are now), except the
whitening filters' patch covariance: computed in float32, as on the GPU, where autocast would round its matrix
product to bfloat16. Accuracy is airbench's own `evaluate` at its test-time augmentation level.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from importlib.metadata import version
from pathlib import Path
from unittest import mock

# airbench (torchvision, which loads triton) before Keras: triton's library crashes (segmentation fault) a process
# that loaded TensorFlow first, so import this module before anything that imports Keras
import airbench
import airbench.utils
import keras
import numpy as np
import torch
from airbench.lib_airbench94 import hyp

from bench.cifar_recipe import BASE, RECIPES
from bench.common import write_results
from toolkit import saving
from toolkit.objects.data import DATASETS, load_object_split
from toolkit.train import train

RUNS = Path("runs/peers")
# the toolkit's rows: bench.cifar_recipe's port of airbench94, and the port with ReLU for GELU (the faster step)
TOOLKIT_RECIPES = {"toolkit": "airbench94-10", "toolkit-relu": "airbench94-relu-10"}
BATCH = hyp["opt"]["batch_size"]  # airbench94's own settings, read from the package
ROWS = ("reference-float32", "reference-bfloat16", *TOOLKIT_RECIPES)


def convert(folder: Path, limit: int | None = None, data_dir: str | None = None) -> Path:
    """Write CIFAR-10 as the toolkit loads it (JPEG copy; `limit`: its random subset) into `folder`/{train,test}.pt,
    the files `airbench.CifarLoader(folder)` reads; once: existing files are kept."""
    for split in ("train", "test"):
        path = folder / f"{split}.pt"
        if path.exists():
            continue
        images, labels = load_object_split("cifar10", split, data_dir, limit)
        data = {
            "images": torch.from_numpy(np.ascontiguousarray(images)),  # uint8 (N, 32, 32, 3), as torchvision's
            "labels": torch.from_numpy(labels.astype(np.int64)),
            "classes": list(DATASETS["cifar10"].classes),
        }
        folder.mkdir(parents=True, exist_ok=True)
        saving.write_atomically(path, ".tmp", lambda tmp, data=data: torch.save(data, tmp))
    return folder


class CpuEvent:
    """What airbench's trainer uses of `torch.cuda.Event`: `record` and `elapsed_time` (ms), on the CPU clock."""

    def __init__(self, enable_timing: bool = False, **kwargs):
        self.seconds = 0.0

    def record(self, stream=None) -> None:
        self.seconds = time.perf_counter()

    def elapsed_time(self, end: CpuEvent) -> float:
        return 1000 * (end.seconds - self.seconds)


def cpu_net() -> torch.nn.Module:
    """airbench94's network (`make_net94`) in float32 on the CPU: built with `Module.cuda` a no-op."""
    with mock.patch.object(torch.nn.Module, "cuda", lambda module, device=None: module):
        return airbench.make_net94().float()


def cpu_loader(folder: Path, train: bool, batch_size: int, **options) -> airbench.CifarLoader:
    """airbench's loader of `folder` on the CPU, its images float32 (it makes them float16 for the GPU)."""
    loader = airbench.CifarLoader(str(folder), train, batch_size, gpu="cpu", **options)
    loader.images = loader.images.float()
    return loader


@contextmanager
def on_cpu(folder: Path) -> Iterator[None]:
    """While inside: airbench's trainer runs without CUDA (see the module docstring), its test loader on `folder`."""
    whiten = airbench.utils.init_whitening_conv

    def float32_whitening(*args, **kwargs):
        with torch.autocast("cpu", enabled=False):
            return whiten(*args, **kwargs)

    def test_loader(path, train=False, batch_size=2000, **options):  # train()'s CifarLoader("cifar10", ...)
        return cpu_loader(folder, train, batch_size, **options)

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(torch.cuda, "Event", CpuEvent))
        stack.enter_context(mock.patch.object(torch.cuda, "synchronize", lambda device=None: None))
        stack.enter_context(mock.patch.object(airbench.utils, "CifarLoader", test_loader))
        stack.enter_context(mock.patch.object(airbench.utils, "init_whitening_conv", float32_whitening))
        yield


def train_reference(
    folder: Path, precision: str, epochs: int, batch_size: int = BATCH, seed: int = 0
) -> tuple[torch.nn.Module, dict]:
    """airbench94 trained on `folder`'s training split on the CPU, in "float32" or "bfloat16" (autocast), and its
    figures: test accuracy (airbench's `evaluate`), training seconds (the whole `train94` call) and images seen."""
    if precision not in ("float32", "bfloat16"):
        raise ValueError(f"precision={precision}: float32 or bfloat16")
    torch.manual_seed(seed)
    # train94's own loader settings (its default loader is CifarLoader("cifar10", ...) on the GPU)
    loader = cpu_loader(folder, True, batch_size, aug=hyp["aug"], altflip=True)
    test = cpu_loader(folder, False, 2000)
    # cache_enabled=False: autocast keeps its bfloat16 copies of the weights until the context closes, and this one
    # spans all of training, so with the cache every step would run on the first step's weights (22 % accuracy)
    bfloat16 = torch.autocast("cpu", torch.bfloat16, enabled=precision == "bfloat16", cache_enabled=False)
    with on_cpu(folder), bfloat16:
        start = time.perf_counter()
        model = airbench.train94(loader, epochs=epochs, make_net=cpu_net, verbose=False)
        seconds = time.perf_counter() - start
        accuracy = airbench.evaluate(model, test, tta_level=hyp["net"]["tta_level"])
    images = math.ceil(len(loader) * epochs) * batch_size
    return model, {"test_accuracy": accuracy, "training_seconds": seconds, "images": images}


def reference_row(precision: str, epochs: int, data: Path) -> dict:
    _, figures = train_reference(data, precision, epochs)
    trainer = f"airbench94 (airbench {version('airbench')}, PyTorch {torch.__version__.split('+')[0]})"
    return row(trainer, precision, epochs, figures)


def toolkit_row(recipe: str, epochs: int, limit: int | None, folder: Path) -> dict:
    """bench.cifar_recipe's `recipe` for `epochs`, trained (or resumed) in `folder`/run."""
    words = [*BASE, *RECIPES[recipe][1], f"epochs={epochs}", f"run_dir={folder / 'run'}", "resume=true", "verbose=2"]
    card = train([*words, f"limit={limit}"] if limit else words).card
    figures = {
        "test_accuracy": card["metrics"]["test_accuracy"],
        "training_seconds": card["training_seconds"],
        "images": epochs * card["data"]["train"],
    }
    trainer = f"toolkit {recipe} (Keras {keras.__version__}, {keras.backend.backend()})"
    return row(trainer, card["config"]["precision"], epochs, figures)


def row(trainer: str, precision: str, epochs: int, figures: dict) -> dict:
    return {
        "trainer": trainer,
        "precision": precision,
        "epochs": epochs,
        "test accuracy (%)": round(100 * figures["test_accuracy"], 2),
        "images/s": round(figures["images"] / figures["training_seconds"], 1),
        "minutes": round(figures["training_seconds"] / 60, 1),
    }


def round_folder(name: str, round_: int) -> str:
    """The folder of `name`'s row in round `round_` (1: the row's own folder)."""
    return name if round_ == 1 else f"{name}-round{round_}"


def cached_row(path: Path, make: Callable[[], dict]) -> dict:
    """The row in `path` if a finished run wrote it; else `make()` it, stamped with when it finished (the machine's
    speed drifts by 10 % and more over a day, so a row's images/s is read beside its neighbours'), and keep it."""
    if path.exists():
        return json.loads(path.read_text())
    result = make() | {"finished (UTC)": time.strftime("%Y-%m-%d %H:%M", time.gmtime())}
    saving.write_json(result, path)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.cifar10", description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="*", help=f"rows to train (default: all): {', '.join(ROWS)}")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1, help="train the rows this many times, taking turns")
    parser.add_argument("--limit", type=int, default=None, help="train and test on N images each: a smoke run")
    args = parser.parse_args(argv)
    unknown = set(args.rows) - set(ROWS)
    if unknown:
        parser.error(f"unknown row(s) {', '.join(sorted(unknown))}; rows: {', '.join(ROWS)}")
    if args.limit is not None and args.limit < BATCH:
        parser.error(f"--limit {args.limit}: airbench drops a last partial batch, so at least {BATCH} images")
    tag = f"e{args.epochs}" + (f"-n{args.limit}" if args.limit else "")
    folder = RUNS / tag
    data = convert(RUNS / ("data" + (f"-n{args.limit}" if args.limit else "")), args.limit)

    def make_row(name: str, run: Path) -> dict:
        if name in TOOLKIT_RECIPES:
            return toolkit_row(TOOLKIT_RECIPES[name], args.epochs, args.limit, run)
        return reference_row(name.removeprefix("reference-"), args.epochs, data)

    for round_ in range(1, args.rounds + 1):
        for name in args.rows or ROWS:
            run = folder / round_folder(name, round_)
            print(json.dumps(cached_row(run / "row.json", lambda name=name, run=run: make_row(name, run))), flush=True)
    rows = []
    for name in ROWS:
        for round_ in itertools.count(1):
            path = folder / round_folder(name, round_) / "row.json"
            if not path.exists():
                break
            row_ = json.loads(path.read_text())
            rows.append({"trainer": row_["trainer"], "round": round_, **row_})
    if args.limit:
        print(f"Smoke run on {args.limit} images: rows in {folder}/, bench/results left as it is.")
        return
    notes = (
        f"python -m bench.peers.cifar10 [row ...] --epochs {args.epochs} [--rounds R]; the JPEG q75 copy of CIFAR-10, "
        f"converted once for airbench's loader; every row on the same {torch.get_num_threads()} CPU threads "
        "(PyTorch), one at a time, finishing when its last column says (rounds: the rows trained again, taking turns); "
        f"reference: airbench.train94 with its own settings (batch {BATCH}, test-time augmentation level "
        f"{hyp['net']['tta_level']}) through bench/peers/cifar10.py's CPU stand-ins, bfloat16 = torch.autocast; "
        f"toolkit: bench.cifar_recipe's {' and '.join(TOOLKIT_RECIPES.values())} settings; "
        "images/s = training images / training seconds "
        "(reference: the whole train94 call; toolkit: the run clock)"
    )
    print(write_results("peers_cifar10", rows, notes))


if __name__ == "__main__":
    main(sys.argv[1:])

"""CIFAR-10 recipe ablations: which of airbench's ingredients pay here, at a fixed number of epochs.

python -m bench.cifar_recipe [name ...]  ->  bench/results/cifar_recipe.json and .md

Each recipe is one full training run (about 2 minutes per epoch of the default network on 2 shared cores) in
runs/cifar_recipe/<name>, tested on the JPEG q75 test split by the trainer. A finished run's card is reused:
delete its folder to train it again; an interrupted one resumes. Without names, every recipe runs.

`jpeg50-10` asks how much the JPEG copy costs: it trains and tests on the same images re-encoded at quality 50
(4:2:0 chroma, like the copy). The drop from q75 to q50 is a yardstick for what q75 took from the originals.
`airbench94-10` takes airbench94's hyperparameters (its learning rate and weight decay converted to this batch,
momentum and Keras' decoupled decay), with GELU and mirrored borders for the shifts and BatchNorm keeping 0.6 of
its statistics per step (airbench's BatchNorm(momentum=0.6) hands PyTorch momentum 0.4, the share of the new
batch), and its freezing of the whitening bias after 3 epochs (`freeze_whitening=3`, which also spares a backward
convolution per step). `airbench94-bn0.4-10` is the port's first conversion, which kept 0.4 and trained the
whitening bias throughout. `airbench94-relu-10` swaps GELU, which takes about 16 % of a bfloat16 training
step on these CPUs (python -m bench.airbench_step), for ReLU.
`muon-8` takes airbench94_muon's (94.01 % in 8 epochs on the original pixels): Muon at 0.24 with momentum 0.6 for
the convolution filters (`optimizer=muon`), Nesterov SGD with momentum 0.85 for the rest, batch 2000, the rate
decaying from the first step, no lookahead, BatchNorm keeping 0.6 of its statistics per step (PyTorch's
momentum 0.4). Its SGD rates, given per summed example, are per mean example 0.053 x 2000 = 106 for the biases
(1.5 x bias_boost 64 here) and 0.67 x 2000 for the classifier, whose output it scales by 1/256: at this network's
1/9 that is 0.67 x 2000 x 81 / 256^2 = 1.66, about 1.5. Its decay of 0.004 per step through momentum 0.85
is 0.0267 per step, 0.0178 x 1.5 decoupled (the filters take none: Muon holds their norm). `muon-cutout-20` asks
what 20 epochs of it give, with cutout since muon-8 already fits 96.5 % of the training images; `muon-cutout-40`
what the next doubling gives.

The table keeps the rows of recipes measured before whose runs are no longer here (runs/ is not kept everywhere):
a recipe's row comes from its run when there is one, else from bench/results/cifar_recipe.json when its settings
there are the recipe's settings now.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import write_results
from toolkit.objects.data import DATASETS, load_object_split
from toolkit.train import train

RUNS = Path("runs/cifar_recipe")
RESULTS = Path("bench/results/cifar_recipe.json")
Q50 = RUNS / "q50"  # the data set re-encoded at JPEG quality 50, for jpeg50-10
BASE = ["task=objects", "dataset=cifar10", "validation_size=0", "learning_rate=1.0", "weight_decay=0.0133"]


def airbench94_settings(bn_momentum: float, activation: str = "gelu", freeze_whitening: int = 3) -> list[str]:
    """airbench94's hyperparameters in the trainer's terms, for 10 epochs."""
    return [
        "epochs=10",
        "batch_size=1024",
        "learning_rate=1.5",
        "weight_decay=0.0089",
        "momentum=0.85",
        "bias_boost=64",
        f"bn_momentum={bn_momentum}",
        "shift_fill=reflect",
        f"activation={activation}",
        *([f"freeze_whitening={freeze_whitening}"] if freeze_whitening else []),
    ]


def muon_settings(epochs: int, extra: list[str] | None = None) -> list[str]:
    """airbench94_muon's hyperparameters in the trainer's terms."""
    return [
        f"epochs={epochs}",
        "batch_size=2000",
        "optimizer=muon",
        "muon_learning_rate=0.24",
        "muon_momentum=0.6",
        "learning_rate=1.5",
        "momentum=0.85",
        "weight_decay=0.0178",
        "warmup=0",
        "lookahead=false",
        "bias_boost=64",
        "bn_momentum=0.6",
        "shift_fill=reflect",
        "activation=gelu",
        *(extra or []),
    ]


RECIPES = {  # name: (what it tests, settings on top of BASE)
    "airbench-10": ("airbench, BatchNorm momentum 0.9, plain biases", ["epochs=10"]),
    "boost64-10": ("+ BatchNorm biases 64x faster, momentum 0.4", ["epochs=10", "bias_boost=64", "bn_momentum=0.4"]),
    "wide-8": ("airbench95's widths 128/384/384: 2.5x the work per epoch", ["epochs=8", "widths=[128,384,384]"]),
    "float32-stem-10": ("airbench-10, input and whitening in float32", ["epochs=10", "float32_stem=true"]),
    "jpeg50-10": ("airbench-10 on the images re-encoded at JPEG quality 50", ["epochs=10", f"data_dir={Q50}"]),
    "airbench94-10": (
        "airbench94's hyperparameters: batch 1024, momentum 0.85, BatchNorm biases x64, mirrored shifts, GELU",
        airbench94_settings(bn_momentum=0.6),
    ),
    "airbench94-relu-10": (
        "airbench94-10 with ReLU for GELU: bfloat16 steps about 1.2x as fast on these CPUs",
        airbench94_settings(bn_momentum=0.6, activation="relu"),
    ),
    "airbench94-bn0.4-10": (
        "airbench94-10 with BatchNorm keeping 0.4 of its statistics (the port's first, mistaken conversion)",
        airbench94_settings(bn_momentum=0.4, freeze_whitening=0),
    ),
    "muon-8": (
        "airbench94_muon's optimiser: Muon for the filters, SGD for the rest; batch 2000, no warm-up, no lookahead",
        muon_settings(epochs=8),
    ),
    "muon-cutout-20": (
        "muon-8 for 20 epochs, with the 45-epoch SGD model's 8-pixel cutout against overfitting",
        muon_settings(epochs=20, extra=["cutout=8"]),
    ),
    "muon-cutout-40": (
        "muon-cutout-20 for 40 epochs: the next doubling, at about half the 45-epoch SGD model's minutes",
        muon_settings(epochs=40, extra=["cutout=8"]),
    ),
}


def reencode(quality: int, root: Path) -> None:
    """Write CIFAR-10 (this machine's copy) re-encoded at JPEG `quality` into root/cifar-10-jpeg/<split>/<class>/,
    and the mean absolute pixel change it made (0-255) into root/change.json."""
    if (root / "change.json").exists():
        return
    changes, classes = [], DATASETS["cifar10"].classes
    for split in ("train", "test"):
        images, labels = load_object_split("cifar10", split)
        for index, (image, label) in enumerate(zip(images, labels)):
            folder = root / "cifar-10-jpeg" / split / classes[label]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.asarray(image)).save(folder / f"{index:05d}.jpg", quality=quality)
            again = np.asarray(Image.open(folder / f"{index:05d}.jpg"), np.float64)
            changes.append(np.abs(again - image).mean())
    (root / "change.json").write_text(json.dumps({"quality": quality, "mean_abs_change": float(np.mean(changes))}))


def train_recipe(name: str) -> None:
    """Train recipe `name` unless its run has finished (an interrupted one resumes)."""
    if not (RUNS / name / "metrics.json").exists():
        if name == "jpeg50-10":
            reencode(50, Q50)
        train([*BASE, *RECIPES[name][1], f"run_dir={RUNS / name}", "resume=true", "verbose=2"])


def row(name: str) -> dict:
    """The results row of finished recipe `name`, from its card and its training log."""
    meaning, settings = RECIPES[name]
    card = json.loads((RUNS / name / "metrics.json").read_text())
    log = (RUNS / name / "log.csv").read_text().splitlines()  # the trainer's CSVLogger
    last_epoch = list(csv.DictReader(log))[-1]
    return {
        "recipe": name,
        "what": meaning,
        "settings": " ".join(settings),
        "parameters": card["parameters"],
        "training minutes": round(card["training_seconds"] / 60, 1),
        "training accuracy, last epoch (%)": round(100 * float(last_epoch["accuracy"]), 2),
        "test accuracy (%)": round(100 * card["metrics"]["test_accuracy"], 2),
    }


def main(names: list[str]) -> None:
    unknown = set(names) - set(RECIPES)
    if unknown:
        sys.exit(f"Unknown recipe(s) {', '.join(sorted(unknown))}. Recipes: {', '.join(RECIPES)}.")
    for name in names or RECIPES:
        train_recipe(name)
    earlier = {r["recipe"]: r for r in json.loads(RESULTS.read_text())["rows"]} if RESULTS.exists() else {}
    rows = []
    for name in RECIPES:
        if (RUNS / name / "metrics.json").exists():
            rows.append(row(name))
        elif earlier.get(name, {}).get("settings") == " ".join(RECIPES[name][1]):
            rows.append(earlier[name])
    notes = (
        f"python -m bench.cifar_recipe; common settings: {' '.join(BASE)}; JPEG q75 copy of CIFAR-10; "
        "minutes on 2 shared cores, other jobs beside some runs"
    )
    change = Q50 / "change.json"
    if change.exists():
        notes += f"; re-encoding at q50 moves pixels by {json.loads(change.read_text())['mean_abs_change']:.2f}/255"
    print(write_results("cifar_recipe", rows, notes))


if __name__ == "__main__":
    main(sys.argv[1:])
